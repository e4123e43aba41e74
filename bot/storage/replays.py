"""Slack requests already accepted, kept for their signature's 5-minute window: a repeat gets the first answer."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.storage.db import Database

WINDOW_SECONDS = 300  # Slack's signature check accepts a request this long either side of its timestamp
MARGIN_SECONDS = 60


@dataclass(frozen=True)
class Answer:
    """What we answered the first time; ``status`` None while that request is still being handled."""

    status: int | None
    content_type: str
    body: bytes


class Replays:
    """Durable, so a restart does not forget what it accepted (table ``slack_requests``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, key: str, request_ts: float, now: float) -> Answer | None:
        """None when ``key`` is new (it is now remembered); else what the first one was answered."""
        with self.db.transaction() as conn:
            self.forget_expired(conn, now)
            row = self._get(conn, key)
            if row is not None:
                return row
            expires = max(request_ts, now) + WINDOW_SECONDS + MARGIN_SECONDS
            conn.execute(
                "INSERT INTO slack_requests(key, received_at, expires_at) VALUES (?, ?, ?)", (key, now, expires)
            )
        return None

    @staticmethod
    def forget_expired(conn: sqlite3.Connection, now: float) -> int:
        """Drop the answers past their window (they quote numbers and texts); in the caller's transaction.
        Each new request does it, and so does the daily retention pass, for a bot that goes quiet."""
        return conn.execute("DELETE FROM slack_requests WHERE expires_at < ?", (now,)).rowcount

    def answered(self, key: str, status: int, content_type: str, body: bytes) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE slack_requests SET status = ?, content_type = ?, body = ? WHERE key = ?",
                (status, content_type, body, key),
            )

    def answer(self, key: str) -> Answer | None:
        return self._get(self.db.conn, key)

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str) -> Answer | None:
        row = conn.execute("SELECT status, content_type, body FROM slack_requests WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return Answer(row["status"], row["content_type"] or "", bytes(row["body"] or b""))
