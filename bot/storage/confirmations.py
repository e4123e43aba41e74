"""Costly sends waiting for their requester's confirmation. Knows nothing of Slack.

A pending send is created instead of queuing; ``decide`` turns it into a queued
batch (or a cancellation) exactly once, only for the requester, only before it
expires — all inside the caller's transaction.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass

from bot.sms.plan import SendPlan
from bot.storage.db import Database

CONFIRM_SECONDS = 600


@dataclass(frozen=True)
class Decision:
    """What a Send/Cancel click did: verdict "ok", "unknown", "not_yours", "expired", "sent", "cancelled"
    or "refused" (the gate refused it: access or a daily limit, ``refusal`` says why; the preview stays)."""

    verdict: str
    plan: SendPlan | None = None
    requester: str | None = None
    batch_id: int | None = None
    refusal: str | None = None


class PendingSends:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, plan: SendPlan, origin: dict, now: float) -> str:
        pending_id = secrets.token_urlsafe(12)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO pending_sends (id, created_at, expires_at, user_id, channel_id, plan, origin, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                (
                    pending_id,
                    now,
                    now + CONFIRM_SECONDS,
                    origin.get("user_id"),
                    origin.get("channel_id"),
                    plan.to_json(),
                    json.dumps(origin),
                ),
            )
        return pending_id

    @staticmethod
    def origin(row: sqlite3.Row) -> dict:
        """Where the held send was asked from, as given to ``create``."""
        return json.loads(row["origin"])

    def decide(
        self, conn: sqlite3.Connection, pending_id: str, user_id: str, now: float, send: bool
    ) -> tuple[str, sqlite3.Row | None]:
        """Returns (verdict, row): verdict is "ok", "unknown", "not_yours", "expired", "sent" or "cancelled"."""
        row = conn.execute("SELECT * FROM pending_sends WHERE id = ?", (pending_id,)).fetchone()
        if row is None:
            return "unknown", None
        if row["user_id"] != user_id:
            return "not_yours", row
        if row["state"] != "pending":
            return row["state"], row
        if now >= row["expires_at"]:
            conn.execute("UPDATE pending_sends SET state = 'expired', decided_at = ? WHERE id = ?", (now, pending_id))
            return "expired", row
        conn.execute(
            "UPDATE pending_sends SET state = ?, decided_at = ? WHERE id = ? AND state = 'pending'",
            ("sent" if send else "cancelled", now, pending_id),
        )
        return "ok", row

    def attach(self, conn: sqlite3.Connection, pending_id: str, batch_id: int) -> None:
        conn.execute("UPDATE pending_sends SET batch_id = ? WHERE id = ?", (batch_id, pending_id))
