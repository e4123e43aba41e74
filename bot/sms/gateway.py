"""HTTP client for the SMS Office bulk-SMS gateway (see the gateway's HTTP API spec).

It knows nothing of Slack or the database. Every failure is a ``GatewayError``
whose ``outcome`` tells the caller what it may do next:

- ``"not_sent"`` (``GatewayUnavailable``): the request never reached the gateway,
  or the gateway said it is down/busy (HTTP 5xx, 429). Safe to retry later.
- ``"unknown"`` (``GatewayOutcomeUnknown``): a send went out but no readable answer
  came back. The SMS may have been sent: never resend blindly.
- ``"refused"`` (``GatewayRefused`` and its subclasses): the gateway said no. Final.

The password travels in the query string, so no error, log line or exception
chain is ever built from requests' own exception text (which embeds the URL).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError

from bot.redact import Redactor, redact, register_secret
from bot.sms.connection import InterruptibleAdapter, one_connection_session
from bot.sms.numbers import mask

log = logging.getLogger(__name__)

Observer = Callable[[str, float, str], None]

_QUOTE_LIMIT = 200  # characters of a gateway answer kept in an error
BALANCE_CONNECT_SECONDS, BALANCE_READ_SECONDS = 3.0, 8.0
SEND_CONNECT_SECONDS, SEND_READ_SECONDS = 5.0, 15.0  # the default timeouts of every other call (a send)

_HINT_UNREACHABLE = "Check SMSOFFICE_API_URL and this server's network connection, then try again later"
_HINT_BUSY = "SMS Office is busy or having problems; try again later"
_HINT_UNCONFIRMED = "The SMS may have gone out: check the sent items in SMS Office before sending it again"
_HINT_URL = "Check SMSOFFICE_API_URL (e.g. http://www.smsoffice.co.za/sms/api/)"


# -- errors ---------------------------------------------------------------------------------
class GatewayError(Exception):
    """A failed gateway call. ``message`` and ``hint`` are redacted; ``str()`` is one line."""

    outcome: str
    hint: str = ""  # the class default; an instance may carry a more specific one

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = redact(message)
        self.hint = redact(type(self).hint if hint is None else hint)
        super().__init__(self.message)

    def __str__(self) -> str:
        message = self.message.rstrip(". ")
        return redact(f"{message}. {self.hint}" if self.hint else message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, hint={self.hint!r})"


class GatewayUnavailable(GatewayError):
    """The request did not get through (or the gateway answered 5xx/429): nothing was sent."""

    outcome = "not_sent"
    hint = _HINT_BUSY


class GatewayOutcomeUnknown(GatewayError):
    """The send went out but no usable answer came back: it may or may not have been sent."""

    outcome = "unknown"
    hint = _HINT_UNCONFIRMED


class GatewayRefused(GatewayError):
    """The gateway said no. ``gateway_line`` is its (redacted) answer, None for an HTTP status."""

    outcome = "refused"

    def __init__(self, message: str, hint: str | None = None, *, gateway_line: str | None = None) -> None:
        super().__init__(message, hint)
        self.gateway_line = None if gateway_line is None else redact(gateway_line)


class LoginFailed(GatewayRefused):
    hint = "Check SMSOFFICE_USERNAME and SMSOFFICE_PASSWORD"


class NotEnoughCredits(GatewayRefused):
    hint = "Top up the SMS Office account"


class InvalidSender(GatewayRefused):
    hint = "Set SMS_SENDER_ID to at most 11 letters and digits"


class InvalidRecipient(GatewayRefused):
    hint = "Give the number in international format, e.g. 27831234567"


class InvalidMessage(GatewayRefused):
    hint = "The message must not be empty and may have at most 620 characters"


class NotInternational(GatewayRefused):
    hint = "Start the number with the country code instead of 0, e.g. 27831234567"


class TooManyParts(GatewayRefused):
    hint = (
        "Shorten the message to at most 4 SMS parts: 612 GSM-7 characters, or 268 UCS-2 units when it has "
        "characters outside GSM-7 (an emoji counts 2, so at most 132 emoji)"
    )


class UnexpectedResponse(GatewayError):
    """The gateway answered HTTP 200 with a body we cannot read; ``body`` quotes it.

    Never raised itself; catch it to handle both kinds. What the body means
    depends on the call, so each call raises its own subclass:
    ``UnexpectedBalanceResponse`` is a ``GatewayRefused`` (a query changes
    nothing, and asking again will not help), ``UnexpectedSendResponse`` is a
    ``GatewayOutcomeUnknown`` (the SMS may have gone out).
    """

    def __init__(self, body: str) -> None:
        self.body = _one_line(body)
        super().__init__(f'unexpected answer from the SMS gateway: "{self.body}"')


class UnexpectedBalanceResponse(UnexpectedResponse, GatewayRefused):
    hint = _HINT_URL


class UnexpectedSendResponse(UnexpectedResponse, GatewayOutcomeUnknown):
    pass


# -- reading the gateway's answers ------------------------------------------------------------
def _invalid(parameter: str) -> re.Pattern:
    return re.compile(rf"invalid\[?{parameter}(\]|param)")


# Matched against the sentence after "Error:", lower-cased with all whitespace removed,
# so "Error : Login  failed" and "ERROR:LOGIN FAILED. Example: ..." both match.
_REFUSALS: tuple[tuple[re.Pattern, type[GatewayRefused]], ...] = (
    (re.compile(r"loginfailed"), LoginFailed),
    (re.compile(r"notenoughcredit"), NotEnoughCredits),
    (_invalid("from"), InvalidSender),
    (_invalid("to"), InvalidRecipient),
    (_invalid("message"), InvalidMessage),
    (re.compile(r"numbermuststartwith(an)?internationalprefix"), NotInternational),
    (re.compile(r"maxof\d+parts"), TooManyParts),
)
_ERROR_PREFIX = re.compile(r"\s*error\b\s*:?\s*", re.IGNORECASE)
# The spec's answer, "Success:<tracking number>:", and nothing else: a bare number, a zero, or more
# text after it (a second line saying "Error: ...") leaves the SMS unconfirmed, the answer quoted.
_TRACKING = re.compile(r"success\s*:\s*([1-9][0-9]{0,18})\s*:?", re.IGNORECASE)
_CREDITS = re.compile(r"(?:success\s*:?\s*)?(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*:?", re.IGNORECASE)


def _one_line(text: str) -> str:
    """Whitespace collapsed to single spaces, cut to _QUOTE_LIMIT characters."""
    line = " ".join(text.split())
    return line if len(line) <= _QUOTE_LIMIT else line[: _QUOTE_LIMIT - 1] + "…"


def _refusal(body: str) -> GatewayRefused | None:
    """The typed error for an ``Error:...`` answer (or a known error sentence), else None."""
    line = _one_line(body)
    prefix = _ERROR_PREFIX.match(line)
    sentence = line[prefix.end() :] if prefix else line
    squashed = "".join(sentence.split()).lower()
    for pattern, error_class in _REFUSALS:
        if pattern.match(squashed):
            return error_class(sentence, gateway_line=line)
    return GatewayRefused(sentence, gateway_line=line) if prefix else None


def _parse_tracking(body: str) -> str | None:
    """``Success:123:``, ``success: 123`` … → "123"; None for anything else (``0``, ``Success:0:``, a bare
    ``123``, ``Success:123:`` followed by more text)."""
    match = _TRACKING.fullmatch(body.strip())
    return match.group(1) if match else None


def _parse_credits(body: str) -> Decimal | None:
    """``1234.56``, ``Success: 1234.56``, ``1,234.56`` … → Decimal("1234.56")."""
    match = _CREDITS.fullmatch(body.strip())
    return Decimal(match.group(1).replace(",", "")) if match else None


# -- transport failures -------------------------------------------------------------------------
def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps: requests keeps urllib3's error in args[0],
    urllib3's MaxRetryError keeps the cause in ``.reason``, and the OSError sits in __cause__."""
    chain: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        current = todo.pop(0)
        if isinstance(current, BaseException) and not any(current is seen for seen in chain):
            chain.append(current)
            todo += [*current.args[:1], getattr(current, "reason", None), current.__cause__, current.__context__]
    return chain


def _never_connected(chain: list[BaseException]) -> bool:
    """True when no connection was made: refused, DNS failure, connect timeout."""
    return any(isinstance(e, ConnectTimeoutError) for e in chain)  # NewConnectionError, NameResolutionError too


def _os_reason(chain: list[BaseException]) -> str:
    """The operating system's words for the failure, e.g. " (Connection refused)", or ""."""
    reasons = [e.strerror for e in chain if isinstance(e, OSError) and e.strerror]
    return f" ({reasons[0]})" if reasons else ""


# -- the client ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Operation:
    name: str
    path: str
    parse: Callable[[str], object]  # the result, or None when the body is unreadable
    unexpected: type[UnexpectedResponse]
    repeatable: bool  # asking again can do no harm


_BALANCE = _Operation("balance", "balance.asp", _parse_credits, UnexpectedBalanceResponse, True)
_SEND = _Operation("send", "sendsms.asp", _parse_tracking, UnexpectedSendResponse, False)


class SmsOfficeClient:
    """One account's connection to SMS Office: one kept-alive connection, one request at a time.

    Thread-safe: a lock serialises requests, as the gateway allows one concurrent
    connection per account. ``observer(op, seconds, outcome)`` is called after
    every call with ``outcome`` "ok" or the error's outcome. ``close()`` closes the
    session, including one passed in.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        connect_timeout: float = SEND_CONNECT_SECONDS,
        read_timeout: float = SEND_READ_SECONDS,
        session: requests.Session | None = None,
        observer: Observer | None = None,
        keepalive_seconds: float = 3.0,
    ) -> None:
        register_secret(password)
        self._redact = Redactor([password])
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the SMS Office API URL must be an http(s) URL, got {self._redact(base_url)!r}")
        self._host = parts.netloc.rpartition("@")[2]
        self._credentials = {"username": username, "password": password}
        self._timeouts = (connect_timeout, read_timeout)
        self._adapter: InterruptibleAdapter | None = None  # ours to interrupt only when we made the session
        if session is None:
            self._adapter = InterruptibleAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            session = one_connection_session(self.base_url, self._adapter)
        self._session = session
        self._observer = observer
        self._lock = threading.Lock()
        self._keepalive = keepalive_seconds
        self._idle_since: float | None = None  # monotonic time the last answer ended
        self._closed = False
        self._in_flight: str | None = None  # the operation on the wire, if any
        self.last_success: float | None = None
        self.last_balance: Decimal | None = None  # from the latest balance read, whoever asked

    def __repr__(self) -> str:
        return f"SmsOfficeClient({self._redact(self.base_url)!r}, username={self._credentials['username']!r})"

    @property
    def longest_call_seconds(self) -> float:
        """How long a call may wait for the gateway, at most: connect, then read (a send's timeouts)."""
        return sum(self._timeouts)

    def balance(self) -> Decimal:
        """The account's remaining credits."""
        credits = self._call(_BALANCE, {}, {})
        self.last_balance = credits
        return credits

    def send(self, sender: str, to: str, text: str) -> str:
        """Send ``text`` to one number; returns the gateway's tracking number."""
        return self._call(_SEND, {"from": sender, "to": to, "message": text}, {"to": mask(to)})

    def close(self) -> None:
        """From any thread: refuse calls not yet on the wire, and cut the one that is, so it returns
        at once (a send cut off this way is ``unknown``: it may have gone out)."""
        self._closed = True
        self.interrupt()
        self._session.close()

    def interrupt(self, op: str | None = None) -> bool:
        """Cut the connection of the call on the wire now (only if it is ``op``, when given), from
        any thread; True if one was cut. Later calls open a new connection."""
        if self._adapter is None or self._in_flight is None or (op is not None and self._in_flight != op):
            return False
        return self._adapter.interrupt()

    def _call(self, op: _Operation, params: dict[str, str], log_fields: dict[str, str]) -> Any:
        with self._lock:
            if self._closed:
                raise GatewayUnavailable(f"the {op.name} was not attempted: smsbot is stopping", hint="")
            started = time.monotonic()
            self._expire_idle_connection(started)
            self._in_flight = op.name
            try:
                result = self._exchange(op, params)
            except GatewayError as error:
                self._report(op.name, started, error.outcome, {**log_fields, "error": type(error).__name__})
                raise
            finally:
                self._idle_since = time.monotonic()
                self._in_flight = None
            self.last_success = time.time()
            self._report(op.name, started, "ok", log_fields)
            return result

    def _expire_idle_connection(self, now: float) -> None:
        """Close a kept-alive connection idle longer than the expiry instead of reusing it.

        Servers close idle connections after their keep-alive timeout (Apache 5 s), and over a long
        path that close can cross our next request: the request is lost with no answer, and an SMS
        would be "unconfirmed" though nothing went out. A fresh connection costs one handshake.
        During a burst the connection is never idle that long, so it is reused as before.
        """
        if self._idle_since is None or now - self._idle_since <= self._keepalive:
            return
        for adapter in set(self._session.adapters.values()):
            adapter.close()  # the pool stays usable: the next request opens a new connection
        log.debug("event=gateway_connection_expired idle_s=%.1f", now - self._idle_since)
        self._idle_since = None

    def _exchange(self, op: _Operation, params: dict[str, str]) -> Any:
        response = self._get(op, params)
        status = response.status_code
        if status == 429 or status >= 500:
            raise GatewayUnavailable(f"the SMS gateway answered HTTP {status}")
        body = self._redact(response.text)
        refusal = _refusal(body)  # before the 4xx check: "Error: Login Failed" says more than "HTTP 401"
        if refusal is not None:
            raise refusal
        if status >= 400:
            raise GatewayRefused(f"the SMS gateway answered HTTP {status}", _HINT_URL)
        result = op.parse(body)
        if result is None:
            raise op.unexpected(body)
        return result

    def _get(self, op: _Operation, params: dict[str, str]) -> requests.Response:
        try:
            return self._session.get(
                urljoin(self.base_url, op.path), params={**self._credentials, **params}, timeout=self._timeouts_of(op)
            )
        except requests.RequestException as exc:
            failure = self._transport_failure(op, exc)
        # Raised outside the except block, so requests' exception (its text holds the
        # URL with the password) is neither the cause nor the context of ours.
        raise failure from None

    def _timeouts_of(self, op: _Operation) -> tuple[float, float]:
        """A balance query is small and asked again later: short timeouts, so shutdown never waits long."""
        connect, read = self._timeouts
        return (
            (min(connect, BALANCE_CONNECT_SECONDS), min(read, BALANCE_READ_SECONDS))
            if op.repeatable
            else (connect, read)
        )

    def _transport_failure(self, op: _Operation, exc: requests.RequestException) -> GatewayError:
        connect, read = self._timeouts_of(op)
        if isinstance(exc, requests.ConnectTimeout):
            return GatewayUnavailable(
                f"could not connect to the SMS gateway at {self._host} within {connect:g}s", _HINT_UNREACHABLE
            )
        chain = _exception_chain(exc)
        if _never_connected(chain):
            return GatewayUnavailable(
                f"could not connect to the SMS gateway at {self._host}{_os_reason(chain)}", _HINT_UNREACHABLE
            )
        if isinstance(exc, requests.ReadTimeout):
            what = f"the SMS gateway did not answer within {read:g}s"
        elif self._closed:
            what = "smsbot was stopping, and stopped waiting for the SMS gateway's answer"
        else:
            what = "the connection to the SMS gateway broke before it answered"
        return GatewayUnavailable(what) if op.repeatable else GatewayOutcomeUnknown(what)

    def _report(self, op: str, started: float, outcome: str, fields: dict[str, str]) -> None:
        seconds = time.monotonic() - started
        line = _key_values(
            {"event": "gateway_call", "op": op, **fields, "outcome": outcome, "ms": round(seconds * 1000)}
        )
        log.info("%s", self._redact(line))
        if self._observer is None:
            return
        try:
            self._observer(op, seconds, outcome)
        except Exception:
            # A metrics failure must not turn a sent SMS into an error (and a resend).
            log.exception("event=gateway_observer_failed op=%s", op)


def _key_values(fields: dict[str, object]) -> str:
    """``k=v`` pairs; a value with spaces, quotes or ``=`` is JSON-quoted."""

    def value(v: object) -> str:
        text = str(v)
        return json.dumps(text) if not text or re.search(r'[\s"=]', text) else text

    return " ".join(f"{k}={value(v)}" for k, v in fields.items())
