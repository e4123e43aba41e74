"""Every Slack write goes through the outbox and this one notifier thread.

``SlackNotices`` is called inside the transactions that change a send (by the
command handler and the sender thread) and adds outbox jobs; nothing there
waits on Slack. ``Notifier`` works the jobs off:

- ``post``: the status message of a send, in the channel where the command was
  typed (``chat:write.public`` covers public channels). Where the bot may not post
  (a private channel it is not in, someone else's DM) it posts in the requester's
  DM with the app instead, and tells them where, with advice that fits that kind
  of conversation.
- ``status``: ``chat.update`` of that message (coalesced: one job per send).
- ``reply``: a thread reply under it (a failure, an unconfirmed send, …).
- ``respond``: a message to the person, through the command's response_url.

Transient failures (Slack down, 5xx, timeouts, 429 with Retry-After, auth
trouble an operator can fix) are retried with backoff and never dropped;
posts to one channel are paced to about one a second.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.storage.outbox import Outbox
from bot.redact import redact
from bot.storage.queue import SendQueue
from bot.workers.backoff import backoff_delay
from bot.slack import render
from bot.workers.loop import Worker

log = logging.getLogger(__name__)

CHANNEL_PACE_SECONDS = 1.0
KEEP_DONE_JOBS_SECONDS = 7 * 86400   # finished outbox rows are kept a week for inspection
PURGE_EVERY_SECONDS = 3600
# Errors that go away by themselves or once an operator fixes the token/scopes:
# keep the job and try again later. Any other Slack error is final for that job.
TRANSIENT_ERRORS = frozenset({
    "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "team_not_found",
})
NEEDS_STATUS_MESSAGE = ("status", "reply")
ROUTINE_STATUSES = (100, 200)   # submitted, delivered: progress, not news, on a long list


class Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class SlackNotices:
    """What the rest of the bot calls to have something shown in Slack, durably."""

    def __init__(self, outbox: Outbox, wake: Callable[[], None] = lambda: None) -> None:
        self.outbox = outbox
        self.wake = wake

    def batch_created(self, conn: sqlite3.Connection, batch_id: int, now: float) -> None:
        self.outbox.add(conn, "post", now, key=f"batch:{batch_id}", batch_id=batch_id)

    def send_event(self, conn: sqlite3.Connection, event: str, message: sqlite3.Row) -> None:
        """A message changed state (called inside the transaction that changed it)."""
        now, batch_id = message["updated_at"], message["batch_id"]
        self.outbox.add(conn, "status", now, key=f"batch:{batch_id}", batch_id=batch_id)
        if event in ("failed", "unconfirmed"):
            self.outbox.add(conn, "reply", now, batch_id=batch_id,
                            payload={"event": event, "message_id": message["id"]})
        self.wake()

    def report(self, conn: sqlite3.Connection, outcome: str, message: sqlite3.Row, report: sqlite3.Row) -> None:
        """A delivery report changed a message (``applied``) or revealed an unconfirmed one (``adopted``).

        The status message is edited every time. The thread gets one reply per change, except
        that on long lists (more than render.LIST_EACH_UP_TO recipients) routine progress
        (submitted, delivered) is only counted in the status message: at Slack's pace of about
        one post a second, 1,000 recipients would otherwise fill the thread for half an hour.
        """
        now, batch_id = message["updated_at"], message["batch_id"]
        self.outbox.add(conn, "status", now, key=f"batch:{batch_id}", batch_id=batch_id)
        routine = outcome == "applied" and report["status_id"] in ROUTINE_STATUSES
        if not (routine and _recipients(conn, batch_id) > render.LIST_EACH_UP_TO):
            self.outbox.add(conn, "reply", now, batch_id=batch_id,
                            payload={"event": outcome, "message_id": message["id"], "report_id": report["id"]})
        self.wake()

    def resent(self, conn: sqlite3.Connection, message: sqlite3.Row, user_id: str) -> None:
        """Someone queued an unconfirmed or failed message again."""
        now, batch_id = message["updated_at"], message["batch_id"]
        self.outbox.add(conn, "status", now, key=f"batch:{batch_id}", batch_id=batch_id)
        self.outbox.add(conn, "reply", now, batch_id=batch_id,
                        payload={"event": "resent", "message_id": message["id"], "user_id": user_id})
        self.wake()

    def alert(self, conn: sqlite3.Connection, channel: str, kind: str, data: dict, now: float) -> None:
        """A balance-watch alert for the alert channel."""
        self.outbox.add(conn, "alert", now, channel=channel, payload={"kind": kind, "data": data})
        self.wake()

    def respond(self, conn: sqlite3.Connection, url: str, content: dict, now: float) -> None:
        self.outbox.add(conn, "respond", now, payload={"url": url, "content": content})


class Notifier(Worker):
    name = "notifier"

    def __init__(self, queue: SendQueue, outbox: Outbox, client: WebClient, *,
                 observe: Callable[[str, str], None] = lambda kind, result: None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.observe = observe  # observe(kind, result) after each Slack write: ok, retry or failed
        self.queue = queue
        self.outbox = outbox
        self.db = outbox.db
        self.client = client
        self.failures = 0
        self.paused_until = 0.0
        self._last_write: dict[tuple[str, bool], float] = {}
        self._soonest = self.idle_poll
        self._blocked = False   # the last pass found only jobs waiting for pacing or a pause
        self._last_purge = float("-inf")

    # -- the loop ----------------------------------------------------------------------------
    def wait_time(self, now: float) -> float:
        """Sleep until the next thing that can happen: a paced lane opening, a pause ending, a retry."""
        candidates = [self._soonest]
        if self.paused_until > now:
            candidates.append(self.paused_until - now)
        due = self.outbox.next_due_at()
        if due is not None and due > now:
            candidates.append(due - now)
        return max(0.01, min(candidates))

    def _sleep(self, seconds: float) -> None:
        # While every due job waits for a paced lane or a pause, wakes (one per change to a
        # send) bring nothing new: sleep through them instead of re-reading the outbox.
        if self._blocked:
            self._stop.wait(seconds)
        else:
            super()._sleep(seconds)

    def run_once(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        self._soonest, self._blocked = self.idle_poll, False
        if now - self._last_purge >= PURGE_EVERY_SECONDS:
            self._last_purge = now
            self.outbox.purge(now - KEEP_DONE_JOBS_SECONDS)
        if now < self.paused_until:
            self._blocked = True
            return False
        for job in self.outbox.due(now):
            if job["kind"] in NEEDS_STATUS_MESSAGE and job["status_ts"] is None:
                if job["posted_where"] == "nowhere":
                    self.outbox.done(job["id"], now, state="dropped", error="the status message could not be posted")
                continue  # wait for the status message to be posted
            channel = job["status_channel"] or job["origin_channel"] or job["channel"] or "-"
            # New messages and edits are paced separately: Slack's ~1 message/s per channel
            # is about posting; an edit need not wait behind a queue of thread replies.
            lane = (channel, job["kind"] == "status")
            ready_at = self._last_write.get(lane, float("-inf")) + CHANNEL_PACE_SECONDS
            if ready_at > now:
                self._soonest = min(self._soonest, ready_at - now)
                self._blocked = True
                continue
            batch = self.queue.batch(job["batch_id"]) if job["batch_id"] is not None else None
            self._run(job, batch, channel, now)
            self._last_write[lane] = now
            return True
        return False

    def _run(self, job: sqlite3.Row, batch: sqlite3.Row | None, channel: str, now: float) -> None:
        self.outbox.start(job["id"])
        kind = job["kind"]
        try:
            getattr(self, f"_do_{kind}")(job, batch)
        except Transient as problem:
            self.failures += 1
            delay = problem.retry_after if problem.retry_after is not None else backoff_delay(self.failures, first=1.0)
            self.paused_until = now + delay
            self.outbox.retry(job["id"], str(problem), now + delay)
            log.warning("event=slack_retry job=%d kind=%s error=%s retry_in=%.1f", job["id"], kind,
                        redact(problem), delay)
            self.observe(kind, "retry")
            return
        except SlackApiError as error:
            reason = error.response.get("error", "unknown_error")
            self.outbox.done(job["id"], self.clock(), state="failed", error=reason)
            if kind == "post":  # nowhere to show this send: its updates and replies are dropped
                self.db.conn.execute("UPDATE batches SET posted_where = 'nowhere' WHERE id = ?", (batch["id"],))
            log.error("event=slack_failed job=%d kind=%s channel=%s error=%s", job["id"], kind, channel, reason)
            self.observe(kind, "failed")
        except Exception as error:  # a bug or bad stored data: retrying would fail the same way
            self.outbox.done(job["id"], self.clock(), state="failed", error=type(error).__name__)
            log.exception("event=slack_job_crashed job=%d kind=%s", job["id"], kind)
            self.observe(kind, "failed")
        else:
            self.outbox.done(job["id"], self.clock())
            log.info("event=slack_done job=%d kind=%s channel=%s", job["id"], kind, channel)
            self.observe(kind, "ok")
        self.failures = 0

    # -- Slack calls, each raising Transient for what is worth retrying ---------------------
    def _call(self, method: str, **kwargs) -> dict:
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as error:
            status = error.response.status_code
            data = error.response.data if isinstance(error.response.data, dict) else {}
            code = data.get("error", f"http_{status}")
            if status == 429:
                raise Transient(f"rate limited ({code})", _retry_after(error.response.headers)) from None
            if status >= 500 or code in TRANSIENT_ERRORS:
                raise Transient(f"Slack answered {code} (HTTP {status})") from None
            raise
        except Exception as error:  # network: refused, reset, timeout, DNS
            raise Transient(f"Slack unreachable: {type(error).__name__}: {redact(error)}") from None

    def _do_post(self, job: sqlite3.Row, batch: sqlite3.Row) -> None:
        content = render.status_message(batch, self.queue.messages_of(batch["id"]))
        channel = batch["channel_id"]
        try:
            response = self._post_in_channel(channel, content)
            where = "channel"
        except SlackApiError as error:
            code = error.response.get("error")
            if code not in ("channel_not_found", "not_in_channel", "method_not_supported_for_channel_type",
                            "is_archived", "restricted_action"):
                raise
            log.warning("event=status_moved_to_dm batch=%d channel=%s reason=%s", batch["id"], channel, code)
            dm = self._call("conversations_open", users=batch["user_id"])["channel"]["id"]
            note = f"Posted here because I can't post in <#{channel}> ({code})."
            content = render.status_message(batch, self.queue.messages_of(batch["id"]), note=note)
            response = self._call("chat_postMessage", channel=dm, **content)
            where = "dm"
        with self.db.transaction() as conn:
            conn.execute("UPDATE batches SET status_channel = ?, status_ts = ?, posted_where = ? WHERE id = ?",
                         (response["channel"], response["ts"], where, batch["id"]))
            # Changes that happened while the post was under way are rendered by a fresh update.
            self.outbox.add(conn, "status", self.clock(), key=f"batch:{batch['id']}", batch_id=batch["id"])
            if where == "dm" and batch["response_url"]:
                SlackNotices(self.outbox).respond(conn, batch["response_url"],
                                                  render.moved_to_dm(channel, batch["channel_name"] or "", code),
                                                  self.clock())

    def _post_in_channel(self, channel: str, content: dict) -> dict:
        # chat:write.public posts in any public channel without joining; a private one needs an invite.
        return self._call("chat_postMessage", channel=channel, **content)

    def _do_status(self, job: sqlite3.Row, batch: sqlite3.Row) -> None:
        note = ""
        if batch["posted_where"] == "dm":
            note = f"Posted here because I can't post in <#{batch['channel_id']}>."
        content = render.status_message(batch, self.queue.messages_of(batch["id"]), note=note)
        self._call("chat_update", channel=batch["status_channel"], ts=batch["status_ts"], **content)

    def _do_reply(self, job: sqlite3.Row, batch: sqlite3.Row) -> None:
        payload = Outbox.payload(job)
        row = self.queue.message(payload["message_id"])
        event = payload["event"]
        if event == "failed":
            content = render.failed_reply(batch, row)
        elif event == "unconfirmed":
            content = render.unconfirmed_reply(batch, row)
        elif event in ("applied", "adopted"):
            report = self.db.conn.execute("SELECT * FROM reports WHERE id = ?", (payload["report_id"],)).fetchone()
            content = render.report_reply(batch, row, report, adopted=event == "adopted")
        else:
            content = render.resent_reply(payload["user_id"], row["recipient"])
        self._call("chat_postMessage", channel=batch["status_channel"], thread_ts=batch["status_ts"], **content)

    def _do_alert(self, job: sqlite3.Row, batch: None) -> None:
        payload = Outbox.payload(job)
        self._post_in_channel(job["channel"], render.alert(payload["kind"], payload["data"]))

    def _do_respond(self, job: sqlite3.Row, batch: None) -> None:
        payload = Outbox.payload(job)
        try:
            response = WebhookClient(payload["url"], timeout=10).send_dict(payload["content"])
        except Exception as error:
            raise Transient(f"response_url unreachable: {type(error).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise Transient(f"response_url answered HTTP {response.status_code}")
        if response.status_code != 200:
            # Response URLs expire after 30 minutes: nothing more to do.
            log.warning("event=respond_gone status=%d", response.status_code)


def _recipients(conn: sqlite3.Connection, batch_id: int) -> int:
    return conn.execute("SELECT recipients FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]


def _retry_after(headers: dict) -> float:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(1.0, float(value))
            except ValueError:
                break
    return 1.0
