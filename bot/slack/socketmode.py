"""Socket Mode (SLACK_APP_TOKEN set): Slack traffic over a websocket instead of HTTP.

Connecting happens on a background thread with backoff, so a Slack outage or a
refused app token at start-up does not stop the bot: the queue, delivery
reports and health keep working, and the log says what to fix.

Three things slack_sdk's built-in client does not do on its own:

- find a silently dead websocket soon: it pings every ``ping_interval`` and drops a
  connection after 4 intervals without a pong, so ``PING_INTERVAL`` 2.5 s finds one
  within about 12.5 s (Bolt's default of 10 s took about a minute);
- say ``connected`` only when it is: its ``connect()`` returns normally when the
  websocket handshake failed, so a watcher logs each real change of state instead;
- keep acks on time through a ``disconnect`` refresh: it reconnected on the thread that
  runs the envelopes and then waited for the old socket's 3 s read timeout before
  reading the new one, so every envelope behind the refresh was acked about 3 s late.
  Here the refresh runs on its own thread, each websocket has its own reader, and the old
  one is still read until Slack closes it, so nothing sent on it is lost.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.builtin.connection import Connection, ConnectionState

from bot.workers.backoff import backoff_delay

log = logging.getLogger(__name__)

PING_INTERVAL = 2.5
WATCH_SECONDS = 0.25
RETIRE_SECONDS = 10.0  # an old websocket is still read this long after a refresh, unless Slack closes it


def _close_now(connection: Connection) -> None:
    """Close a websocket without waiting for its reader: shutting the socket down ends the read at
    once, and the SDK's own tidy-up (which takes the reader's lock) finishes in the background."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    threading.Thread(target=Connection.disconnect, args=(connection,), name="socket-mode-close", daemon=True).start()


class _PromptClient(SocketModeClient):
    """The SDK's client, with one reader thread per websocket and a refresh that holds nothing up.

    On a ``disconnect`` message the new websocket is opened beside the envelope thread and read at
    once by its own reader; the old one keeps being read (Slack may still deliver on it) until Slack
    closes it or ``RETIRE_SECONDS`` pass, then it is shut down without waiting.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._readers: dict[str, ConnectionState] = {}  # session id → its reader's own state
        self._readers_lock = threading.Lock()
        self._timers: list[threading.Timer] = []  # old websockets waiting to be retired
        super().__init__(*args, **kwargs)

    def _run_current_session(self) -> None:  # called every 0.1 s by the SDK's runner thread
        session = self.current_session
        if session is None or not session.is_active():
            return
        with self._readers_lock:
            if session.session_id in self._readers:
                return
            state = self._readers[session.session_id] = ConnectionState()
        threading.Thread(target=self._read, args=(session, state), name="socket-mode-read", daemon=True).start()

    def _read(self, session: Connection, state: ConnectionState) -> None:
        try:
            session.run_until_completion(state)
        except Exception as error:
            log.warning("event=socket_mode_read_failed error=%s", type(error).__name__)
        finally:
            with self._readers_lock:
                self._readers.pop(session.session_id, None)

    def _stop_reader(self, session: Connection) -> None:
        with self._readers_lock:
            state = self._readers.get(session.session_id)
        if state is not None:
            state.terminated = True
        _close_now(session)

    def connect(self) -> None:
        old = self.current_session
        if old is not None:
            old.close = lambda: self._retire(old)  # type: ignore[method-assign]
        super().connect()

    def _retire(self, old: Connection) -> None:
        if not old.is_active():
            self._stop_reader(old)
            return
        timer = threading.Timer(RETIRE_SECONDS, self._stop_reader, args=(old,))
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        if not force:
            super().connect_to_new_endpoint(force)
            return
        # A "disconnect" message: reconnect beside the envelope thread, not on it.
        threading.Thread(
            target=super().connect_to_new_endpoint, kwargs={"force": True}, name="socket-mode-refresh", daemon=True
        ).start()

    def disconnect(self) -> None:
        if self.current_session is not None:
            self._stop_reader(self.current_session)  # without waiting out the reader's 3 s read timeout

    def close(self) -> None:
        for timer in self._timers:  # retire the old websockets now, not in RETIRE_SECONDS
            timer.cancel()
            timer.function(*timer.args)
        super().close()
        with self._readers_lock:
            for state in self._readers.values():
                state.terminated = True


class _Handler(SocketModeHandler):
    """Bolt's Socket Mode adapter over our client (Bolt's constructor would start its own)."""

    def __init__(self, app: App, client: _PromptClient) -> None:  # noqa: D107 - no super().__init__ on purpose
        self.app, self.app_token, self.client = app, client.app_token, client
        # Bolt's handle() narrows the client to SocketModeClient, which the SDK's listener type does not
        # allow; the SDK calls it with our _PromptClient, one. Bolt's own handler ignores this the same way.
        client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]


class SocketMode:
    def __init__(self, app: App, app_token: str, api_url: str, ping_interval: float = PING_INTERVAL) -> None:
        web = WebClient(base_url=api_url, timeout=10)
        client = _PromptClient(app_token, logger=app.logger, web_client=web, ping_interval=ping_interval)
        self.handler = _Handler(app, client)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="socket-mode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._first_connect():
            self._watch()

    def _first_connect(self) -> bool:
        """Until the SDK has a connection to look after (it then reconnects by itself)."""
        failures = 0
        while not self._stop.is_set():
            try:
                self.handler.connect()
                return True
            except SlackApiError as error:
                code = error.response.get("error", "unknown_error")
                log.error(
                    "event=socket_mode_refused error=%s hint=%s",
                    code,
                    "check SLACK_APP_TOKEN (an xapp- token with connections:write) and that Socket Mode "
                    "is on in the app settings",
                )
            except Exception as error:
                log.warning("event=socket_mode_unreachable error=%s", type(error).__name__)
            failures += 1
            self._stop.wait(backoff_delay(failures, first=1.0, cap=60.0))
        return False

    def _watch(self) -> None:
        """Log each real change: connected (a websocket is up) and lost (it went away)."""
        client: SocketModeClient = self.handler.client
        session = None
        while not self._stop.is_set():
            up = client.is_connected()
            if up and client.session_id() != session:
                session = client.session_id()
                self.connected.set()
                log.info("event=socket_mode_connected session=%s", session)
            elif not up and self.connected.is_set():
                self.connected.clear()
                session = None
                log.warning("event=socket_mode_lost note=reconnecting")
            self._stop.wait(WATCH_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self.handler.close()
        if self._thread is not None:
            self._thread.join(2.0)
