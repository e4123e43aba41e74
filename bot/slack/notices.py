"""What the rest of the bot calls to have something shown in Slack, durably: each call adds
outbox jobs inside the caller's transaction and wakes the notifier once that commits.
Nothing here waits on Slack."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping

from bot.slack import render
from bot.slack.posts import SlackPosts
from bot.sms import dlr
from bot.storage.outbox import JobKind, Outbox

log = logging.getLogger(__name__)

ROUTINE_STATUSES = (dlr.SUBMITTED, dlr.DELIVERED)  # progress, not news, on a long list
PROBLEM_STATUSES = (dlr.FAILED, dlr.NO_ROUTE)
DIGEST_SECONDS = 5.0  # on a long list, failures are told at most once per this many seconds per send


def _key(batch_id: int) -> str:
    return f"batch:{batch_id}"


class SlackNotices:
    def __init__(self, outbox: Outbox, posts: SlackPosts, wake: Callable[[], None] = lambda: None) -> None:
        self.outbox = outbox
        self.posts = posts
        self.wake = wake

    def changed(self, conn: sqlite3.Connection, batch_id: int, now: float) -> None:
        """The send's status message must show a change: one coalesced edit."""
        self.outbox.add(conn, JobKind.STATUS, now, key=_key(batch_id), batch_id=batch_id)
        self.outbox.db.on_commit(self.wake)

    def _long(self, conn: sqlite3.Connection, batch_id: int) -> bool:
        return (
            conn.execute("SELECT recipients FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]
            > render.LIST_EACH_UP_TO
        )

    def _problem(self, conn: sqlite3.Connection, batch_id: int, now: float, payload: dict) -> None:
        """A failure to tell in the thread: its own reply on a short list; on a long one, counted in a
        digest that goes out at most every DIGEST_SECONDS, so one send never floods its channel."""
        if self._long(conn, batch_id):
            self.outbox.add(
                conn, JobKind.DIGEST, now, key=_key(batch_id), batch_id=batch_id, not_before=now + DIGEST_SECONDS
            )
        else:
            self.outbox.add(conn, JobKind.REPLY, now, batch_id=batch_id, payload=payload)

    @staticmethod
    def _first_missed(conn: sqlite3.Connection, batch_id: int) -> bool:
        return (
            conn.execute(
                "SELECT count(*) FROM messages WHERE batch_id = ? AND status = 'missed'", (batch_id,)
            ).fetchone()[0]
            == 1
        )

    def batch_created(self, conn: sqlite3.Connection, batch_id: int, origin: Mapping, now: float) -> None:
        self.posts.create(conn, batch_id, origin)
        self.outbox.add(conn, JobKind.POST, now, key=_key(batch_id), batch_id=batch_id)
        self.outbox.db.on_commit(self.wake)

    def send_event(self, conn: sqlite3.Connection, event: str, message: sqlite3.Row) -> None:
        """A message changed state (called inside the transaction that changed it)."""
        now, batch_id = message["updated_at"], message["batch_id"]
        self.changed(conn, batch_id, now)
        if event == "sent":
            self._tracking_reused(conn, message, now)
        if event == "failed":
            self._problem(conn, batch_id, now, {"event": event, "message_id": message["id"]})
        elif event == "missed" and self._first_missed(conn, batch_id) or event == "unconfirmed":  # told once per send
            self.outbox.add(
                conn, JobKind.REPLY, now, batch_id=batch_id, payload={"event": event, "message_id": message["id"]}
            )

    def _tracking_reused(self, conn: sqlite3.Connection, message: sqlite3.Row, now: float) -> None:
        """The gateway gave this SMS a tracking number another SMS already had: delivery reports cannot
        tell them apart, so both threads say so (each names the other)."""
        others = conn.execute(
            "SELECT DISTINCT m.id, m.batch_id FROM attempts a JOIN messages m ON m.id = a.message_id "
            "WHERE a.tracking_id = ? AND a.message_id != ? ORDER BY m.id",
            (message["tracking_id"], message["id"]),
        ).fetchall()
        for other in others:
            log.warning(
                "event=tracking_reused tracking=%s message=%d earlier_message=%d",
                message["tracking_id"],
                message["id"],
                other["id"],
            )
            for batch_id, about, also in (
                (message["batch_id"], message["id"], other["id"]),
                (other["batch_id"], other["id"], message["id"]),
            ):
                payload = {"event": "tracking_reused", "message_id": about, "other_id": also}
                self.outbox.add(conn, JobKind.REPLY, now, batch_id=batch_id, payload=payload)

    def report(self, conn: sqlite3.Connection, outcome: str, message: sqlite3.Row, report: sqlite3.Row) -> None:
        """A delivery report changed a message (``applied``) or revealed an unconfirmed one (``adopted``).

        The status message is edited every time. The thread gets one reply per change on short
        lists; on long lists (more than render.LIST_EACH_UP_TO recipients) routine progress is only
        counted in the status message and failures are grouped into digests: at Slack's pace of about
        one post a second, 1,000 recipients would otherwise fill the thread for half an hour.
        """
        now, batch_id = message["updated_at"], message["batch_id"]
        self.changed(conn, batch_id, now)
        payload = {"event": outcome, "message_id": message["id"], "report_id": report["id"]}
        if outcome == "applied" and report["status_id"] in PROBLEM_STATUSES:
            self._problem(conn, batch_id, now, payload)
        elif not (outcome == "applied" and report["status_id"] in ROUTINE_STATUSES and self._long(conn, batch_id)):
            self.outbox.add(conn, JobKind.REPLY, now, batch_id=batch_id, payload=payload)

    def resent(self, conn: sqlite3.Connection, message: sqlite3.Row, user_id: str) -> None:
        """Someone queued an unconfirmed or failed message again."""
        now, batch_id = message["updated_at"], message["batch_id"]
        self.changed(conn, batch_id, now)
        self.outbox.add(
            conn,
            JobKind.REPLY,
            now,
            batch_id=batch_id,
            payload={"event": "resent", "message_id": message["id"], "user_id": user_id},
        )

    def alert(self, conn: sqlite3.Connection, channel: str, kind: str, data: dict, now: float) -> None:
        """A balance-watch alert for the alert channel."""
        self.outbox.add(conn, JobKind.ALERT, now, channel=channel, payload={"kind": kind, "data": data})
        self.outbox.db.on_commit(self.wake)

    def respond(self, conn: sqlite3.Connection, url: str, content: dict, now: float) -> None:
        self.outbox.add(conn, JobKind.RESPOND, now, payload={"url": url, "content": content})
        self.outbox.db.on_commit(self.wake)
