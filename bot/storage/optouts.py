"""The do-not-contact list (``opt_outs``): numbers that must never get an SMS. Knows nothing of Slack.

Numbers are stored in the gateway's digits-only form, as sends are. ``blocked`` is the one rule the
planner (typed numbers refused, group members skipped) and the sender (a queued SMS not sent) use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from bot.storage.db import Database


@dataclass(frozen=True)
class OptOut:
    number: str
    reason: str | None
    added_by: str | None
    added_at: float


class OptOuts:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the rule ----------------------------------------------------------------------------------
    def is_opted_out(self, number: str, conn: sqlite3.Connection | None = None) -> bool:
        return (conn or self.db.conn).execute(
            "SELECT 1 FROM opt_outs WHERE number = ?", (number,)
        ).fetchone() is not None

    def blocked(self, numbers: Iterable[str]) -> set[str]:
        """The numbers among ``numbers`` that are on the list."""
        numbers = list(dict.fromkeys(numbers))
        found: set[str] = set()
        for start in range(0, len(numbers), 500):  # SQLite's variable limit
            chunk = numbers[start : start + 500]
            found.update(
                r[0]
                for r in self.db.conn.execute(
                    f"SELECT number FROM opt_outs WHERE number IN ({', '.join('?' * len(chunk))})", chunk
                )
            )
        return found

    def reasons(self, numbers: Iterable[str]) -> dict[str, str | None]:
        blocked = self.blocked(numbers)
        return {e.number: e.reason for e in self.entries() if e.number in blocked} if blocked else {}

    # -- changes -----------------------------------------------------------------------------------
    def add(
        self, conn: sqlite3.Connection, numbers: Iterable[str], reason: str | None, by: str, now: float
    ) -> tuple[list[str], list[str]]:
        """(added, already on the list), in the caller's transaction."""
        added: list[str] = []
        already: list[str] = []
        for number in dict.fromkeys(numbers):
            cur = conn.execute(
                "INSERT INTO opt_outs (number, reason, added_by, added_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (number, reason or None, by, now),
            )
            (added if cur.rowcount == 1 else already).append(number)
        return added, already

    def remove(self, conn: sqlite3.Connection, numbers: Iterable[str]) -> tuple[list[str], list[str]]:
        """(removed, not on the list), in the caller's transaction."""
        removed: list[str] = []
        absent: list[str] = []
        for number in dict.fromkeys(numbers):
            cur = conn.execute("DELETE FROM opt_outs WHERE number = ?", (number,))
            (removed if cur.rowcount == 1 else absent).append(number)
        return removed, absent

    # -- reading -----------------------------------------------------------------------------------
    def entries(self) -> list[OptOut]:
        return [
            OptOut(*row)
            for row in self.db.conn.execute(
                "SELECT number, reason, added_by, added_at FROM opt_outs ORDER BY added_at, number"
            )
        ]

    def entry(self, number: str) -> OptOut | None:
        row = self.db.conn.execute(
            "SELECT number, reason, added_by, added_at FROM opt_outs WHERE number = ?", (number,)
        ).fetchone()
        return OptOut(*row) if row else None
