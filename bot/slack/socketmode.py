"""Socket Mode (SLACK_APP_TOKEN set): Slack traffic over a websocket instead of HTTP.

Connecting happens on a background thread with backoff, so a Slack outage or a
refused app token at start-up does not stop the bot: the queue, delivery
reports and health keep working, and the log says what to fix.
"""
from __future__ import annotations

import logging
import threading

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.workers.backoff import backoff_delay

log = logging.getLogger(__name__)


class SocketMode:
    def __init__(self, app: App, app_token: str, api_url: str) -> None:
        client = WebClient(base_url=api_url, timeout=10)
        self.handler = SocketModeHandler(app, app_token, web_client=client)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._connect, name="socket-mode", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.handler.connect()
            except SlackApiError as error:
                code = error.response.get("error", "unknown_error")
                log.error("event=socket_mode_refused error=%s hint=%s", code,
                          "check SLACK_APP_TOKEN (an xapp- token with connections:write) and that Socket Mode "
                          "is on in the app settings")
            except Exception as error:
                log.warning("event=socket_mode_unreachable error=%s", type(error).__name__)
            else:
                self.connected.set()
                log.info("event=socket_mode_connected")
                return
            failures += 1
            self._stop.wait(backoff_delay(failures, first=1.0, cap=60.0))

    def stop(self) -> None:
        self._stop.set()
        if self.connected.is_set():
            self.handler.close()
        if self._thread is not None:
            self._thread.join(2.0)
