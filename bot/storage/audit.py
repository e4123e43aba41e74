"""The admin audit log (``audit_log``): who changed access, the do-not-contact list or a group, what,
when, with which arguments. Kept until removed by hand; retention does not touch it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.storage.db import Database


@dataclass(frozen=True)
class AuditEntry:
    at: float
    user_id: str
    action: str
    args: str


class Audit:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def record(conn: sqlite3.Connection, user_id: str, action: str, args: str, now: float) -> None:
        """One admin action, in the caller's transaction (so it is recorded exactly when it happened)."""
        conn.execute(
            "INSERT INTO audit_log (at, user_id, action, args) VALUES (?, ?, ?, ?)", (now, user_id, action, args)
        )

    def recent(self, limit: int) -> list[AuditEntry]:
        """The last ``limit`` entries, newest first."""
        return [
            AuditEntry(*row)
            for row in self.db.conn.execute(
                "SELECT at, user_id, action, args FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
            )
        ]
