"""The one notifier thread: works the outbox off, so every Slack write is durable and paced.

Jobs (see ``bot/storage/outbox.py``), each run by the handler named in ``Notifier.handlers``:

- ``post``: the status message of a send, in the channel where the command was
  typed (``chat:write.public`` covers public channels). Where the bot may not post
  (a private channel it is not in, someone else's DM) it posts in the requester's
  DM with the app instead, and tells them where, with advice that fits that kind
  of conversation.
- ``status``: ``chat.update`` of that message (coalesced: one job per send).
- ``reply`` and ``digest``: a thread reply under it (one event, or a long list's grouped failures).
- ``alert``: a balance-watch alert; if the alert channel refuses, a DM to each admin.
- ``respond``: a message to the person, through the command's response_url.

Transient failures (Slack down or behind an HTML page, 5xx, timeouts, 429 with Retry-After,
auth trouble an operator can fix, and SQLite being busy, locked or read-only) are retried with
backoff and never dropped. Slack's answer to a post is remembered, so a retried store never posts
twice. A status message carries its job's id in its ``metadata``; when the answer to its post was
lost (a timeout, a broken connection: Slack may have posted it), the retry first looks for it in
the conversation's recent history (``conversations.history``, the ``*:history`` scopes) and takes
it from there. Where the history cannot be read, it is posted once more, at most: a status
message appears at most twice, and when that answer is lost too the post is given up (its edits and
replies with it). A job that can never succeed resolves the jobs waiting on it. Posts are paced to
about one a second per channel, and due jobs are chosen per channel, so a channel waiting on its pace never
hides another channel's work.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.redact import redact
from bot.slack import render, report_replies
from bot.slack.notices import SlackNotices
from bot.slack.posts import PostedWhere, SlackPosts
from bot.storage.errors import DatabaseError
from bot.storage.outbox import JobKind, JobState, Outbox
from bot.storage.queue import SendQueue
from bot.workers.backoff import backoff_delay
from bot.workers.loop import Worker

log = logging.getLogger(__name__)

CHANNEL_PACE_SECONDS = 1.0
KEEP_DONE_JOBS_SECONDS = 7 * 86400  # finished outbox rows are kept a week for inspection
PURGE_EVERY_SECONDS = 3600
DIGEST_NUMBERS = 7  # numbers named in a digest reply before "and N more"
# Errors that go away by themselves or once an operator fixes the token/scopes:
# keep the job and try again later. Any other Slack error is final for that job.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "team_not_found",
    }
)
NOT_JSON = "Received a response in a non-JSON format"  # slack_sdk's words for an HTML page
# The channel will not take the bot's post: show it in the requester's DM instead.
CHANNEL_REFUSALS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "method_not_supported_for_channel_type",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
    }
)


STATUS_EVENT = "smsbot_status"  # the metadata event_type of a status message
LOOKUP_MARGIN_SECONDS = 120  # a lost post is looked for from this long before it was made
POSTS_WITHOUT_LOOKUP = 2  # a status post whose answers were lost is made this often at most
# Slack's answers meaning "this token may not read that history" (anything else is retried).
HISTORY_REFUSALS = frozenset({"missing_scope", "not_allowed_token_type", "access_denied"})


class Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, maybe_done: bool = False, code: str = ""):
        super().__init__(reason)
        self.retry_after = retry_after
        self.maybe_done = maybe_done  # no answer came: Slack may have carried the call out
        self.code = code  # Slack's error code, when Slack answered


class PostLost(Exception):
    """A status post whose answers were lost too often to post it again, and that cannot be looked up."""


class Notifier(Worker):
    name = "notifier"

    def __init__(
        self,
        queue: SendQueue,
        outbox: Outbox,
        posts: SlackPosts,
        client: WebClient,
        *,
        admins: frozenset[str] = frozenset(),
        on_alert_lost: Callable[[sqlite3.Connection, str], None] = lambda conn, kind: None,
        observe: Callable[[str, str], None] = lambda kind, result: None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.queue, self.outbox, self.posts, self.db, self.client = queue, outbox, posts, outbox.db, client
        self.admins = admins
        self.on_alert_lost = on_alert_lost  # (conn, kind): an alert reached nobody; it is not raised
        self.observe = observe  # (kind, result) after each job: ok, retry or failed
        self.notices = SlackNotices(outbox, posts)
        self.handlers: dict[str, Callable[[sqlite3.Row, sqlite3.Row | None], None]] = {
            JobKind.POST.value: self._do_post,
            JobKind.STATUS.value: self._do_status,
            JobKind.REPLY.value: self._do_reply,
            JobKind.DIGEST.value: self._do_digest,
            JobKind.ALERT.value: self._do_alert,
            JobKind.RESPOND.value: self._do_respond,
        }
        self.failures = 0
        self.paused_until = 0.0
        self.last_progress = self.clock()  # when a job last finished (for /healthz's stall check)
        self.slack_answering = True  # the last Slack call got an answer from Slack itself
        self.alert_problem: str | None = None  # why the alert channel refused, while it does
        self._answers: dict[int, dict] = {}  # job id → Slack's answer to a post not yet stored
        self._lost: dict[int, tuple[int, str, float]] = {}  # job id → (posts whose answer was lost, where, when)
        self._unsaved: dict[int, Callable[[], None]] = {}  # outcomes the database refused, to store again
        self._last_write: dict[tuple[str, bool], float] = {}
        self._soonest = self.idle_poll
        self._blocked = False  # the last pass found only jobs waiting for pacing or a pause
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
        if now < self.paused_until:
            self._blocked = True
            return False
        try:
            self._store_unsaved()
            if now - self._last_purge >= PURGE_EVERY_SECONDS:
                self.outbox.purge(now - KEEP_DONE_JOBS_SECONDS)
                self._last_purge = now
            jobs = self.outbox.due(now)
        except DatabaseError as error:
            self._storage_trouble(error, now)
            return False
        for job in jobs:
            channel = job["status_channel"] or job["origin_channel"] or job["channel"] or "-"
            # New messages and edits are paced separately: Slack's ~1 message/s per channel
            # is about posting; an edit need not wait behind a queue of thread replies.
            lane = (channel, job["kind"] == JobKind.STATUS)
            ready_at = self._last_write.get(lane, float("-inf")) + CHANNEL_PACE_SECONDS
            if ready_at > now:
                self._soonest = min(self._soonest, ready_at - now)
                self._blocked = True
                continue
            self._run(job, channel, now)
            self._last_write[lane] = now
            return True
        return False

    def _run(self, job: sqlite3.Row, channel: str, now: float) -> None:
        job_id, kind = job["id"], job["kind"]
        try:
            if kind in (JobKind.STATUS, JobKind.REPLY, JobKind.DIGEST) and job["status_ts"] is None:
                # due only once its status message could not be posted anywhere
                self.outbox.finish(job_id, now, JobState.DROPPED, error="the status message could not be posted")
                return
            self.outbox.start(job_id)
            batch = self.posts.batch(job["batch_id"]) if job["batch_id"] is not None else None
            self.handlers[kind](job, batch)
        except Transient as problem:
            self._retry_later(job, str(problem), problem.retry_after, now)
            return
        except DatabaseError as error:  # busy, locked, read-only, disk I/O: not the job's fault
            self._storage_trouble(error, now)
            self._retry_later(job, f"database: {error}", None, now)
            return
        except SlackApiError as error:
            self._give_up(job, error.response.get("error", "unknown_error"), channel)
        except PostLost as error:
            self._give_up(job, str(error), channel)
        except Exception as error:  # a bug or bad stored data: retrying would fail the same way
            log.exception("event=slack_job_crashed job=%d kind=%s", job_id, kind)
            self._give_up(job, type(error).__name__, channel)
        else:
            self._settle(job_id, lambda: self.outbox.finish(job_id, self.clock()))
            log.info("event=slack_done job=%d kind=%s channel=%s", job_id, kind, channel)
            self.observe(kind, "ok")
        self.failures = 0
        self.last_progress = self.clock()

    def _retry_later(self, job: sqlite3.Row, reason: str, retry_after: float | None, now: float) -> None:
        self.failures += 1
        delay = retry_after if retry_after is not None else backoff_delay(self.failures, first=1.0)
        self.paused_until = now + delay
        self._settle(job["id"], lambda: self.outbox.retry(job["id"], reason, now + delay))
        log.warning(
            "event=slack_retry job=%d kind=%s error=%s retry_in=%.1f", job["id"], job["kind"], redact(reason), delay
        )
        self.observe(job["kind"], "retry")

    def _give_up(self, job: sqlite3.Row, reason: str, channel: str) -> None:
        """Final for this job; a post's dependants (its edits and replies) are dropped with it."""
        job_id, batch_id = job["id"], job["batch_id"]

        def store() -> None:
            with self.db.transaction() as conn:
                self.outbox.finish(job_id, self.clock(), JobState.FAILED, error=reason, conn=conn)
                if job["kind"] == JobKind.POST:
                    self.posts.nowhere(conn, batch_id)
                    dropped = self.outbox.drop_waiting(
                        conn, batch_id, self.clock(), "the status message could not be posted"
                    )
                    log.error("event=status_message_lost batch=%d dropped_jobs=%d", batch_id, dropped)
                elif job["kind"] == JobKind.ALERT:
                    self.on_alert_lost(conn, Outbox.payload(job)["kind"])

        self._settle(job_id, store)
        log.error("event=slack_failed job=%d kind=%s channel=%s error=%s", job_id, job["kind"], channel, reason)
        self.observe(job["kind"], "failed")

    def _settle(self, job_id: int, store: Callable[[], None]) -> None:
        """Store a job's outcome; if the database refuses, keep it and store it again before the next job."""
        try:
            store()
        except DatabaseError as error:
            self._unsaved[job_id] = store
            self._storage_trouble(error, self.clock())

    def _store_unsaved(self) -> None:
        for job_id, store in list(self._unsaved.items()):
            store()  # raises while the database still refuses; the rest wait their turn
            del self._unsaved[job_id]

    def _storage_trouble(self, error: Exception, now: float) -> None:
        self.failures += 1
        delay = backoff_delay(self.failures, first=1.0, cap=60.0)
        self.paused_until = max(self.paused_until, now + delay)
        log.warning("event=notifier_storage_error error=%s retry_in=%.1f", json.dumps(str(error)), delay)

    # -- Slack calls, each raising Transient for what is worth retrying ---------------------
    def _call(self, method: str, **kwargs) -> dict:
        try:
            result = getattr(self.client, method)(**kwargs)
        except SlackApiError as error:
            status = error.response.status_code
            data = error.response.data if isinstance(error.response.data, dict) else {}
            code = str(data.get("error") or f"http_{status}")
            if code.startswith(NOT_JSON):  # a proxy's or captive portal's page, not Slack
                self.slack_answering = False
                raise Transient(f"an HTML page answered instead of Slack (HTTP {status})") from None
            self.slack_answering = True
            if status == 429:
                raise Transient(f"rate limited ({code})", _retry_after(error.response.headers)) from None
            if status >= 500 or code in TRANSIENT_ERRORS:
                raise Transient(f"Slack answered {code} (HTTP {status})", code=code) from None
            raise
        except Exception as error:  # network: refused, reset, timeout, DNS
            self.slack_answering = False
            raise Transient(f"Slack unreachable: {type(error).__name__}: {redact(error)}", maybe_done=True) from None
        self.slack_answering = True
        return result

    def _post_status(self, job: sqlite3.Row, batch: sqlite3.Row) -> tuple[dict, PostedWhere]:
        """Post the status message where it belongs; Slack's answer and where it went."""
        if job["id"] in self._answers:  # posted before the store failed: never post twice
            return self._answers[job["id"]], PostedWhere(self._answers[job["id"]]["where"])
        channel = batch["channel_id"]
        found = self._find_lost_post(job)
        if found is not None:
            response, where, code = found
        else:
            response, where, code = self._post_where_possible(job, batch, channel)
        answer = {
            "channel": response["channel"],
            "ts": response["ts"],
            "where": where.value,
            "refusal": None if where == PostedWhere.CHANNEL else code,
        }
        self._answers[job["id"]] = answer
        return answer, where

    def _post_where_possible(
        self, job: sqlite3.Row, batch: sqlite3.Row, channel: str
    ) -> tuple[dict, PostedWhere, str | None]:
        """Post in the send's channel, or in the requester's DM when the channel refuses."""
        try:
            response = self._post_once(job, channel, render.status_message(batch, self.queue.messages_of(batch["id"])))
            return response, PostedWhere.CHANNEL, None
        except SlackApiError as error:
            code = error.response.get("error")
            if code not in CHANNEL_REFUSALS:
                raise
        log.warning("event=status_moved_to_dm batch=%d channel=%s reason=%s", batch["id"], channel, code)
        dm = self._call("conversations_open", users=batch["user_id"])["channel"]["id"]
        note = f"Posted here because I can't post in <#{channel}> ({code})."
        content = render.status_message(batch, self.queue.messages_of(batch["id"]), note=note)
        return self._post_once(job, dm, content), PostedWhere.DM, code

    def _post_once(self, job: sqlite3.Row, channel: str, content: dict) -> dict:
        """chat.postMessage with the job's id in the message's metadata; a lost answer is counted."""
        metadata = {"event_type": STATUS_EVENT, "event_payload": {"job": job["id"], "batch": job["batch_id"]}}
        started = time.time()  # compared with Slack's message timestamps: the real clock, not an injected one
        try:
            return self._call("chat_postMessage", channel=channel, metadata=metadata, **content)
        except Transient as problem:
            if problem.maybe_done:
                lost, _, first = self._lost.get(job["id"], (0, channel, started))
                self._lost[job["id"]] = (lost + 1, channel, min(first, started))
                log.warning("event=status_post_answer_lost job=%d channel=%s lost=%d", job["id"], channel, lost + 1)
            raise

    def _find_lost_post(self, job: sqlite3.Row) -> tuple[dict, PostedWhere, str | None] | None:
        """A status message posted by an earlier try whose answer was lost, found by its metadata; None
        when there was no such try, or the history shows the post was not made (post it). Raises
        PostLost when it cannot be looked up and was already posted POSTS_WITHOUT_LOOKUP times."""
        if job["id"] not in self._lost:
            return None
        lost, channel, since = self._lost[job["id"]]
        try:
            history = self._call(
                "conversations_history",
                channel=channel,
                oldest=f"{since - LOOKUP_MARGIN_SECONDS:.6f}",
                limit=100,
                include_all_metadata=True,
            )
        except (SlackApiError, Transient) as error:  # no *:history scope, not in the channel...: cannot tell
            if isinstance(error, Transient) and error.code not in HISTORY_REFUSALS:
                raise  # Slack busy or unreachable: look again later, post nothing meanwhile
            code = error.code if isinstance(error, Transient) else error.response.get("error", "unknown_error")
            if lost >= POSTS_WITHOUT_LOOKUP:
                raise PostLost(
                    f"Slack's answer to the status post was lost {lost} times and its history cannot be read "
                    f"({code}): not posted a {lost + 1}th time"
                ) from None
            log.warning(
                "event=status_post_lookup_failed job=%d error=%s note=%s", job["id"], code, '"posting once more"'
            )
            return None
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == STATUS_EVENT
                and (metadata.get("event_payload") or {}).get("job") == job["id"]
            ):
                log.info("event=status_post_found job=%d channel=%s ts=%s", job["id"], channel, message["ts"])
                where = PostedWhere.DM if channel.startswith("D") else PostedWhere.CHANNEL
                return {"channel": channel, "ts": message["ts"]}, where, None
        return None

    def _do_post(self, job: sqlite3.Row, batch: sqlite3.Row | None) -> None:
        batch = _send_of(batch)
        answer, where = self._post_status(job, batch)
        now = self.clock()
        with self.db.transaction() as conn:
            self.posts.posted(conn, batch["id"], answer["channel"], answer["ts"], where)
            # Changes that happened while the post was under way are rendered by a fresh update.
            self.notices.changed(conn, batch["id"], now)
            if where == PostedWhere.DM and batch["response_url"]:
                self.notices.respond(
                    conn,
                    batch["response_url"],
                    render.moved_to_dm(batch["channel_id"], batch["channel_name"] or "", answer["refusal"]),
                    now,
                )
        del self._answers[job["id"]]
        self._lost.pop(job["id"], None)

    def _do_status(self, job: sqlite3.Row, batch: sqlite3.Row | None) -> None:
        batch = _send_of(batch)
        note = ""
        if batch["posted_where"] == PostedWhere.DM:
            note = f"Posted here because I can't post in <#{batch['channel_id']}>."
        content = render.status_message(batch, self.queue.messages_of(batch["id"]), note=note)
        self._call("chat_update", channel=batch["status_channel"], ts=batch["status_ts"], **content)

    def _do_reply(self, job: sqlite3.Row, batch: sqlite3.Row | None) -> None:
        batch = _send_of(batch)
        payload = Outbox.payload(job)
        row = self.queue.message(payload["message_id"])
        assert row is not None, "a reply is added for a stored SMS, and messages are never deleted"
        event = payload["event"]
        if event == "failed":
            content = render.failed_reply(batch, row)
        elif event == "unconfirmed":
            content = render.unconfirmed_reply(batch, row)
        elif event == "missed":
            content = render.missed_reply(batch, row, self.queue.missed_count(batch["id"]))
        elif event == "tracking_reused":
            other = self.queue.message(payload["other_id"])
            assert other is not None, "messages are never deleted"
            other_batch = self.posts.batch(other["batch_id"])
            content = report_replies.tracking_reused(batch, row, other, other_batch or batch)
        elif "report_id" in payload:
            report = self.db.conn.execute("SELECT * FROM reports WHERE id = ?", (payload["report_id"],)).fetchone()
            content = report_replies.reply(event, batch, row, report, self.queue.attempts_of(self.db.conn, row["id"]))
        else:
            content = render.resent_reply(payload["user_id"], row["recipient"])
        self._in_thread(batch, content)

    def _do_digest(self, job: sqlite3.Row, batch: sqlite3.Row | None) -> None:
        """A long list's failures since the last digest, in one reply."""
        batch = _send_of(batch)
        rows = self.posts.undigested_failures(batch["id"])
        if not rows:
            return
        if job["id"] not in self._answers:
            self._in_thread(batch, render.failure_digest(batch, [r["recipient"] for r in rows], DIGEST_NUMBERS))
            self._answers[job["id"]] = {}
        with self.db.transaction() as conn:
            self.posts.mark_digested(conn, batch["id"], [r["id"] for r in rows])
        del self._answers[job["id"]]

    def _in_thread(self, batch: sqlite3.Row, content: dict) -> None:
        self._call("chat_postMessage", channel=batch["status_channel"], thread_ts=batch["status_ts"], **content)

    def _do_alert(self, job: sqlite3.Row, batch: sqlite3.Row | None) -> None:  # not a send's job: no batch
        payload = Outbox.payload(job)
        content = render.alert(payload["kind"], payload["data"])
        try:
            self._call("chat_postMessage", channel=job["channel"], **content)
            self.alert_problem = None
            return
        except SlackApiError as error:
            reason = error.response.get("error", "unknown_error")
            self.alert_problem = f"SMSBOT_ALERT_CHANNEL {job['channel']} refused the alert: {reason}"
            if not self.admins:
                raise
        log.error("event=alert_channel_refused channel=%s error=%s fallback=admin_dm", job["channel"], reason)
        for admin in sorted(self.admins):  # the alert and why it is here, in each admin's DM
            dm = self._call("conversations_open", users=admin)["channel"]["id"]
            self._call("chat_postMessage", channel=dm, **render.alert_via_dm(content, job["channel"], reason))

    def _do_respond(self, job: sqlite3.Row, batch: sqlite3.Row | None) -> None:  # not a send's job: no batch
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


def _send_of(batch: sqlite3.Row | None) -> sqlite3.Row:
    """The send a post, status, reply or digest job is about."""
    assert batch is not None, "such a job is added with its send's batch_id, and batches are never deleted"
    return batch


def _retry_after(headers: dict) -> float:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(1.0, float(value))
            except ValueError:
                break
    return 1.0
