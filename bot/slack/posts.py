"""Where each send shows in Slack: the conversation it came from, its status message and its
response_url. The Slack side's own table (``slack_posts``, one row per batch); the queue knows
nothing of it, and every change to it is made here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

from bot.sms import dlr
from bot.storage import SqlEnum
from bot.storage.db import Database
from bot.usecases.access import Viewer

# The Slack fields of a send's origin; the requester (user_id, user_name) belongs to the batch.
SLACK_FIELDS = ("team_id", "channel_id", "channel_name", "response_url")
ORIGIN_FIELDS = ("user_id", "user_name", *SLACK_FIELDS)


class PostedWhere(SqlEnum):
    CHANNEL = "channel"  # in the channel where the command was typed
    DM = "dm"  # in the requester's DM, because the channel refused
    NOWHERE = "nowhere"  # Slack refused every place: updates and replies are dropped


def origin_of(source: Mapping) -> dict:
    """The origin fields of a slash command, a form's metadata or a stored origin."""
    return {name: source.get(name) for name in ORIGIN_FIELDS}


class SlackPosts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, conn: sqlite3.Connection, batch_id: int, origin: Mapping) -> None:
        """Inside the transaction that queues the batch."""
        conn.execute(
            f"INSERT INTO slack_posts (batch_id, {', '.join(SLACK_FIELDS)}) VALUES (?, ?, ?, ?, ?)",
            (batch_id, *(origin.get(name) for name in SLACK_FIELDS)),
        )

    def posted(self, conn: sqlite3.Connection, batch_id: int, channel: str, ts: str, where: PostedWhere) -> None:
        conn.execute(
            "UPDATE slack_posts SET status_channel = ?, status_ts = ?, posted_where = ? WHERE batch_id = ?",
            (channel, ts, where.value, batch_id),
        )

    def nowhere(self, conn: sqlite3.Connection, batch_id: int) -> None:
        conn.execute(
            "UPDATE slack_posts SET posted_where = ? WHERE batch_id = ?", (PostedWhere.NOWHERE.value, batch_id)
        )

    def batch(self, batch_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None:
        """The batch with where it shows in Slack (one row: batches.* and slack_posts.*)."""
        return (
            (conn or self.db.conn)
            .execute(
                "SELECT b.*, s.team_id, s.channel_id, s.channel_name, s.response_url, s.status_channel, s.status_ts, "
                "s.posted_where FROM batches b LEFT JOIN slack_posts s ON s.batch_id = b.id WHERE b.id = ?",
                (batch_id,),
            )
            .fetchone()
        )

    # -- who sees which send: the one rule, for every door that shows sends -----------------------------
    @staticmethod
    def seen_by(viewer: Viewer) -> tuple[str, tuple]:
        """The sends ``viewer`` may see, as a condition over ``batches b LEFT JOIN slack_posts s`` and its
        parameters. Admins see every send; anyone else the sends they requested and those requested in
        the channel where they ask (whose status message is there for all to read). Without a channel
        (the App Home tab), their own only. A send not seen is answered as one that does not exist."""
        if viewer.admin:
            return "TRUE", ()
        return "(b.user_id = ? OR s.channel_id = ?)", (viewer.user_id, viewer.channel_id)

    def recent(self, viewer: Viewer, limit: int) -> list[sqlite3.Row]:
        """The last sends ``viewer`` may see, newest first (batches rows)."""
        where, params = self.seen_by(viewer)
        return self.db.conn.execute(
            f"SELECT b.* FROM batches b LEFT JOIN slack_posts s ON s.batch_id = b.id WHERE {where} "
            "ORDER BY b.id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()

    def visible(self, viewer: Viewer, batch_ids: Iterable[int]) -> set[int]:
        """Those of these sends ``viewer`` may see."""
        where, params = self.seen_by(viewer)
        ids = [int(i) for i in dict.fromkeys(batch_ids)]
        found: set[int] = set()
        for start in range(0, len(ids), 500):  # SQLite's variable limit
            chunk = ids[start : start + 500]
            found.update(
                row[0]
                for row in self.db.conn.execute(
                    "SELECT b.id FROM batches b LEFT JOIN slack_posts s ON s.batch_id = b.id "
                    f"WHERE b.id IN ({', '.join('?' * len(chunk))}) AND {where}",
                    (*chunk, *params),
                )
            )
        return found

    # -- a long list's failures, told in digests (see bot/slack/notices.py) ----------------------------
    def undigested_failures(self, batch_id: int) -> list[sqlite3.Row]:
        """Messages of the send that failed (to send, or to be delivered) and no digest has told yet."""
        return self.db.conn.execute(
            "SELECT m.id, m.recipient FROM messages m WHERE m.batch_id = ? "
            f"AND (m.status = 'failed' OR m.dlr_status_id IN ({dlr.FAILED}, {dlr.NO_ROUTE})) "
            "AND NOT EXISTS (SELECT 1 FROM slack_digested d WHERE d.batch_id = m.batch_id AND d.message_id = m.id) "
            "ORDER BY m.id",
            (batch_id,),
        ).fetchall()

    def mark_digested(self, conn: sqlite3.Connection, batch_id: int, message_ids: list[int]) -> None:
        conn.executemany(
            "INSERT INTO slack_digested (batch_id, message_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(batch_id, mid) for mid in message_ids],
        )
