"""Slack requests already accepted, kept for their signature's 5-minute window: a repeat gets the first answer.

Two records of each: in memory, for this process (a repeat arriving while the first is still handled
sees it at once, without a write), and in the table ``slack_requests``, so that a restart does not
forget what was accepted. The durable record is written either on its own before the request runs
(:meth:`Replays.claim`), or in the same transaction as the request's first write
(:meth:`Replays.carried`), so that the two are stored together or not at all; the answer follows
without the request waiting for it (:meth:`Replays.answered_soon`).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from bot.storage.db import Carried, Database
from bot.storage.errors import DatabaseError

log = logging.getLogger(__name__)

WINDOW_SECONDS = 300  # Slack's signature check accepts a request this long either side of its timestamp
MARGIN_SECONDS = 60
# Answers past their window are deleted by the first write at most this often (not by every request: one
# statement less under the writers' lock per Slack request); a record past its window is new again anyway.
FORGET_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Answer:
    """What we answered the first time; ``status`` None while that request is still being handled."""

    status: int | None
    content_type: str
    body: bytes


IN_FLIGHT = Answer(None, "", b"")


class AlreadyAccepted(sqlite3.IntegrityError):
    """Another replica stored the same signed request first, while this one was starting it. A refused write
    (an integrity conflict on the request's key), so every door that handles a write the database refused
    rolls back and writes nothing; the edge then answers it as the repeat it is."""


class Claim:
    """What became of a record carried by a request's first write (:meth:`Replays.carried`)."""

    carried: Carried | None = None
    written = False  # written in a transaction (which may still have rolled back)
    duplicate = False  # another replica had accepted the same request first: nothing of this one was written

    @property
    def stored(self) -> bool:
        """Committed, with the request's first write."""
        return self.carried is not None and self.carried.committed

    @property
    def unstorable(self) -> bool:
        """A write was tried but never got as far as the record (the database busy, gone or failing)."""
        return self.carried is not None and self.carried.tried and not self.written


class Replays:
    """Durable, so a restart does not forget what it accepted (table ``slack_requests``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._seen: dict[str, tuple[float, Answer]] = {}  # key -> (expires, answer), this process's requests
        self._lock = threading.Lock()
        self._forgot_at = float("-inf")  # when the last write deleted the answers past their window

    # -- in this process ------------------------------------------------------------------------
    def begin(self, key: str, request_ts: float, now: float) -> Answer | None:
        """None when ``key`` is new to this process (it is now in flight); else what the first one was
        answered (``status`` None while it is still handled). A record from before a restart is found by
        :meth:`claim` or :meth:`stored`."""
        with self._lock:
            while self._seen:  # in order of arrival, so the oldest first (a clock step back only delays this)
                oldest = next(iter(self._seen))
                if self._seen[oldest][0] >= now:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return self._seen[key][1]
            self._seen[key] = (_expires(request_ts, now), IN_FLIGHT)
        return None

    def drop(self, key: str) -> None:
        """A request whose record could not be stored ran nothing: the same one may be tried again."""
        with self._lock:
            self._seen.pop(key, None)

    # -- durable --------------------------------------------------------------------------------
    def claim(self, key: str, request_ts: float, now: float) -> Answer | None:
        """None when ``key`` is new (it is now remembered, committed); else what the first one was answered."""
        with self.db.transaction() as conn:
            self._forget_now_and_then(conn, now)
            if not self._insert_new(conn, key, request_ts, now):  # a record within its window: the first's
                return self._get(conn, key)
        return None

    def stored(self, key: str, now: float) -> Answer | None:
        """The durable record of ``key`` within its window (a read: a request accepted before a restart), or None."""
        return self._get(self.db.conn, key, now)

    @contextlib.contextmanager
    def carried(self, key: str, request_ts: float, now: float) -> Iterator[Claim]:
        """In the block, ``key``'s record is written in the first transaction this thread opens, and commits
        with what that transaction writes, or not at all. Call :meth:`stored` first: the record of a
        request accepted before a restart must not be written again."""
        claim = Claim()

        def remember(conn: sqlite3.Connection) -> None:
            self._forget_now_and_then(conn, now)
            # under the writers' lock (SQLite's one writer; PostgreSQL's advisory lock across replicas): exact
            if not self._insert_new(conn, key, request_ts, now):
                claim.duplicate = True
                raise AlreadyAccepted(
                    f"the Slack request {key.partition(':')[0]} was accepted already (before a restart, or elsewhere)"
                )
            claim.written = True

        with self.db.carrying(remember) as carried:
            claim.carried = carried
            yield claim

    def record(self, key: str, request_ts: float, now: float, answer: Answer) -> Answer | None:
        """The record and its answer in one transaction (a request that wrote nothing of its own); None, or
        the first one's answer when ``key`` was recorded already within its window (then nothing is written)."""
        with self.db.transaction() as conn:
            self._forget_now_and_then(conn, now)
            if not self._insert_new(conn, key, request_ts, now):
                return self._get(conn, key)
            self._update(conn, key, answer)
        self._remember(key, answer)
        return None

    def _forget_now_and_then(self, conn: sqlite3.Connection, now: float) -> None:
        if not self._forgot_at <= now < self._forgot_at + FORGET_EVERY_SECONDS:  # a clock step back: now
            self.forget_expired(conn, now)
            self._forgot_at = now

    @staticmethod
    def forget_expired(conn: sqlite3.Connection, now: float) -> int:
        """Drop the answers past their window (they quote numbers and texts); in the caller's transaction.
        A request's write does it every FORGET_EVERY_SECONDS, and so does the daily retention pass, for a bot
        that goes quiet."""
        return conn.execute("DELETE FROM slack_requests WHERE expires_at < ?", (now,)).rowcount

    def answered(self, key: str, status: int, content_type: str, body: bytes) -> None:
        """The first answer, committed before this returns."""
        answer = Answer(status, content_type, body)
        with self.db.transaction() as conn:
            self._update(conn, key, answer)
        self._remember(key, answer)

    def answered_soon(self, key: str, answer: Answer) -> None:
        """The first answer: at once in memory (a repeat in this process gets it), and committed within
        50 ms without waiting, several answers per commit (by the group-commit writer; ``Database.close``
        commits what is waiting).
        Lost only if the process dies in between: a repeat after that restart is told the request was
        received and is being handled, or was, before a restart."""
        self._remember(key, answer)

        def failed(error: Exception) -> None:
            log.error("event=slack_answer_not_recorded error=%s", error)

        try:
            self.db.write_soon(lambda conn: self._update(conn, key, answer), failed)
        except RuntimeError as error:  # closing: only a repeat's words are lost
            failed(error)
        except DatabaseError as error:
            failed(error)

    def answer(self, key: str) -> Answer | None:
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None and seen[1].status is not None:
            return seen[1]
        return self._get(self.db.conn, key)

    def _remember(self, key: str, answer: Answer) -> None:
        with self._lock:
            if key in self._seen:  # begun in this process
                self._seen[key] = (self._seen[key][0], answer)

    @staticmethod
    def _insert_new(conn: sqlite3.Connection, key: str, request_ts: float, now: float) -> bool:
        """Record ``key`` unless a record of it is still within its window (one past it is replaced); whether
        it was new. One statement: the look-up and the write together."""
        return conn.execute(_UPSERT, (key, now, _expires(request_ts, now))).rowcount == 1

    @staticmethod
    def _update(conn: sqlite3.Connection, key: str, answer: Answer) -> None:
        conn.execute(
            "UPDATE slack_requests SET status = ?, content_type = ?, body = ? WHERE key = ?",
            (answer.status, answer.content_type, answer.body, key),
        )

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str, now: float | None = None) -> Answer | None:
        row = conn.execute(
            "SELECT status, content_type, body FROM slack_requests WHERE key = ? AND expires_at >= ?",
            (key, 0.0 if now is None else now),
        ).fetchone()
        if row is None:
            return None
        return Answer(row["status"], row["content_type"] or "", bytes(row["body"] or b""))


# A new record, or one past its window replaced (not yet deleted: see FORGET_EVERY_SECONDS); 1 row or 0.
_UPSERT = (
    "INSERT INTO slack_requests(key, received_at, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
    "SET received_at = excluded.received_at, expires_at = excluded.expires_at, status = NULL, content_type = NULL, "
    "body = NULL WHERE slack_requests.expires_at < excluded.received_at"
)


def _expires(request_ts: float, now: float) -> float:
    return max(request_ts, now) + WINDOW_SECONDS + MARGIN_SECONDS
