"""The durable send queue: one row per recipient, in SQLite.

It knows nothing of Slack or of the gateway. A *batch* is one request to send
one text to some recipients, with who asked and an opaque origin tag; a
*message* is one recipient of a batch and moves through :class:`Status`::

    queued ──claim──▶ sending ──▶ sent
       ▲                 │  └───▶ failed       (the gateway said no, or we gave up)
       └──retry_later────┘  └───▶ unconfirmed  (it may have gone: never resent blindly)

``claim`` is atomic (``BEGIN IMMEDIATE … UPDATE … RETURNING``) and commits
before the gateway is called, so a crash mid-call leaves the row in
``sending``; ``recover`` turns such rows into ``unconfirmed`` at start-up.

Methods that take ``conn`` run inside the caller's transaction, so the caller
can record other consequences (e.g. a Slack notification) atomically.
"""
from __future__ import annotations

import enum
import sqlite3
from typing import Iterable

from bot.storage.db import Database


class Status(str, enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


# A batch is its text, its parts, who asked and notes for the status message (JSON); ``origin`` is an opaque tag of where the request came
# from (e.g. "slack"), whose own table says the rest.
BATCH_FIELDS = ("user_id", "user_name", "text", "encoding", "parts", "origin", "notes")


class SendQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing ---------------------------------------------------------------------------
    def enqueue(self, conn: sqlite3.Connection, batch: dict, recipients: Iterable[str],
                now: float) -> int:
        """Store a batch and one queued message per recipient; returns the batch id."""
        recipients = list(recipients)
        if not recipients:
            raise ValueError("a batch needs at least one recipient")
        unknown = set(batch) - set(BATCH_FIELDS)
        if unknown:
            raise ValueError(f"unknown batch fields: {sorted(unknown)}")
        columns = ["created_at", "recipients", *batch]
        cur = conn.execute(
            f"INSERT INTO batches ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            (now, len(recipients), *batch.values()))
        batch_id = cur.lastrowid
        conn.executemany(
            "INSERT INTO messages (batch_id, recipient, status, attempts, next_attempt_at, queued_at, "
            "updated_at) VALUES (?, ?, 'queued', 0, ?, ?, ?)",
            [(batch_id, r, now, now, now) for r in recipients])
        return batch_id

    def claim(self, now: float, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None:
        """Move the oldest due queued message to ``sending`` and return it (committed, or inside
        the caller's transaction when ``conn`` is given)."""
        if conn is None:
            with self.db.transaction() as conn:
                return self.claim(now, conn)
        return conn.execute(
            "UPDATE messages SET status = 'sending', sending_at = ?, updated_at = ?, attempts = attempts + 1 "
            # Walk messages(status, id) in id order; the unary + keeps SQLite from choosing
            # the (status, next_attempt_at) index, which would sort the whole queue per claim.
            "WHERE id = (SELECT id FROM messages WHERE status = 'queued' AND +next_attempt_at <= ? "
            "            ORDER BY id LIMIT 1) "
            "RETURNING *", (now, now, now)).fetchone()

    def unclaim(self, message_id: int, now: float) -> None:
        """Put back a message claimed but never handed to the gateway (the sender is stopping)."""
        self.db.conn.execute("UPDATE messages SET status = 'queued', updated_at = ?, attempts = attempts - 1 "
                             "WHERE id = ? AND status = 'sending'", (now, message_id))

    def mark_sent(self, conn, message_id: int, tracking_id: str, now: float) -> sqlite3.Row:
        return self._move(conn, message_id, Status.SENT, now, tracking_id=tracking_id, last_error=None)

    def mark_failed(self, conn, message_id: int, error: str, now: float) -> sqlite3.Row:
        return self._move(conn, message_id, Status.FAILED, now, last_error=error)

    def mark_unconfirmed(self, conn, message_id: int, error: str, now: float) -> sqlite3.Row:
        return self._move(conn, message_id, Status.UNCONFIRMED, now, last_error=error)

    def retry_later(self, conn, message_id: int, error: str, next_attempt_at: float, now: float) -> sqlite3.Row:
        return self._move(conn, message_id, Status.QUEUED, now, last_error=error, next_attempt_at=next_attempt_at)

    def note_failure(self, conn, message_id: int, kind: str) -> None:
        """Why a failed message failed (bot/sms/failures.py), for whether a resend can cure it."""
        conn.execute("UPDATE messages SET failure = ? WHERE id = ? AND status = 'failed'", (kind, message_id))

    def requeue(self, conn, message_id: int, now: float) -> sqlite3.Row | None:
        """Queue an unconfirmed or failed message again (a person asked to resend it); the row, or
        None when it was not waiting for that."""
        return conn.execute(
            "UPDATE messages SET status = 'queued', next_attempt_at = ?, queued_at = ?, updated_at = ?, "
            "last_error = NULL, tracking_id = NULL WHERE id = ? AND status IN ('unconfirmed', 'failed') "
            "RETURNING *", (now, now, now, message_id)).fetchone()

    def recover(self, conn, now: float) -> list[sqlite3.Row]:
        """After a crash: messages left in ``sending`` may have reached the gateway. Mark them
        unconfirmed (never resend blindly) and return them."""
        return conn.execute(
            "UPDATE messages SET status = 'unconfirmed', unconfirmed_at = ?, updated_at = ?, "
            "last_error = 'smsbot stopped while sending this SMS, so it may or may not have gone' "
            "WHERE status = 'sending' RETURNING *", (now, now)).fetchall()

    def _move(self, conn, message_id: int, status: Status, now: float, **columns) -> sqlite3.Row:
        stamp = {Status.SENT: "sent_at", Status.FAILED: "failed_at",
                 Status.UNCONFIRMED: "unconfirmed_at"}.get(status)
        values = {"status": status.value, "updated_at": now, **columns}
        if stamp:
            values[stamp] = now
        assignments = ", ".join(f"{name} = ?" for name in values)
        row = conn.execute(f"UPDATE messages SET {assignments} WHERE id = ? AND status = 'sending' RETURNING *",
                           (*values.values(), message_id)).fetchone()
        if row is None:
            raise LookupError(f"message {message_id} is not being sent")
        return row

    # -- reading ---------------------------------------------------------------------------
    def message(self, message_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None:
        return (conn or self.db.conn).execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()

    def batch(self, batch_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None:
        return (conn or self.db.conn).execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()

    def by_tracking_id(self, tracking_id: str) -> sqlite3.Row | None:
        return self.db.conn.execute("SELECT * FROM messages WHERE tracking_id = ? ORDER BY id DESC LIMIT 1",
                                    (tracking_id,)).fetchone()

    def recent_batches(self, limit: int) -> list[sqlite3.Row]:
        return self.db.conn.execute("SELECT * FROM batches ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    def messages_of(self, batch_id: int) -> list[sqlite3.Row]:
        return self.db.conn.execute("SELECT * FROM messages WHERE batch_id = ? ORDER BY id",
                                    (batch_id,)).fetchall()

    def depth(self) -> int:
        """Messages waiting to be sent (queued or being sent)."""
        return self.db.conn.execute(
            "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')").fetchone()[0]

    def oldest_queued_at(self) -> float | None:
        return self.db.conn.execute(
            "SELECT min(queued_at) FROM messages WHERE status IN ('queued', 'sending')").fetchone()[0]

    def next_due_at(self) -> float | None:
        return self.db.conn.execute(
            "SELECT min(next_attempt_at) FROM messages WHERE status = 'queued'").fetchone()[0]
