"""Saved message templates, by name (the rules of group names). Knows nothing of Slack."""

from __future__ import annotations

import difflib
import sqlite3

from bot.storage.db import Database


class TemplateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, name: str, text: str, by: str, now: float) -> bool:
        """Store (or replace) a template; True when it is new."""
        with self.db.transaction() as conn:
            existed = conn.execute("SELECT 1 FROM templates WHERE name = ?", (name,)).fetchone() is not None
            conn.execute(
                "INSERT INTO templates (name, text, created_at, created_by) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET text = excluded.text, created_at = excluded.created_at, "
                "created_by = excluded.created_by",
                (name, text, now, by),
            )
        return not existed

    def remove(self, name: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM templates WHERE name = ?", (name,)).rowcount == 1

    def get(self, name: str) -> sqlite3.Row | None:
        return self.db.conn.execute("SELECT * FROM templates WHERE name = ?", (name,)).fetchone()

    def all(self) -> list[sqlite3.Row]:
        return self.db.conn.execute("SELECT * FROM templates ORDER BY name").fetchall()

    def unknown(self, name: str) -> str:
        """The sentence for a template that does not exist, with the closest names."""
        names = [row["name"] for row in self.all()]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
        return f"There is no template ‘{name}’.{hint} See them with `/sms template list`."
