"""The one WSGI app: Slack requests, the delivery-report callback, health.

Routing is a small table; each route is a plain WSGI callable. Nothing here may
answer 5xx because a request was malformed.
"""
from __future__ import annotations

import json
import logging

from slack_bolt.adapter.wsgi import SlackRequestHandler

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "/sms/dlr/"
MAX_SLACK_BODY = 1 << 20


def _reply(start_response, status: str, body: str | bytes | dict, content_type: str = "text/plain; charset=utf-8"):
    if isinstance(body, dict):
        body, content_type = json.dumps(body), "application/json"
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def make_wsgi_app(bot):
    bolt = SlackRequestHandler(bot.app)

    def slack_events(environ, start_response):
        if environ["REQUEST_METHOD"] != "POST":
            return _reply(start_response, "405 Method Not Allowed", "POST only\n")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_SLACK_BODY:
            return _reply(start_response, "413 Payload Too Large", "body too large\n")
        try:
            return bolt(environ, start_response)
        except Exception:
            # A signed but malformed request must not turn into a 5xx (Slack would retry it).
            log.exception("event=slack_request_rejected")
            return _reply(start_response, "400 Bad Request", "malformed Slack request\n")

    def healthz(environ, start_response):
        checks = bot.healthy()
        ok = all(checks.values())
        return _reply(start_response, "200 OK" if ok else "503 Service Unavailable",
                      {"status": "ok" if ok else "unhealthy", **checks})

    routes = {"/slack/events": slack_events, "/healthz": healthz}

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        route = routes.get(path)
        if route is not None:
            return route(environ, start_response)
        return _reply(start_response, "404 Not Found", "not found\n")

    return app
