"""Slow work a listener hands off after its ack (gateway calls, views, respond()), on a small pool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

from slack_bolt.context.respond import Respond

from bot.slack.app import tell_sorry

log = logging.getLogger(__name__)


class AfterAck:
    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="after-ack")
        self._running: set[futures.Future] = set()  # waited for at shutdown
        self._lock = threading.Lock()

    def later(self, fn: Callable, *args) -> None:
        """Run ``fn(*args)`` off the HTTP thread. If it fails, the person hears so once, through the
        ``respond`` among its arguments (never a loop: a failing apology is only logged)."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("event=after_ack_failed task=%s", getattr(fn, "__name__", "task"))
                if fn is not tell_sorry:
                    for respond in (arg for arg in args if isinstance(arg, Respond)):
                        self.later(tell_sorry, respond)

        future = self._pool.submit(run)
        with self._lock:
            self._running = {f for f in self._running if not f.done()} | {future}

    def close(self, timeout: float = 0.0) -> bool:
        """Drop slow work not yet started; wait up to ``timeout`` for what is running. True if none is."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            running = [f for f in self._running if not f.done()]
        return not futures.wait(running, timeout)[1]
