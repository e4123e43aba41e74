"""Wake-ups after a commit, in this process and in every other one on the same database.

A worker sleeps until woken or until its idle poll (bot/workers/loop.py). Work committed by this
process wakes it through :meth:`Database.on_commit`; on PostgreSQL the work may be committed by
another replica (a slash command or a delivery report taken by a standby) while the worker runs on
the leader. So a wake-up is a *topic* (``sender``, ``notifier``):

- ``waker(topic)`` is the callback the code registers with ``db.on_commit`` (the same object each
  time, so ten changes in one transaction wake once). After the commit it wakes this process's
  subscribers and, on PostgreSQL, sends ``NOTIFY smsbot_wake, '<topic>'``, unless this process leads
  (its own workers are the ones to wake; if leadership moves at that moment, the new leader's poll finds
  the work within a second).
- On PostgreSQL a listener thread holds a connection of its own with ``LISTEN smsbot_wake`` and
  wakes this process's subscribers of each topic it hears. When that connection breaks it is opened
  again (1 s, 2 s … 5 s apart), and every topic is woken once, for what was sent while it was deaf.

Polling stays as the fallback: a lost notification costs one idle poll, never work. Everything
about LISTEN/NOTIFY is in this module.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "smsbot_wake"
LISTEN_POLL_SECONDS = 0.5  # how often the listener looks at its stop flag while nothing is heard
RECONNECT_SECONDS = (1.0, 2.0, 5.0)  # waits before opening the listener's connection again


class Wakeups:
    def __init__(self, db: Any, here_only: Callable[[], bool] = lambda: False) -> None:
        """``here_only``: True while this process runs the workers itself (it leads), so waking them here is
        enough and no NOTIFY is sent (one round trip less per commit on the leader)."""
        self.db = db
        self.here_only = here_only
        self.postgres = getattr(db, "dialect", "sqlite") == "postgresql"
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        self._wakers: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heard = 0  # notifications heard from the database (for tests and the benchmark)
        self.listening = threading.Event()  # set while the LISTEN connection is up

    def subscribe(self, topic: str, callback: Callable[[], None]) -> None:
        with self._lock:
            self._subscribers.setdefault(topic, []).append(callback)

    def waker(self, topic: str) -> Callable[[], None]:
        """The after-commit callback for ``topic``: one object per topic, so duplicates run once."""
        with self._lock:
            if topic not in self._wakers:
                self._wakers[topic] = lambda: self._after_commit(topic)
            return self._wakers[topic]

    def _after_commit(self, topic: str) -> None:
        self._wake_here(topic)
        if self.postgres and not self.here_only():
            try:
                self.db.conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, topic))
            except Exception as error:  # the work is committed; the other replicas' polls find it
                log.warning("event=wake_notify_failed topic=%s error=%s", topic, json.dumps(str(error)[:200]))

    def _wake_here(self, topic: str) -> None:
        with self._lock:
            callbacks = list(self._subscribers.get(topic, ()))
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("event=wake_failed topic=%s", topic)

    # -- the listener (PostgreSQL) -------------------------------------------------------------------
    def start(self) -> None:
        if not self.postgres or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen_loop, name="wake-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _listen_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except Exception as error:
                self.listening.clear()
                if self._stop.is_set():
                    return
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "event=wake_listener_lost retry_in=%g error=%s note=%s",
                    wait,
                    json.dumps(f"{type(error).__name__}: {str(error)[:200]}"),
                    json.dumps("workers poll meanwhile, so nothing waits more than a second longer"),
                )
                self._stop.wait(wait)

    def _listen(self) -> None:
        import psycopg  # only with PostgreSQL

        from bot.storage.postgres import libpq_url, network_defaults

        url = libpq_url(self.db.url)
        options: dict[str, Any] = dict(network_defaults(url))
        with psycopg.connect(url, autocommit=True, **options) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            log.info("event=wake_listener_ready")
            for topic in self._topics():  # whatever was committed while nobody listened
                self._wake_here(topic)
            while not self._stop.is_set():
                for note in conn.notifies(timeout=LISTEN_POLL_SECONDS):
                    self.heard += 1
                    self._wake_here(note.payload)
                    if self._stop.is_set():
                        break
                conn.execute("SELECT 1")  # a dead connection raises here, not silently forever

    def _topics(self) -> list[str]:
        with self._lock:
            return list(self._subscribers)
