"""Group commit: one writer thread commits the small writes that arrive together, several per
transaction, each in its own savepoint (``Database.write``); a write alone in its transaction needs none
(two round trips less per write on PostgreSQL)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import sqlite3

    from bot.storage.db import Database

log = logging.getLogger(__name__)

GROUP_MAX = 64  # writes committed together at most
LATER_SECONDS = 0.05  # a write nobody waits for is committed this soon (with any group that comes first)
GROUP_WAIT_SECONDS = 30.0  # a caller gives up (and its request fails) after this long
STOP_SECONDS = 5.0  # stop() waits this long at most for what is waiting to be committed

T = TypeVar("T")


class _Job(Generic[T]):
    __slots__ = ("fn", "done", "result", "error", "abandoned", "on_error")

    # Set once ``fn`` has returned; read only when ``error`` is None, i.e. the group committed
    # after ``fn`` ran. Left unset rather than None: ``fn`` may itself return None.
    result: T

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn, self.done = fn, threading.Event()
        self.error: Exception | None = None
        self.abandoned = False  # its caller stopped waiting: not run if it has not started
        self.on_error: Callable[[Exception], None] | None = None  # told of a failure nobody waits for


class GroupCommit:
    """One thread that commits the writes handed to it, several per transaction.

    Many threads each committing one small write queue on the write lock and hand the GIL
    around while they wait; one writer committing whatever has arrived does the same work
    with one BEGIN/COMMIT per group.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cond = threading.Condition()
        self._jobs: list[_Job[Any]] = []  # each caller its own result type
        self._later: list[_Job[Any]] = []  # handed over without waiting (submit): committed within LATER_SECONDS
        self._later_since = 0.0
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="db-writer", daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[sqlite3.Connection], T], timeout: float = GROUP_WAIT_SECONDS) -> T:
        """``fn``'s result once committed; TimeoutError after ``timeout`` seconds (then ``fn`` is not
        run if it has not started: a caller that gave up may still find it stored, never half-stored)."""
        job: _Job[T] = _Job(fn)
        with self._cond:
            if self._stopping:
                raise RuntimeError("the database is closing")
            self._jobs.append(job)
            self._cond.notify()
        if not job.done.wait(timeout):
            job.abandoned = True
            raise TimeoutError(f"the database did not take the write within {timeout:g} s")
        if job.error is not None:
            raise job.error
        return job.result

    def submit(self, fn: Callable[[sqlite3.Connection], Any], on_error: Callable[[Exception], None]) -> None:
        """Hand ``fn`` over and return at once: it is committed with the next group, within ``LATER_SECONDS``
        (those that arrive meanwhile share one commit; ``stop`` commits what is waiting); ``on_error(error)``
        is called on the writer thread if it or its commit fails."""
        job: _Job[Any] = _Job(fn)
        job.on_error = on_error
        with self._cond:
            if self._stopping:
                raise RuntimeError("the database is closing")
            if not self._later:
                self._later_since = time.monotonic()
            self._later.append(job)
            self._cond.notify()

    def stop(self, timeout: float | None = None) -> None:
        """Commit what is waiting and end the thread, waiting at most ``timeout`` seconds (5 by default)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(STOP_SECONDS if timeout is None else min(STOP_SECONDS, timeout))

    def _loop(self) -> None:
        try:  # its connection now: what is waiting at close() is committed after no new one may be opened
            self.db.conn  # noqa: B018
        except Exception as error:  # each write then raises it, or heals (see Database.conn)
            log.debug("event=db_writer_no_connection error=%s", error)
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    if not self._later:
                        self._cond.wait()
                        continue
                    left = self._later_since + LATER_SECONDS - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if not self._jobs and not self._later:  # stopping, and everything is committed
                    return
                jobs, self._jobs = self._later + self._jobs[:GROUP_MAX], self._jobs[GROUP_MAX:]
                self._later = []
            self._commit(jobs)

    def _commit(self, jobs: list[_Job[Any]]) -> None:
        try:
            with self.db.transaction() as conn:
                pending = self.db._local.on_commit
                alone = len(jobs) == 1  # a job alone is undone with its transaction: no savepoint needed
                for job in jobs:
                    if job.abandoned:
                        job.error = TimeoutError("abandoned by its caller")
                        continue
                    if alone:  # an error rolls the transaction back and is this job's (below)
                        job.result = job.fn(conn)
                        continue
                    conn.execute("SAVEPOINT job")
                    registered = len(pending)
                    try:
                        job.result = job.fn(conn)
                    except Exception as error:
                        conn.execute("ROLLBACK TO job")
                        del pending[registered:]  # that job's wake-ups were undone with it
                        job.error = error
                    conn.execute("RELEASE job")
        except Exception as error:  # the commit itself failed: nothing of this group is stored
            for job in jobs:
                job.error = job.error or error
        finally:
            for job in jobs:
                job.done.set()
                if job.error is not None and job.on_error is not None:
                    try:
                        job.on_error(job.error)
                    except Exception:  # a failing report of a failure must not stop the writer
                        log.exception("event=write_error_callback_failed")
