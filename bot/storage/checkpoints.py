"""WAL checkpoints on a thread of their own, so that no commit pays for one.

SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages, and with
``synchronous = NORMAL`` it is the one step that waits for the disk (fsync): that commit (an SMS's
outcome, a Slack request's record) took several milliseconds, sometimes tens, while holding the
write lock every other writer waits for, a Slack ack's included. Every connection turns it off
(``wal_autocheckpoint = 0``, see ``Database._open``); this thread copies the WAL into the database
file instead, in PASSIVE mode, which waits for no reader or writer and blocks none, soon after
writes happen. If the WAL still outgrows ``RESET_PAGES`` (a steady stream of writes never lets
a checkpoint catch up, so SQLite cannot start it over), one checkpoint is run between two of our
writes (``hold``: the database's write lock), so that the next write starts the WAL afresh.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.1  # how soon after a write its pages are copied into the file
RESET_PAGES = 10_000  # ~40 MB of WAL: catch up between two writes so that it starts over (this one
# waits for the disk under the write lock, as every 1,000th page's commit did before: 10 times rarer)
HOLD_SECONDS = 0.5  # how long that catch-up waits for the write lock before trying again later


class Checkpointer:
    """Started at the first commit (``committed``), stopped by ``stop`` (``Database.close``)."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], hold: Callable[[float], AbstractContextManager[bool]]
    ) -> None:
        self._connect, self._hold = connect, hold
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.lock = threading.Lock()  # held while a checkpoint runs (Database.checkpoint takes it too)
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """A write was committed: its pages will be copied soon."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
                    self._thread.start()
        self._dirty.set()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopping.set()
            self._dirty.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._dirty.wait()
                if self._stopping.wait(CHECKPOINT_SECONDS):  # let writes gather: one copy for many commits
                    return
                self._dirty.clear()
                try:  # stop() waits for this: nothing here waits long (a lock is given up on within 0.1 s)
                    if conn is None:
                        conn = self._connect()
                    with self.lock:
                        self._checkpoint(conn)
                except Exception as error:  # a fault the writers see and report themselves; tried again later
                    log.debug("event=checkpoint_failed error=%s", error)
                    if conn is not None:
                        with contextlib.suppress(sqlite3.Error):
                            conn.close()
                    conn = None
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        [(_, pages, _)] = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # fetchall: no statement left open
        if pages > RESET_PAGES and not self._stopping.is_set():
            with self._hold(HOLD_SECONDS) as held:
                if held:  # no write of ours is under way: this one catches up, and the next write resets the WAL
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
