"""WAL checkpoints on a thread of their own, so that no commit pays for one.

SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages, and with
``synchronous = NORMAL`` it is the one step that waits for the disk (fsync): that commit (an SMS's
outcome, a Slack request's record) took several milliseconds, sometimes tens, while holding the
write lock that every other writer, a Slack ack's included, waits for. Every connection turns it
off (``wal_autocheckpoint = 0``, see ``Database._open``); this thread copies the WAL into the
database file instead, soon after writes, in PASSIVE mode, which waits for no reader or writer and
blocks none. If the WAL still outgrows ``RESET_PAGES`` (a steady stream of writes never lets a
checkpoint finish, so SQLite cannot start the WAL over), one checkpoint runs between two of our
writes, holding the database's write lock, so that the next write starts the WAL afresh.

Stopping cannot hang: every wait is short and rechecks ``stop``; a checkpoint under way is
interrupted (``sqlite3_interrupt``, which SQLite allows at any point of a checkpoint); ``stop``
joins the thread. Once the database file is deleted or replaced, nothing is checkpointed again
(the writers report it; see bot/storage/faults.py).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.1  # how soon after a write its pages are copied into the file (commits in between share one)
RESET_PAGES = 10_000  # ~40 MB of WAL: catch up between two writes so that it starts over (this one waits
# for the disk under the write lock, as every 1,000th page's commit did before: ten times rarer)
LOCK_POLL_SECONDS = 0.05  # waits for a lock are this long at most, between looks at ``stop``
HOLD_SECONDS = 0.5  # how long the catch-up waits for the write lock before leaving it to a later round
STOP_SECONDS = 5.0  # the thread ends well within this (a checkpoint under way is interrupted)
BUSY_MS = 100  # opening the connection gives up on a lock after this long (tried again later)


class Checkpointer:
    """Started at the first commit (``committed``), stopped and joined by ``stop`` (``Database.close``).

    ``connect`` opens the connection it checkpoints with (never creating the file); ``still_there``
    says whether the database file is still the one first opened; ``write_lock`` is the lock our
    own writers hold (taken only for the rare catch-up). ``lock`` is held while a checkpoint runs:
    ``Database.checkpoint`` (retention's TRUNCATE) takes it too, to wait for this one's copy."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        still_there: Callable[[], bool],
        write_lock: threading.Lock,
    ) -> None:
        self._connect, self._still_there, self._write_lock = connect, still_there, write_lock
        self.lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._state = threading.Lock()  # guards _thread and _conn against stop()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    def committed(self) -> None:
        """A write was committed: its pages will be copied soon."""
        if self._thread is None:
            with self._state:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
                    self._thread.start()
        self._dirty.set()

    def stop(self) -> None:
        """End the thread (interrupting a checkpoint under way) and wait for it; no thread starts after."""
        with self._state:
            self._stop.set()
            self._dirty.set()
            thread = self._thread
            if self._conn is not None:
                self._conn.interrupt()
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_SECONDS)
            if thread.is_alive():  # not expected: every wait above is bounded
                log.warning("event=checkpoint_thread_still_running after=%g", STOP_SECONDS)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._dirty.wait()
                if self._stop.wait(CHECKPOINT_SECONDS):  # let writes gather: one copy for many commits
                    return
                self._dirty.clear()
                if not self._still_there():  # deleted or replaced: never touch the path again
                    return
                try:
                    self._round()
                except sqlite3.Error as error:  # a fault the writers see and report themselves; tried again later
                    log.debug("event=checkpoint_failed error=%s", error)
                    self._close()
        finally:
            self._close()

    def _round(self) -> None:
        if not self._acquire(self.lock, None):
            return
        try:
            conn = self._conn or self._open()
            if conn is None:
                return
            [(_, pages, _)] = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # no statement left open
            if pages > RESET_PAGES and self._acquire(self._write_lock, HOLD_SECONDS):
                try:  # no write of ours under way: this one catches up, and the next write starts the WAL over
                    if not self._stop.is_set():
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    self._write_lock.release()
        finally:
            self.lock.release()

    def _acquire(self, lock: threading.Lock, seconds: float | None) -> bool:
        """``lock`` within ``seconds`` (None: for as long as it takes), unless stopping first."""
        waited = 0.0
        while not self._stop.is_set():
            if lock.acquire(timeout=LOCK_POLL_SECONDS):
                return True
            waited += LOCK_POLL_SECONDS
            if seconds is not None and waited >= seconds:
                return False
        return False

    def _open(self) -> sqlite3.Connection | None:
        conn = self._connect()
        with self._state:
            if self._stop.is_set():
                conn.close()
                return None
            self._conn = conn
        return conn

    def _close(self) -> None:
        with self._state:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
