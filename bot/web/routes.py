"""The one WSGI app: Slack requests, the delivery-report callback, health.

Routing is a small table; each route is a plain WSGI callable. Nothing here may
answer 5xx because a request was malformed.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from urllib.parse import parse_qsl

from bot import __version__
from bot.metrics import CONTENT_TYPE_LATEST
from bot.storage.errors import DatabaseError
from bot.storage.replays import Replays
from bot.storage.reports import ReportError, parse_report
from bot.web.slack_edge import SlackEdge, status_line

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "/sms/dlr/"
MAX_SLACK_BODY = 1 << 20
# a storage fault or a lock, either backend: one line, no traceback
_STORAGE_TROUBLE: tuple[type[Exception], ...] = (*DatabaseError, TimeoutError)
MAX_REPORT_BODY = 16 << 10
MAX_REPORT_FIELDS = 50
# Delivery reports served at once, at most: the HTTP server has 8 threads (bot/runtime.py), and
# the others stay free for Slack's requests (acked within 3 s) and /healthz, whatever the reports
# wait for. A report over the limit is answered 500 at once, and the gateway sends it again.
REPORT_SLOTS = 4


def _reply(start_response, status: str, body: str | bytes | dict, content_type: str = "text/plain; charset=utf-8"):
    if isinstance(body, dict):
        body, content_type = json.dumps(body), "application/json"
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def callback_path(secret: str) -> str:
    """The delivery-report path; it carries the secret, so print it only where the operator asked."""
    return CALLBACK_PREFIX + secret


def masked_callback_url(url: str | None) -> str:
    """A callback URL fit for a log line: the secret path part shown as ``***``."""
    if not url:
        return ""
    head, found, _ = url.partition(CALLBACK_PREFIX)
    if not found:
        head, slash, _ = url.rpartition("/")  # not our layout: hide the last path part anyway
        return head + slash + "***" if slash and "//" in head else url
    return head + CALLBACK_PREFIX + "***"


class _TooLarge(Exception):
    pass


def _report_params(environ) -> dict[str, str]:
    """Query string and form body together; the first value of each name wins (query string first)."""
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True, max_num_fields=MAX_REPORT_FIELDS)
    if environ["REQUEST_METHOD"] == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ValueError("Content-Length is not a number") from None
        if length > MAX_REPORT_BODY:
            raise _TooLarge()
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") or b"=" in body:
            pairs += parse_qsl(
                body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_REPORT_FIELDS
            )
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


def make_wsgi_app(bot):
    """The routing table: Slack, health, metrics, and the delivery-report callback under its secret path."""
    routes = {"/slack/events": _slack_route(bot), "/healthz": _health_route(bot), "/metrics": _metrics_route(bot)}
    delivery_report = _report_route(bot)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        route = routes.get(path)
        if route is None and path.startswith(CALLBACK_PREFIX):
            route = delivery_report
        if route is not None:
            return route(environ, start_response)
        return _reply(start_response, "404 Not Found", "not found\n")

    return app


def _slack_route(bot):
    edge = SlackEdge(bot.app, bot.settings.slack_signing_secret, Replays(bot.db), bot.clock)

    def slack_events(environ, start_response):
        if environ["REQUEST_METHOD"] != "POST":
            return _reply(start_response, "405 Method Not Allowed", "POST only\n")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_SLACK_BODY:
            return _reply(start_response, "413 Payload Too Large", "body too large\n")
        started = time.perf_counter()
        try:
            answer = edge.handle(environ, environ["wsgi.input"].read(length) if length else b"")
            # only a stored answer still being handled has no status, and handle() never returns one
            assert answer.status is not None
            return _reply(
                start_response,
                status_line(answer.status),
                answer.body,
                answer.content_type or "text/plain; charset=utf-8",
            )
        except Exception:
            # A signed but malformed request must not turn into a 5xx (Slack would retry it).
            log.exception("event=slack_request_rejected")
            return _reply(start_response, "400 Bad Request", "malformed Slack request\n")
        finally:
            bot.metrics.ack_latency.observe(time.perf_counter() - started)

    return slack_events


def _health_route(bot):
    def healthz(environ, start_response):
        ok, details = bot.health()
        return _reply(
            start_response,
            "200 OK" if ok else "503 Service Unavailable",
            {"status": "ok" if ok else "unhealthy", "version": __version__, **details},
        )

    return healthz


def _metrics_route(bot):
    def metrics(environ, start_response):
        return _reply(start_response, "200 OK", bot.metrics.render(), CONTENT_TYPE_LATEST)

    return metrics


def _report_route(bot, slots: int = REPORT_SLOTS):
    expected_path = callback_path(bot.callback_secret).encode()
    admitted = threading.BoundedSemaphore(slots)

    def delivery_report(environ, start_response):
        """The gateway's callback. Store first, answer after; 500 only when storing failed. Applying the
        report (its status, the Slack thread) is the leader's, moments later (bot/workers/reports.py)."""
        if not hmac.compare_digest(environ.get("PATH_INFO", "").encode("latin-1"), expected_path):
            log.warning("event=report_wrong_secret path=%s***", CALLBACK_PREFIX)
            return _reply(start_response, "404 Not Found", "not found\n")
        if environ["REQUEST_METHOD"] not in ("GET", "POST"):
            return _reply(start_response, "405 Method Not Allowed", "GET or POST\n")
        try:
            report = parse_report(_report_params(environ))
        except _TooLarge:
            return _reply(start_response, "413 Payload Too Large", "report too large\n")
        except (ValueError, ReportError) as error:
            log.warning("event=report_rejected reason=%s", json.dumps(str(error)))
            return _reply(start_response, "400 Bad Request", f"bad report: {error}\n")
        if not admitted.acquire(blocking=False):
            log.warning("event=report_deferred tracking=%s reason=busy slots=%d", report.tracking_id, slots)
            return _reply(start_response, "500 Internal Server Error", "busy: resend the report later\n")
        try:
            bot.reports.take(report, bot.clock())  # stored pending; the leader's applier is woken
        except _STORAGE_TROUBLE as error:  # a storage fault or a lock: one line, no traceback
            log.error("event=report_store_failed tracking=%s error=%s", report.tracking_id, json.dumps(str(error)))
            return _reply(start_response, "500 Internal Server Error", "could not store the report; resend it\n")
        except Exception:
            log.exception("event=report_store_failed tracking=%s", report.tracking_id)
            return _reply(start_response, "500 Internal Server Error", "could not store the report; resend it\n")
        finally:
            admitted.release()
        bot.metrics.observe_report(report.status_id)
        return _reply(start_response, "200 OK", "OK\n")

    return delivery_report
