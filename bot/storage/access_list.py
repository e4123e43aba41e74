"""Allow-list entries added from Slack (``access_entries``): users and channels that may use smsbot
besides those in SMSBOT_ALLOWED_USERS and SMSBOT_ALLOWED_CHANNELS; and which lists an admin emptied
from Slack (``access_modes``), which then mean "admins only" until opened again. Knows nothing of Slack."""

from __future__ import annotations

import sqlite3

from bot.storage.db import Database

USER, CHANNEL = "user", "channel"


class AccessList:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ids(self, kind: str) -> frozenset[str]:
        return frozenset(r[0] for r in self.db.conn.execute("SELECT id FROM access_entries WHERE kind = ?", (kind,)))

    def lists(self) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
        """Every kind's ids and the kinds emptied from Slack and not opened since, in one read (a send's
        access check asks for both lists at each door: one round trip, not four)."""
        ids: dict[str, set[str]] = {USER: set(), CHANNEL: set()}
        closed: set[str] = set()
        for what, kind, entry_id in self.db.conn.execute(
            "SELECT 'entry', kind, id FROM access_entries UNION ALL SELECT 'closed', kind, NULL FROM access_modes"
        ):
            if what == "closed":
                closed.add(kind)
            else:
                ids.setdefault(kind, set()).add(entry_id)
        return {kind: frozenset(found) for kind, found in ids.items()}, frozenset(closed)

    def entries(self) -> list[tuple[str, str, str | None, float]]:
        """(kind, id, added_by, added_at) of every entry, oldest first."""
        return [
            tuple(r)
            for r in self.db.conn.execute(
                "SELECT kind, id, added_by, added_at FROM access_entries ORDER BY added_at, id"
            )
        ]

    @staticmethod
    def allow(conn: sqlite3.Connection, kind: str, entry_id: str, by: str, now: float) -> bool:
        """True when added, False when it was there already."""
        return (
            conn.execute(
                "INSERT INTO access_entries (kind, id, added_by, added_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (kind, entry_id, by, now),
            ).rowcount
            == 1
        )

    @staticmethod
    def deny(conn: sqlite3.Connection, kind: str, entry_id: str) -> bool:
        """True when removed, False when it was not there."""
        return conn.execute("DELETE FROM access_entries WHERE kind = ? AND id = ?", (kind, entry_id)).rowcount == 1

    def closed(self, kind: str) -> bool:
        """Whether the list was emptied from Slack and not opened since (then it lets nobody but admins in)."""
        return self.db.conn.execute("SELECT 1 FROM access_modes WHERE kind = ?", (kind,)).fetchone() is not None

    @staticmethod
    def close(conn: sqlite3.Connection, kind: str, by: str, now: float) -> None:
        conn.execute(
            "INSERT INTO access_modes (kind, closed_by, closed_at) VALUES (?, ?, ?) ON CONFLICT (kind) DO UPDATE "
            "SET closed_by = excluded.closed_by, closed_at = excluded.closed_at",
            (kind, by, now),
        )

    @staticmethod
    def open(conn: sqlite3.Connection, kind: str) -> int:
        """Back to "everyone": the kind's entries added from Slack go, and the list is no longer closed.
        How many entries were removed."""
        conn.execute("DELETE FROM access_modes WHERE kind = ?", (kind,))
        return conn.execute("DELETE FROM access_entries WHERE kind = ?", (kind,)).rowcount

    @staticmethod
    def count(conn: sqlite3.Connection, kind: str) -> int:
        return conn.execute("SELECT count(*) FROM access_entries WHERE kind = ?", (kind,)).fetchone()[0]
