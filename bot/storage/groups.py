"""Named groups of phone numbers. Knows nothing of Slack."""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from bot.sms.names import GroupError
from bot.storage.db import Database


@dataclass(frozen=True)
class Change:
    added: list[str]
    already: list[str]
    created: bool


class GroupStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        name: str,
        numbers: list[str],
        by: str,
        now: float,
        *,
        record: Callable[[sqlite3.Connection, list[str]], None] | None = None,
    ) -> Change:
        """Create the group if needed and add numbers (already normalised); ``record(conn, added)``
        runs in the same transaction (the audit log)."""
        with self.db.transaction() as conn:
            created = (
                conn.execute(
                    "INSERT INTO groups (name, created_at, created_by) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (name, now, by),
                ).rowcount
                == 1
            )
            added: list[str] = []
            already: list[str] = []
            for number in numbers:
                cur = conn.execute(
                    "INSERT INTO group_members (group_name, number, added_at, added_by) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (name, number, now, by),
                )
                (added if cur.rowcount == 1 else already).append(number)
            if record is not None:
                record(conn, added)
        return Change(added, already, created)

    def remove(
        self,
        name: str,
        numbers: list[str] | None,
        *,
        record: Callable[[sqlite3.Connection, list[str]], None] | None = None,
    ) -> list[str]:
        """Remove numbers (or, with None, the whole group); returns the numbers that were removed.
        ``record(conn, removed)`` runs in the same transaction (the audit log)."""
        with self.db.transaction() as conn:
            if not self._exists(conn, name):
                raise GroupError(self.unknown(name))
            if numbers is None:
                removed = [
                    r[0]
                    for r in conn.execute(
                        "SELECT number FROM group_members WHERE group_name = ? ORDER BY added_at, number", (name,)
                    )
                ]
                conn.execute("DELETE FROM group_members WHERE group_name = ?", (name,))
                conn.execute("DELETE FROM groups WHERE name = ?", (name,))
            else:
                removed = [
                    n
                    for n in numbers
                    if conn.execute("DELETE FROM group_members WHERE group_name = ? AND number = ?", (name, n)).rowcount
                ]
            if record is not None:
                record(conn, removed)
            return removed

    def sizes(self) -> list[tuple[str, int]]:
        return [
            (r[0], r[1])
            for r in self.db.conn.execute(
                "SELECT g.name, count(m.number) FROM groups g LEFT JOIN group_members m ON m.group_name = g.name "
                "GROUP BY g.name ORDER BY g.name"
            )
        ]

    def members(self, name: str) -> list[str] | None:
        """The group's numbers in the order they were added, or None if there is no such group."""
        conn = self.db.conn
        if not self._exists(conn, name):
            return None
        return [
            r[0]
            for r in conn.execute(
                "SELECT number FROM group_members WHERE group_name = ? ORDER BY added_at, rowid", (name,)
            )
        ]

    def unknown(self, name: str) -> str:
        """The sentence for a name that is not a group, suggesting the closest one."""
        names = [n for n, _ in self.sizes()]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = (
            f" Did you mean `{close[0]}`?"
            if close
            else (" See `/sms group list`." if names else " Create it with `/sms group add NAME NUMBERS`.")
        )
        return f"There is no group called ‘{name}’.{hint}"

    @staticmethod
    def _exists(conn: sqlite3.Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM groups WHERE name = ?", (name,)).fetchone() is not None
