"""The durable outbox: jobs for Slack, written in the same transaction as the change they
report, and worked off later by the one notifier thread.

A job moves through :class:`JobState`::

    pending ──start──▶ working ──▶ done
       ▲                  │  ├───▶ failed      (Slack refused it for good, or it crashed)
       └────retry─────────┘  ├───▶ dropped     (it can never run: e.g. its status message was never posted)
                             └───▶ superseded  (a newer pending job for the same thing took its place)

Rows with a ``key`` coalesce: while one pending row has a given (kind, key), adding
another does nothing, so several changes to one thing become one job (the job renders
the latest state when it runs). ``start`` moves a row to ``working``, so a change that
lands meanwhile gets a new pending row of its own. Every state change is made here.
"""

from __future__ import annotations

import json
import sqlite3

from bot.storage import SqlEnum
from bot.storage.db import Database


class JobKind(SqlEnum):
    POST = "post"  # a send's status message
    STATUS = "status"  # chat.update of that message (coalesced per send)
    REPLY = "reply"  # a reply in its thread
    ALERT = "alert"  # a balance-watch alert
    RESPOND = "respond"  # a message through a command's response_url
    DIGEST = "digest"  # failures of a long list, grouped into one reply (coalesced per send)


class JobState(SqlEnum):
    PENDING = "pending"
    WORKING = "working"
    DONE = "done"
    FAILED = "failed"
    DROPPED = "dropped"
    SUPERSEDED = "superseded"


PENDING, WORKING = JobState.PENDING.value, JobState.WORKING.value
# Jobs that show under a send's status message, so wait until it is posted.
_WAITING_SQL = ", ".join(f"'{k.value}'" for k in (JobKind.STATUS, JobKind.REPLY, JobKind.DIGEST))
FINISHED = (JobState.DONE.value, JobState.FAILED.value, JobState.DROPPED.value, JobState.SUPERSEDED.value)


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing (inside the caller's transaction) ------------------------------------------
    def add(
        self,
        conn: sqlite3.Connection,
        kind: JobKind,
        now: float,
        *,
        key: str | None = None,
        batch_id: int | None = None,
        channel: str | None = None,
        payload: dict | None = None,
        not_before: float | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO outbox (kind, key, batch_id, channel, payload, state, created_at, next_attempt_at, "
            f"attempts) VALUES (?, ?, ?, ?, ?, '{PENDING}', ?, ?, 0) "
            f"ON CONFLICT (kind, key) WHERE state = '{PENDING}' AND key IS NOT NULL DO NOTHING",
            (
                JobKind(kind).value,
                key,
                batch_id,
                channel,
                json.dumps(payload or {}),
                now,
                now if not_before is None else not_before,
            ),
        )

    # -- the notifier's moves ----------------------------------------------------------------
    def start(self, job_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE outbox SET state = '{WORKING}', attempts = attempts + 1 WHERE id = ?", (job_id,))

    def finish(
        self,
        job_id: int,
        now: float,
        state: JobState = JobState.DONE,
        *,
        error: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """A job that will not run again: done, failed, dropped or superseded."""
        if state.value not in FINISHED:
            raise ValueError(f"{state} is not a final state")
        if conn is None:
            with self.db.transaction() as conn:
                return self.finish(job_id, now, state, error=error, conn=conn)
        conn.execute(
            "UPDATE outbox SET state = ?, done_at = ?, last_error = ? WHERE id = ?", (state.value, now, error, job_id)
        )

    def retry(self, job_id: int, error: str, next_attempt_at: float) -> None:
        """Back to pending, unless a newer pending row for the same thing took its place."""
        with self.db.transaction() as conn:
            self._retry(conn, job_id, error, next_attempt_at)

    def _retry(self, conn: sqlite3.Connection, job_id: int, error: str, next_attempt_at: float) -> None:
        row = conn.execute("SELECT kind, key FROM outbox WHERE id = ?", (job_id,)).fetchone()
        newer = (
            row["key"] is not None
            and conn.execute(
                f"SELECT 1 FROM outbox WHERE kind = ? AND key = ? AND state = '{PENDING}'", (row["kind"], row["key"])
            ).fetchone()
        )
        if newer:
            conn.execute(
                f"UPDATE outbox SET state = '{JobState.SUPERSEDED.value}', last_error = ? WHERE id = ?", (error, job_id)
            )
        else:
            conn.execute(
                f"UPDATE outbox SET state = '{PENDING}', next_attempt_at = ?, last_error = ? WHERE id = ?",
                (next_attempt_at, error, job_id),
            )

    def drop_waiting(self, conn: sqlite3.Connection, batch_id: int, now: float, reason: str) -> int:
        """A send's status message can never be posted: its pending edits and replies go with it."""
        return conn.execute(
            f"UPDATE outbox SET state = '{JobState.DROPPED.value}', done_at = ?, last_error = ? "
            f"WHERE batch_id = ? AND state = '{PENDING}' AND kind IN ({_WAITING_SQL})",
            (now, reason, batch_id),
        ).rowcount

    def recover(self) -> int:
        """At start-up: rows left ``working`` by a crash go back to pending."""
        with self.db.transaction() as conn:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM outbox WHERE state = '{WORKING}'")]
            for job_id in ids:
                self._retry(conn, job_id, "smsbot stopped while this was under way", 0.0)
        return len(ids)

    def purge(self, before: float) -> int:
        """Forget finished jobs older than ``before`` (pending and working ones are kept)."""
        with self.db.transaction() as conn:
            return conn.execute(
                f"DELETE FROM outbox WHERE state NOT IN ('{PENDING}', '{WORKING}') "
                "AND coalesce(done_at, created_at) < ?",
                (before,),
            ).rowcount

    # -- reading -------------------------------------------------------------------------------
    def due(self, now: float, limit: int = 100) -> list[sqlite3.Row]:
        """The oldest due job of each lane (a channel's posts, or its edits), oldest first, with where its
        send's status message is (``status_channel``, ``status_ts``, ``posted_where``, ``origin_channel``).

        One job per lane: a channel waiting on its pace never hides another channel's work, however
        long its own backlog. Edits and replies whose status message is not posted yet are not due
        (they wait on the post), unless it never will be: then they are due, to be dropped.
        """
        return self.db.conn.execute(
            "SELECT * FROM (SELECT o.*, s.status_channel, s.status_ts, s.posted_where, "
            "       s.channel_id AS origin_channel, row_number() OVER (PARTITION BY "
            "         coalesce(s.status_channel, s.channel_id, o.channel, 'job:' || o.id), "
            f"        o.kind = '{JobKind.STATUS.value}' ORDER BY o.id) AS place "
            "  FROM outbox o LEFT JOIN slack_posts s ON s.batch_id = o.batch_id "
            f" WHERE o.state = '{PENDING}' AND +o.next_attempt_at <= ? "
            f"   AND NOT (o.kind IN ({_WAITING_SQL}) AND o.batch_id IS NOT NULL AND s.status_ts IS NULL "
            f"            AND coalesce(s.posted_where, '') != 'nowhere')) AS lanes "
            "WHERE place = 1 ORDER BY id LIMIT ?",
            (now, limit),
        ).fetchall()

    def next_due_at(self) -> float | None:
        return self.db.conn.execute(f"SELECT min(next_attempt_at) FROM outbox WHERE state = '{PENDING}'").fetchone()[0]

    def oldest_pending_at(self) -> float | None:
        return self.db.conn.execute(
            f"SELECT min(created_at) FROM outbox WHERE state IN ('{PENDING}', '{WORKING}')"
        ).fetchone()[0]

    def oldest_waiting_at(self) -> float | None:
        """created_at of the oldest job not yet done (for the "Slack jobs stuck" alert)."""
        return self.db.conn.execute(
            "SELECT min(created_at) FROM outbox WHERE state IN ('pending', 'working')"
        ).fetchone()[0]

    def depth(self) -> int:
        return self.db.conn.execute(
            f"SELECT count(*) FROM outbox WHERE state IN ('{PENDING}', '{WORKING}')"
        ).fetchone()[0]

    @staticmethod
    def payload(row: sqlite3.Row) -> dict:
        return json.loads(row["payload"] or "{}")
