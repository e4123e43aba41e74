"""A local SMS Office API that follows the gateway spec, for trying the bot without credits.

Serves ``balance.asp`` and ``sendsms.asp`` under ``/sms/api/`` with the gateway's exact
answer lines, charges one credit per SMS part (split as phones split them: an extension
character or an emoji never straddles two parts), and (with a callback URL) sends delivery
reports with the gateway's retry schedule. Tests and the benchmark use it as a real
HTTP peer; ``smsbot simulator`` runs :func:`main`.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import NamedTuple
from urllib.parse import parse_qsl

import requests

from bot.redact import redact
from bot.simulator.timed_jobs import TimedJobs
from bot.sms.dlr import DELIVERED, FAILED, MESSAGES, NO_ROUTE, SUBMITTED, DlrStatus
from bot.sms.numbers import mask
from bot.sms.rules import MAX_CHARS, MAX_PARTS, analyse_text
from bot.web.routes import masked_callback_url
from bot.web.server import ServerThread

log = logging.getLogger(__name__)

API_PATH = "/sms/api/"

ERRORS = {
    "login": "Error: Login Failed",
    "from": "Error:Invalid [from] parameter",
    "to": "Error:Invalid [to] parameter",
    "prefix": "Error:Number must start with international prefix, 0 not allowed.",
    "message": "Error:Invalid [message] parameter",
    "parts": "Error:Max of 4 parts per message exceeded",
    "credits": "Error: Not enough credits",
}

# The StatusIDs reported for one message, in sending order, per dlr_mode.
DLR_SEQUENCES: dict[str, tuple[DlrStatus, ...]] = {
    "delivered": (SUBMITTED, DELIVERED),
    "failed": (SUBMITTED, FAILED),
    "route": (NO_ROUTE,),
    "none": (),
    "duplicate": (SUBMITTED, DELIVERED, DELIVERED),
    "out_of_order": (DELIVERED, SUBMITTED),
}

# Spec: a report that meets an HTTP 500 or a network error is resent after 60 minutes,
# again 3 hours later, again 12 hours later, then dropped. Divided by ``speed``.
RETRY_DELAYS = (60 * 60, 3 * 60 * 60, 12 * 60 * 60)
REPORT_TIMEOUT = 5.0  # seconds per report request

_SENDER = re.compile(r"[A-Za-z0-9]{1,11}")
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class SimMessage:
    """One SMS the simulator accepted."""

    id: str
    sender: str
    to: str
    text: str
    parts: int
    at: float  # time.time() of acceptance


class ReportAttempt(NamedTuple):
    """One try at delivering a report to the callback URL."""

    messageid: str
    status_id: int
    result: int | str  # the receiver's HTTP status, or the name of the network error
    at: float


class _Refused(Exception):
    """An API call answered with one of the spec's error lines (``ERRORS[reason]``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _first_tracking_id() -> int:
    """A start for this run's ids that earlier runs have not handed out.

    The clock in milliseconds: a run would need to accept more than one message per
    millisecond on average to reach the ids of a later run, so a bot keeping its
    message history across simulator restarts never sees an id twice.
    """
    return int(time.time() * 1000)


def _read_params(environ: dict) -> dict[str, str]:
    """Query string (and urlencoded POST body) parameters, names lower-cased, first wins."""
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True, errors="replace")
    content_type = environ.get("CONTENT_TYPE", "")
    if environ.get("REQUEST_METHOD") == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name.lower(), value)
    return params


def _parse_send(params: dict[str, str]) -> tuple[str, str, str, int]:
    """(sender, to, text, parts) of a sendsms call, checked in the gateway's order."""
    sender, to, text = (params.get(name, "") for name in ("from", "to", "message"))
    if not _SENDER.fullmatch(sender):
        raise _Refused("from")
    if not _DIGITS.fullmatch(to):
        raise _Refused("to")
    if to.startswith("0"):
        raise _Refused("prefix")
    if not text or len(text) > MAX_CHARS:
        raise _Refused("message")
    parts = analyse_text(text).parts
    if parts > MAX_PARTS:
        raise _Refused("parts")
    return sender, to, text, parts


def _respond(start_response, status: int, body: str) -> list[bytes]:
    data = body.encode("utf-8")
    start_response(
        f"{status} {http.client.responses.get(status, 'Unknown')}",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data]


class Simulator:
    """The SMS Office HTTP API for one account, in memory. Thread-safe.

    ``dlr_delay`` is in real seconds; ``speed`` divides only the spec's retry intervals.
    """

    def __init__(
        self,
        username: str = "demo",
        password: str = "demo",
        balance: Decimal = Decimal("100.00"),
        *,
        callback_url: str | None = None,
        dlr_mode: str = "delivered",
        speed: float = 1.0,
        dlr_delay: float = 1.0,
        latency: float = 0.0,
    ) -> None:
        if dlr_mode not in DLR_SEQUENCES:
            raise ValueError(f"dlr_mode must be one of {', '.join(DLR_SEQUENCES)}")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.username = username
        self.password = password
        self.callback_url = callback_url
        self.dlr_mode = dlr_mode
        self.speed = speed
        self.dlr_delay = dlr_delay
        self.latency = latency
        self.outage: int | None = None
        self.dlr_modes: dict[str, str] = {}  # recipient -> dlr_mode, overrides dlr_mode
        self._odd_answers: list[str] = []  # see answer_with()
        self._lock = threading.Lock()
        self._balance = Decimal(balance)
        self._messages: list[SimMessage] = []
        self._reports: list[ReportAttempt] = []
        self._connections: set[tuple[str | None, str | None]] = set()  # WSGI does not require either
        self._ids = itertools.count(_first_tracking_id())
        self._active = 0
        self._peak = 0
        self._open = threading.Event()  # cleared while hold() is in force
        self._open.set()
        self._hold_balance = False
        self._calls: list[tuple[str, float]] = []
        self._routes = {"balance.asp": self._balance_call, "sendsms.asp": self._send_call}
        self._scheduler = TimedJobs("simulator-dlr")
        self._http = requests.Session()  # used only by the report thread
        self._server: ServerThread | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Serve the API on host:port (0 = a free port) in the background."""
        self._server = ServerThread(self.app, host, port, name="simulator", threads=8).start()
        log.info(
            "event=sim_started api_url=%s username=%s dlr_mode=%s callback_url=%s",
            self.api_url,
            self.username,
            self.dlr_mode,
            self._shown_callback(),
        )
        return self

    def stop(self) -> None:
        """Stop serving and sending reports; held requests are let through first."""
        self._open.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._scheduler.close(REPORT_TIMEOUT + 1)
        self._http.close()

    @property
    def api_url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8085/sms/api/``."""
        if self._server is None:
            raise RuntimeError("the simulator is not serving: call start() first")
        return self._server.url + API_PATH

    # --- state for tests ----------------------------------------------------------

    @property
    def balance(self) -> Decimal:
        with self._lock:
            return self._balance

    @balance.setter
    def balance(self, value: Decimal | int | str) -> None:
        with self._lock:
            self._balance = Decimal(str(value))

    @property
    def messages(self) -> list[SimMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def reports(self) -> list[ReportAttempt]:
        with self._lock:
            return list(self._reports)

    @property
    def connections(self) -> set[tuple[str | None, str | None]]:
        """Distinct client (REMOTE_ADDR, REMOTE_PORT) pairs seen on API calls."""
        with self._lock:
            return set(self._connections)

    @property
    def max_concurrent(self) -> int:
        """The most API calls ever handled at the same time."""
        with self._lock:
            return self._peak

    @property
    def calls(self) -> list[tuple[str, float]]:
        """Every API call as it arrived: (name, time.monotonic()), e.g. ("balance.asp", 12.5)."""
        with self._lock:
            return list(self._calls)

    def hold(self, balance: bool = False) -> None:
        """Make sendsms calls (and balance calls too, with ``balance``) wait, unanswered, until release()."""
        self._hold_balance = balance
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    # --- HTTP ---------------------------------------------------------------------

    def app(self, environ: dict, start_response) -> list[bytes]:
        """The WSGI application."""
        path = environ.get("PATH_INFO", "").lower()
        name = path[len(API_PATH) :] if path.startswith(API_PATH) else ""
        handler = self._routes.get(name)
        if handler is None:
            return _respond(start_response, 404, "Not found")
        with self._handling(environ):
            if self.latency:
                time.sleep(self.latency)
            outage = self.outage
            if outage is not None:
                log.info("event=sim_outage call=%s status=%d", name, outage)
                return _respond(start_response, outage, "Service unavailable, try again later")
            try:
                body = handler(_read_params(environ))
            except _Refused as refused:
                log.info("event=sim_refused call=%s reason=%s", name, refused.reason)
                body = ERRORS[refused.reason]
            return _respond(start_response, 200, body)

    @contextmanager
    def _handling(self, environ: dict) -> Iterator[None]:
        """Count the call as in progress (for max_concurrent) and note its connection."""
        with self._lock:
            self._calls.append((environ.get("PATH_INFO", "").lower().rpartition("/")[2], time.monotonic()))
            self._connections.add((environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")))
            self._active += 1
            self._peak = max(self._peak, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def _check_login(self, params: dict[str, str]) -> None:
        if (params.get("username"), params.get("password")) != (self.username, self.password):
            raise _Refused("login")

    def _balance_call(self, params: dict[str, str]) -> str:
        if self._hold_balance:
            self._open.wait()
        self._check_login(params)
        balance = self.balance
        log.info("event=sim_balance balance=%.2f", balance)
        return f"{balance:.2f}"

    def answer_with(self, *lines: str) -> None:
        """The next sendsms calls, one per line, are sent as usual but answered ``line`` instead of the
        spec's ``Success:<id>``: answers not in the spec, as a gateway may give them (``{id}`` in a line
        becomes the SMS's tracking number)."""
        with self._lock:
            self._odd_answers.extend(lines)

    def _send_call(self, params: dict[str, str]) -> str:
        self._open.wait()
        self._check_login(params)
        message = self._accept(*_parse_send(params))
        self._schedule_reports(message)
        with self._lock:
            odd = self._odd_answers.pop(0) if self._odd_answers else None
        return f"Success:{message.id}" if odd is None else odd.replace("{id}", message.id)

    def _accept(self, sender: str, to: str, text: str, parts: int) -> SimMessage:
        """Charge ``parts`` credits and record the message, or refuse for lack of credit."""
        with self._lock:
            if self._balance < parts:
                raise _Refused("credits")
            self._balance -= parts
            message = SimMessage(str(next(self._ids)), sender, to, text, parts, time.time())
            self._messages.append(message)
            balance = self._balance
        log.info("event=sim_send to=%s id=%s parts=%d balance=%.2f", mask(to), message.id, parts, balance)
        return message

    # --- delivery reports ---------------------------------------------------------

    def _schedule_reports(self, message: SimMessage) -> None:
        """Queue the message's reports: the first dlr_delay from now, each next dlr_delay on."""
        if not self.callback_url:
            return
        statuses = DLR_SEQUENCES[self.dlr_modes.get(message.to, self.dlr_mode)]
        now = time.monotonic()
        for n, status_id in enumerate(statuses, start=1):
            self._scheduler.add(now + n * self.dlr_delay, partial(self._deliver_report, message, status_id, 0))

    def _deliver_report(self, message: SimMessage, status_id: DlrStatus, retries_done: int) -> None:
        """Send one report; on HTTP 500 or a network error, queue the next retry."""
        result = self._post_report(message, status_id)
        with self._lock:
            self._reports.append(ReportAttempt(message.id, status_id, result, time.time()))
        if not (result == 500 or isinstance(result, str)):
            log.info("event=sim_report id=%s status_id=%d result=%s", message.id, status_id, result)
            return
        if retries_done == len(RETRY_DELAYS):
            log.info(
                "event=sim_report_dropped id=%s status_id=%d result=%s callback_url=%s",
                message.id,
                status_id,
                result,
                self._shown_callback(),
            )
            return
        delay = RETRY_DELAYS[retries_done] / self.speed
        log.info(
            "event=sim_report_retry id=%s status_id=%d result=%s retry_in_s=%.3f callback_url=%s",
            message.id,
            status_id,
            result,
            delay,
            self._shown_callback(),
        )
        self._scheduler.add(
            time.monotonic() + delay, partial(self._deliver_report, message, status_id, retries_done + 1)
        )

    def _shown_callback(self) -> str:
        """The callback URL for a log line: its secret path part masked."""
        return redact(masked_callback_url(self.callback_url)) if self.callback_url else "-"

    def _post_report(self, message: SimMessage, status_id: DlrStatus) -> int | str:
        """The receiver's HTTP status, or the network error's name."""
        url = self.callback_url
        if url is None:  # unset after the report was queued: requests' own error for a missing URL, as before
            return requests.exceptions.MissingSchema.__name__
        params: dict[str, str | int] = {
            "messageid": message.id,
            "to": message.to,
            "from": message.sender,
            "StatusID": int(status_id),
            "statusMessage": MESSAGES[status_id],
        }
        try:
            return self._http.get(url, params=params, timeout=REPORT_TIMEOUT).status_code
        except requests.RequestException as exc:
            return type(exc).__name__
