"""One background thread that runs callables at given ``time.monotonic()`` moments (the simulator's
delivery reports and their retries)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class TimedJobs:
    """Runs callables at given ``time.monotonic()`` moments on one background thread.

    The thread starts with the first job; ``close()`` drops what is pending and ends it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties keep insertion order
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, when: float, job: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._queue, (when, next(self._order), job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self, timeout: float = 6.0) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while (job := self._next_due()) is not None:
            try:
                job()
            except Exception:  # pragma: no cover - a bug in a job must not stop later ones
                log.exception("event=timed_job_failed name=%s", self._name)

    def _next_due(self) -> Callable[[], None] | None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._queue and self._queue[0][0] <= now:
                    return heapq.heappop(self._queue)[2]
                self._cond.wait(self._queue[0][0] - now if self._queue else None)
            return None
