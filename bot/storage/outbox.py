"""A durable outbox: jobs for the outside world, written in the same transaction as
the change they report, and worked off later by one thread.

Rows are ``pending`` until done. A row with a ``key`` coalesces: while one
pending row has a given (kind, key), adding another does nothing, so several
changes to one thing become one job (the job renders the latest state when it
runs). The worker moves a row to ``working`` while it runs it, so a change
that lands meanwhile gets a new pending row of its own.
"""
from __future__ import annotations

import json
import sqlite3

from bot.storage.db import Database


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, conn: sqlite3.Connection, kind: str, now: float, *, key: str | None = None,
            batch_id: int | None = None, channel: str | None = None, payload: dict | None = None,
            not_before: float | None = None) -> None:
        conn.execute(
            "INSERT INTO outbox (kind, key, batch_id, channel, payload, state, created_at, next_attempt_at, "
            "attempts) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, 0) "
            "ON CONFLICT (kind, key) WHERE state = 'pending' AND key IS NOT NULL DO NOTHING",
            (kind, key, batch_id, channel, json.dumps(payload or {}), now,
             now if not_before is None else not_before))

    def due(self, now: float, limit: int = 100) -> list[sqlite3.Row]:
        """Pending jobs whose time has come, oldest first, with where their send's status message is
        (``status_channel``, ``status_ts``, ``posted_where``, ``origin_channel``) in the same read."""
        return self.db.conn.execute(
            "SELECT o.*, b.status_channel, b.status_ts, b.posted_where, b.channel_id AS origin_channel "
            "FROM outbox o LEFT JOIN batches b ON b.id = o.batch_id "
            "WHERE o.state = 'pending' AND +o.next_attempt_at <= ? ORDER BY o.id LIMIT ?",
            (now, limit)).fetchall()

    def next_due_at(self) -> float | None:
        return self.db.conn.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'").fetchone()[0]

    def start(self, job_id: int) -> None:
        self.db.conn.execute("UPDATE outbox SET state = 'working', attempts = attempts + 1 WHERE id = ?",
                             (job_id,))

    def done(self, job_id: int, now: float, *, state: str = "done", error: str | None = None) -> None:
        self.db.conn.execute("UPDATE outbox SET state = ?, done_at = ?, last_error = ? WHERE id = ?",
                             (state, now, error, job_id))

    def retry(self, job_id: int, error: str, next_attempt_at: float) -> None:
        """Back to pending, unless a newer pending row for the same thing took its place."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT kind, key FROM outbox WHERE id = ?", (job_id,)).fetchone()
            newer = row["key"] is not None and conn.execute(
                "SELECT 1 FROM outbox WHERE kind = ? AND key = ? AND state = 'pending'",
                (row["kind"], row["key"])).fetchone()
            if newer:
                conn.execute("UPDATE outbox SET state = 'superseded', last_error = ? WHERE id = ?",
                             (error, job_id))
            else:
                conn.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ? "
                             "WHERE id = ?", (next_attempt_at, error, job_id))

    def recover(self) -> int:
        """At start-up: rows left ``working`` by a crash go back to pending."""
        ids = [r[0] for r in self.db.conn.execute("SELECT id FROM outbox WHERE state = 'working'")]
        for job_id in ids:
            self.retry(job_id, "smsbot stopped while this was under way", 0.0)
        return len(ids)

    def purge(self, before: float) -> int:
        """Forget finished jobs older than ``before`` (pending and working ones are kept)."""
        return self.db.conn.execute("DELETE FROM outbox WHERE state NOT IN ('pending', 'working') "
                                    "AND coalesce(done_at, created_at) < ?", (before,)).rowcount

    def oldest_waiting_at(self) -> float | None:
        """created_at of the oldest job not yet done (for the "Slack jobs stuck" alert)."""
        return self.db.conn.execute(
            "SELECT min(created_at) FROM outbox WHERE state IN ('pending', 'working')").fetchone()[0]

    def depth(self) -> int:
        return self.db.conn.execute(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'working')").fetchone()[0]

    @staticmethod
    def payload(row: sqlite3.Row) -> dict:
        return json.loads(row["payload"] or "{}")
