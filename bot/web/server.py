"""A WSGI app served by waitress on its own named thread, with start()/stop()."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from waitress import create_server, wasyncore

log = logging.getLogger(__name__)

# Refused by waitress before the app runs and before anything is buffered: a larger body gets 413
# as soon as its Content-Length (or its chunks) say so, larger headers 431.
MAX_BODY_BYTES = 1 << 20
MAX_HEADER_BYTES = 32 << 10


class ServerThread:
    """Serve ``app`` on host:port in a background thread.

    ``port=0`` binds a free port; read it from ``.port`` after ``start()``.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, name: str = "http", threads: int = 4) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.name = name
        self.threads = threads
        self._server: Any | None = None  # waitress's server (waitress ships no types), None until start()
        self._port = 0
        self._thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        # Binding happens here, on the caller's thread, so a busy port fails loudly at start.
        self._server = create_server(
            self.app,
            host=self.host,
            port=self.requested_port,
            threads=self.threads,
            ident="smsbot",
            clear_untrusted_proxy_headers=True,
            channel_timeout=120,
            max_request_body_size=MAX_BODY_BYTES + 1,  # waitress refuses a body of this size or more
            max_request_header_size=MAX_HEADER_BYTES,
        )
        self._port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        server = self._server
        if server is None:  # stop() came first: nothing to serve
            return
        try:
            server.run()
        except Exception:  # pragma: no cover - the loop only ends through stop()
            if self._server is not None:
                log.exception("event=http_server_crashed name=%s", self.name)

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # 1. Stop accepting: close the listening socket from the server's own loop
        #    thread (the trigger runs callbacks there).
        self._on_loop(server, lambda: wasyncore.dispatcher.close(server))
        # 2. Let requests already being served finish and their answers go out.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._busy(server):
            time.sleep(0.01)
        # 3. Close what is left (idle keep-alive connections, the trigger); the
        #    loop ends when its map is empty.
        self._on_loop(server, lambda: wasyncore.close_all(server._map))
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
        server.task_dispatcher.shutdown(timeout=max(0.1, deadline - time.monotonic()))

    def _on_loop(self, server, action) -> None:
        """Run ``action`` on the server's loop thread; directly if that loop is already gone."""
        try:
            server.trigger.pull_trigger(action)
        except OSError:  # the trigger is closed: the loop has ended, nothing runs concurrently
            action()

    @staticmethod
    def _busy(server) -> bool:
        dispatcher = server.task_dispatcher
        if dispatcher.active_count or dispatcher.queue:
            return True
        return any(
            getattr(ch, "total_outbufs_len", 0) or getattr(ch, "requests", None) for ch in list(server._map.values())
        )
