"""Slack's HTTP requests at our edge: the signature checked strictly, the body parsed correctly,
replays answered from memory, and only then Bolt.

- A timestamp or signature that is not what Slack sends (``abc``, ``1e3``, non-ASCII) is a 401
  with one log line, never an exception.
- Bolt's ``parse_body`` reads any form body that merely contains the text "payload" as an
  interactivity payload and, finding no ``payload`` field, as empty: `/sms send … Your payload
  is ready` became a 404. The form is parsed here and handed to Bolt already parsed.
- A signed request is valid for 5 minutes, so the same one can arrive twice (a retrying proxy, a
  captured request). Each accepted request is remembered, by ``trigger_id`` (or ``event_id``)
  where it has one, else by its signature; a repeat gets the first answer and runs nothing.
  The record of a ``/sms send`` is written in the send's own transaction (one write before the ack,
  stored together or not at all); every other request's is written before it runs. The answer is kept
  in memory at once and committed without the ack waiting for it (bot/storage/replays.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from http import HTTPStatus
from urllib.parse import parse_qsl

from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from bot.storage.db import ACK_PATIENCE_SECONDS
from bot.storage.errors import DatabaseError
from bot.storage.replays import Answer, Replays
from bot.web.clock_skew import ClockSkew

log = logging.getLogger(__name__)

WINDOW_SECONDS = 300
REPEAT_WAIT_SECONDS = 2.0  # a repeat arriving while the first is still handled waits this long for its answer
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_JSON = "application/json"


class BadRequest(ValueError):
    """A signed body that cannot be read; str() is the reason logged."""


def signature_problem(environ, body: bytes, secret: str, now: float) -> str | None:
    """Why this is not a request signed by Slack in the last 5 minutes, or None when it is."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    if not _TIMESTAMP.fullmatch(timestamp):
        return "bad_timestamp"
    if abs(now - int(timestamp)) > WINDOW_SECONDS:
        return "stale_timestamp"
    if not _SIGNATURE.fullmatch(signature):
        return "bad_signature"
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, signature) else "wrong_signature"


def parse_body(text: str, content_type: str) -> dict:
    """What Bolt's parser means to do: JSON, an interactivity ``payload`` field, or a plain form."""
    if not text:
        return {}
    try:
        if content_type.split(";")[0].strip() == _JSON or text.startswith("{"):
            body = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            body = json.loads(form["payload"]) if "payload" in form else form
    except ValueError as error:
        raise BadRequest(f"unreadable body ({type(error).__name__})") from None
    if not isinstance(body, dict):
        raise BadRequest("the body is not an object")
    return body


def bolt_request(text: str, environ) -> BoltRequest:
    """A BoltRequest with our parse of the body (the raw body is kept for Bolt's own signature check)."""
    headers = {name[5:].replace("_", "-").lower(): value for name, value in environ.items() if name.startswith("HTTP_")}
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    body = parse_body(text, headers["content-type"])
    request = BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
    if request.body != body:  # Bolt's parser dropped the body: hand it the right one
        request.body = body
        request.context = build_context(BoltContext({}), body)
    return request


def _is_ssl_check(raw: bytes) -> bool:
    return len(raw) < 512 and b"ssl_check" in raw and dict(parse_qsl(raw.decode("latin-1"))).get("ssl_check") == "1"


def replay_key(body: dict, environ) -> str:
    for field in ("trigger_id", "event_id"):
        if isinstance(body.get(field), str) and body[field]:
            return f"{field}:{body[field]}"
    return "signature:" + environ.get("HTTP_X_SLACK_SIGNATURE", "")


def still_handled_answer(body: dict) -> Answer:
    """For a repeat whose first copy has no answer yet (still running, or cut off by a restart)."""
    if body.get("command"):
        text = (
            "I already received this exact command and it is being handled (or was, before a restart): "
            "nothing was done twice. Check the channel, or `/sms history`, before typing it again."
        )
        return Answer(200, _JSON, json.dumps({"text": text}).encode())
    return Answer(200, "text/plain; charset=utf-8", b"")


def unrecorded_answer(body: dict) -> Answer:
    """The database would not take the request's record in time (busy or failing): nothing was done."""
    text = (
        "I couldn't store your request (the database is busy or failing), so nothing was done and "
        "nothing was queued. Try again in a moment; if it keeps happening, tell whoever runs smsbot."
    )
    if body.get("command"):
        return Answer(200, _JSON, json.dumps({"response_type": "ephemeral", "text": f":warning: {text}"}).encode())
    fields = list(((body.get("view") or {}).get("state") or {}).get("values") or {})
    if body.get("type") == "view_submission" and fields:  # the form stays open, with the sentence at a field
        return Answer(200, _JSON, json.dumps({"response_action": "errors", "errors": {fields[0]: text}}).encode())
    return Answer(503, "text/plain; charset=utf-8", text.encode())


def stored_with_first_write(body: dict) -> bool:
    """Whether a request's record can wait for its first write: ``/sms send``, whose first effect is the
    transaction that queues it (or holds it for confirmation), made on the request's own thread before the
    ack. Every other request is recorded before it runs (it may start work after the ack at once)."""
    return bool(body.get("command")) and str(body.get("text") or "").split(maxsplit=1)[:1] == ["send"]


class SlackEdge:
    """The ``/slack/events`` route: verify, de-duplicate, dispatch to Bolt, remember the answer."""

    def __init__(self, app, signing_secret: str, replays: Replays, clock=time.time) -> None:
        self.app, self.secret, self.replays, self.clock = app, signing_secret, replays, clock
        self.skew = ClockSkew(signing_secret)

    def handle(self, environ, raw: bytes) -> Answer:
        now = self.clock()
        if _is_ssl_check(raw):  # Slack checking our TLS certificate (unsigned): nothing to run
            return Answer(200, "text/plain; charset=utf-8", b"")
        problem = signature_problem(environ, raw, self.secret, now)
        self.skew.observe(environ, raw, now, problem)  # logs once if our clock looks wrong
        if problem is not None:
            log.warning("event=slack_request_refused reason=%s", problem)
            return Answer(401, _JSON, b'{"error": "invalid request"}')
        try:
            text = raw.decode("utf-8")
            request = bolt_request(text, environ)
        except (UnicodeDecodeError, BadRequest) as error:
            log.warning("event=slack_request_rejected reason=%s", json.dumps(str(error)))
            return Answer(400, "text/plain; charset=utf-8", b"malformed Slack request\n")
        # Everything before the ack gives up on a busy database in well under Slack's 3 s.
        with self.replays.db.patience(ACK_PATIENCE_SECONDS):
            return self._once(
                request, replay_key(request.body, environ), int(environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"]), now
            )

    def _once(self, request, key: str, timestamp: int, now: float) -> Answer:
        """Run a request the first time it arrives; a repeat gets the first one's answer."""
        first = self.replays.begin(key, timestamp, now)  # in this process: still handled, or answered
        if first is None:
            if stored_with_first_write(request.body):
                return self._run_carried(request, key, timestamp, now)
            try:
                first = self.replays.claim(key, timestamp, now)
            except DatabaseError as error:  # without the record a repeat could send twice: do nothing
                return self._unrecorded(request.body, key, json.dumps(str(error)))
            if first is None:
                answer = self._dispatch(request)
                self.replays.answered_soon(key, answer)
                return answer
            self.replays.drop(key)  # accepted before a restart: the stored record answers
        log.warning("event=slack_request_repeated key=%s", key.partition(":")[0])
        return self._repeat(key, first, request.body)

    def _run_carried(self, request, key: str, timestamp: int, now: float) -> Answer:
        """The record goes into the request's first write (a send's own transaction), so the two are stored
        together or not at all; a request that writes nothing stores it with its answer. A record already
        there (the same request accepted before a restart, or by another replica) is found by that write,
        which then stores nothing: the request ran, or runs, once."""
        with self.replays.carried(key, timestamp, now) as claim:
            answer = self._dispatch(request)
        if claim.duplicate:  # stored first before a restart, or by another replica: it ran (or runs) there
            self.replays.drop(key)
            log.warning("event=slack_request_repeated key=%s where=stored", key.partition(":")[0])
            try:
                first = self.replays.stored(key, now)
            except DatabaseError:
                first = None
            return self._repeat(key, first or Answer(None, "", b""), request.body)
        if claim.stored:
            self.replays.answered_soon(key, answer)
            return answer
        if claim.unstorable:  # nothing of the request was stored either
            return self._unrecorded(request.body, key, json.dumps("its first write could not be made"))
        if claim.written:  # rolled back with the request's own write, which said why: nothing was stored
            self.replays.drop(key)
            return answer
        try:
            first = self.replays.record(key, timestamp, now, answer)
        except DatabaseError as error:
            return self._unrecorded(request.body, key, json.dumps(str(error)))
        if first is not None:  # it wrote nothing, the first time either: the first one's answer stands
            self.replays.drop(key)
            log.warning("event=slack_request_repeated key=%s where=stored", key.partition(":")[0])
            return self._repeat(key, first, request.body)
        return answer

    def _dispatch(self, request) -> Answer:
        response = self.app.dispatch(request)
        status: int = response.status
        return Answer(status, (response.headers.get("content-type") or [""])[0], (response.body or "").encode())

    def _unrecorded(self, body: dict, key: str, error: str) -> Answer:
        self.replays.drop(key)
        log.error("event=slack_request_not_recorded error=%s", error)
        return unrecorded_answer(body)

    def _repeat(self, key: str, first: Answer, body: dict) -> Answer:
        deadline = time.monotonic() + REPEAT_WAIT_SECONDS
        while first.status is None and time.monotonic() < deadline:
            time.sleep(0.02)
            first = self.replays.answer(key) or first
        return first if first.status is not None else still_handled_answer(body)


def status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"
