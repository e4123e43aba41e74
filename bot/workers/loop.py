"""A background worker: ``run_once(now)`` does one unit of work; a thin loop on a
named thread repeats it until ``stop()``.

Tests call ``run_once`` directly with an injected time instead of starting the
thread and waiting.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from bot.storage.errors import DatabaseError
from bot.workers.backoff import backoff_delay

log = logging.getLogger(__name__)

STORAGE_RETRY_CAP = 10.0  # a storage fault is retried at least this often, so the worker heals soon after it


class Worker:
    name = "worker"
    idle_poll = 1.0  # seconds between looks when there is nothing to do and nobody wakes us

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: float | None = None) -> bool:  # pragma: no cover - abstract
        """Do one unit of work if any is due; True if something was done."""
        raise NotImplementedError

    def wait_time(self, now: float) -> float:
        """How long the loop may sleep when idle (it is woken early by ``wake()``)."""
        return self.idle_poll

    def _idle(self, did_work: bool) -> float:
        """How long to sleep after a pass; if asking what is due next fails, just poll."""
        if did_work:
            return 0.0
        try:
            return max(0.01, min(self.idle_poll, self.wait_time(self.clock())))
        except DatabaseError:
            return self.idle_poll

    def on_stop(self) -> None:
        """Called on the worker's thread after its last unit of work."""

    def _sleep(self, seconds: float) -> None:
        """Idle until ``seconds`` pass, ``wake()`` is called or the worker is stopped."""
        self._wake.wait(seconds)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the loop to stop after the current unit of work; True if it has ended."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        log.info("event=worker_started name=%s", self.name)
        storage_failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                did_work = self.run_once()
                pause, storage_failures = self._idle(did_work), 0
            except DatabaseError as error:  # busy, read-only, disk full, file gone: passes, or needs a person
                storage_failures += 1
                did_work, pause = False, backoff_delay(storage_failures, first=0.5, cap=STORAGE_RETRY_CAP)
                log.warning(
                    "event=worker_storage_error name=%s error=%s retry_in=%.1f",
                    self.name,
                    json.dumps(str(error)),
                    pause,
                )
            except Exception:
                log.exception("event=worker_error name=%s", self.name)
                did_work, pause = False, self.idle_poll
            if not did_work and not self._stop.is_set():
                self._sleep(pause)
        try:
            self.on_stop()
        except Exception:
            log.exception("event=worker_stop_failed name=%s", self.name)
        log.info("event=worker_stopped name=%s", self.name)
