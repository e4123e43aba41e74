"""The database's part of /healthz: can a write commit now, and for how long has it been busy.

A write probe (one tiny commit on a new connection, as a writer that starts now would) runs at
most once a second and gives up after 0.5 s, so /healthz answers within 1 s even while another
process holds the database. Busy passes by itself, so it turns /healthz 503 only after 60 s in a
row; read-only, failing, deleted or replaced turns it 503 at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.storage.db import Database, DatabaseClosed, DatabaseGone, is_busy
from bot.storage.errors import DatabaseError

PROBE_TIMEOUT_SECONDS = 0.5
PROBE_EVERY_SECONDS = 1.0
BUSY_LIMIT_SECONDS = 60.0

OK, BUSY, READ_ONLY, FAILING, GONE, CLOSED = "ok", "busy", "read_only", "failing", "gone", "closed"


class StorageHealth:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.time,
        *,
        timeout: float = PROBE_TIMEOUT_SECONDS,
        every: float = PROBE_EVERY_SECONDS,
        busy_limit: float = BUSY_LIMIT_SECONDS,
    ) -> None:
        self.db, self.clock = db, clock
        self.timeout, self.every, self.busy_limit = timeout, every, busy_limit
        self._probing = threading.Lock()
        self._last: tuple[float, str, str | None] | None = None  # (monotonic time, state, problem)
        self._busy_since: float | None = None

    def check(self) -> dict:
        """``database`` (true unless it makes the bot unhealthy), ``database_state`` (ok, busy,
        read_only, failing, gone, closed), ``database_problem`` (a sentence, or None) and
        ``database_busy_seconds`` (how long it has been busy in a row, or None)."""
        state, problem = self._state()
        now = self.clock()
        if state == BUSY:
            self._busy_since = now if self._busy_since is None else self._busy_since
        else:
            self._busy_since = None
        busy_for = None if self._busy_since is None else round(now - self._busy_since, 3)
        healthy = state == OK or (state == BUSY and busy_for is not None and busy_for < self.busy_limit)
        return {
            "database": healthy,
            "database_state": state,
            "database_problem": problem,
            "database_busy_seconds": busy_for,
        }

    def _state(self) -> tuple[str, str | None]:
        last = self._last
        if last is not None and time.monotonic() - last[0] < self.every:
            return last[1], last[2]
        if not self._probing.acquire(blocking=False):  # another request is probing: its last answer
            return (last[1], last[2]) if last is not None else (OK, None)
        try:
            state, problem = self._probe()
            self._last = (time.monotonic(), state, problem)
            return state, problem
        finally:
            self._probing.release()

    def _probe(self) -> tuple[str, str | None]:
        try:
            self.db.probe(self.timeout)
        except DatabaseGone as error:
            return GONE, f"{error}; restore it and restart smsbot (see the ERROR line event=database_gone)"
        except DatabaseClosed:
            return CLOSED, "smsbot is stopping"
        except DatabaseError as error:
            if is_busy(error):
                return BUSY, (
                    f"another program has held the database for more than {self.timeout:g} s "
                    f"({error}); writes wait, and /healthz turns 503 after "
                    f"{self.busy_limit:g} s of this"
                )
            if (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF == 8:  # SQLITE_READONLY
                return READ_ONLY, (
                    f"the database {self.db.path} is read-only for smsbot ({error}): check the "
                    "owner and mode of the file, its -wal and -shm files and their folder"
                )
            return FAILING, f"smsbot cannot write to the database {self.db.path}: {error}"
        return OK, None
