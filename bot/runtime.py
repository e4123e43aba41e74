"""The running bot: every service wired together, with one start()/stop() lifecycle.

Threads: ``http`` (waitress, serving Slack, callbacks, health), ``sender`` (the
one gateway connection), ``notifier`` (every Slack write), and Bolt's listener
pool. Each thread has its own SQLite connection.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.access import Access
from bot.workers.balancewatch import BalanceWatch
from bot.sms.plan import SendPlan
from bot.config import Settings
from bot.storage.db import Database
from bot.sms.gateway import NotEnoughCredits, SmsOfficeClient
from bot.storage.groups import GroupStore
from bot.web.server import ServerThread
from bot.metrics import Metrics
from bot.storage.outbox import Outbox
from bot.storage.confirmations import Decision, PendingSends
from bot.redact import register_secret
from bot.storage.reports import ReportIntake
from bot.workers.sender import Sender
from bot.storage.queue import SendQueue
from bot.slack.app import BotIdentity, build_app, tell_sorry
from bot.slack.notifier import Notifier, SlackNotices
from bot.slack.socketmode import SocketMode
from bot.web.routes import make_wsgi_app

log = logging.getLogger(__name__)

ORIGIN_FIELDS = ("team_id", "user_id", "user_name", "channel_id", "channel_name", "response_url")
SENDER_STOP_SECONDS = 7.0   # SIGTERM → exit within 10 s even if the gateway hangs mid-send
NOTIFIER_STOP_SECONDS = 1.5


class Bot:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.db = Database(settings.db_path)
        self.db.migrate()
        self.callback_secret, self.callback_secret_generated = callback_secret_and_origin(self.db, settings)
        self.queue = SendQueue(self.db)
        self.outbox = Outbox(self.db)
        self.groups = GroupStore(self.db)
        self.pending = PendingSends(self.db)
        self.access = Access(settings)
        self.metrics = Metrics()
        self.gateway = SmsOfficeClient(settings.smsoffice_api_url, settings.smsoffice_username,
                                       settings.smsoffice_password, observer=self.metrics.observe_gateway,
                                       keepalive_seconds=settings.smsoffice_keepalive_seconds)
        self.slack = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10,
                               retry_handlers=[])
        self.identity = BotIdentity()
        self.notifier = Notifier(self.queue, self.outbox, self.slack, clock=clock,
                                 observe=lambda kind, result: self.metrics.slack_posts.labels(kind, result).inc())
        self.notices = SlackNotices(self.outbox, wake=self.notifier.wake)
        self.reports = ReportIntake(self.db, on_change=self.notices.report)
        self.watch = BalanceWatch(self.db, self.gateway, threshold=settings.low_balance,
                                  interval=settings.balance_check_seconds, alert_channel=settings.alert_channel,
                                  alert=self._alert, clock=clock)
        self.sender = Sender(self.queue, self.gateway, settings.sms_sender_id, notify=self._on_send_event,
                             give_up_after=settings.send_give_up_hours * 3600, clock=clock)
        last = self.watch.last_balance
        self.metrics.read_at_scrape(queue_depth=self.queue.depth, outbox_depth=self.outbox.depth,
                                    balance=lambda: (b[0] if (b := last()) else None),
                                    last_success=lambda: self.gateway.last_success)
        self._after_ack = ThreadPoolExecutor(max_workers=4, thread_name_prefix="after-ack")
        self.app = build_app(self)
        self.wsgi = make_wsgi_app(self)
        self.server = ServerThread(self.wsgi, settings.host, settings.port, name="http", threads=8)
        self.socket_mode = None

    # -- what listeners call -------------------------------------------------------------------
    def enqueue_send(self, plan: SendPlan, origin: dict) -> int:
        """Store the send (one queued row per recipient) and its status-message job, atomically."""
        with self.db.transaction() as conn:
            batch_id = self._enqueue(conn, plan, origin, self.clock())
        self.sender.wake()
        self.notifier.wake()
        return batch_id

    def _enqueue(self, conn, plan: SendPlan, origin: dict, now: float) -> int:
        batch = {name: origin.get(name) for name in ORIGIN_FIELDS}
        batch.update(text=plan.text, encoding=plan.info.encoding, parts=plan.info.parts)
        batch_id = self.queue.enqueue(conn, batch, plan.recipients, now)
        self.notices.batch_created(conn, batch_id, now)
        log.info("event=send_queued batch=%d user=%s recipients=%d parts=%d", batch_id, batch["user_id"],
                 len(plan.recipients), plan.info.parts)
        return batch_id

    def hold_for_confirmation(self, plan: SendPlan, origin: dict) -> str:
        """A costly send: keep it until its requester presses Send (nothing is queued yet)."""
        return self.pending.create(plan, {name: origin.get(name) for name in ORIGIN_FIELDS}, self.clock())

    def confirm(self, pending_id: str, user_id: str, send: bool) -> Decision:
        """The requester's Send/Cancel on a costly send. Queues at most once."""
        with self.db.transaction() as conn:
            verdict, row = self.pending.decide(conn, pending_id, user_id, self.clock(), send)
            if row is None:
                return Decision(verdict)
            decision = Decision(verdict, SendPlan.from_json(row["plan"]), row["user_id"])
            if verdict == "ok" and send:
                batch_id = self._enqueue(conn, decision.plan, json.loads(row["origin"]), self.clock())
                self.pending.attach(conn, pending_id, batch_id)
                decision = Decision(verdict, decision.plan, decision.requester, batch_id)
        if decision.batch_id is not None:
            self.sender.wake()
            self.notifier.wake()
        return decision

    def recent_sends(self, limit: int) -> list[tuple]:
        """The last sends, newest first, each with its messages."""
        return [(batch, self.queue.messages_of(batch["id"])) for batch in self.queue.recent_batches(limit)]

    def later(self, fn: Callable, *args) -> None:
        """Run slow work (gateway, Slack) after the ack, off the HTTP thread."""
        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("event=after_ack_failed task=%s", getattr(fn, "__name__", "task"))
                if fn is not tell_sorry:  # the person hears that it failed (once: no loop if that fails too)
                    for respond in (arg for arg in args if isinstance(arg, Respond)):
                        self.later(tell_sorry, respond)
        self._after_ack.submit(run)

    def _alert(self, conn, kind: str, data: dict) -> None:
        self.notices.alert(conn, self.settings.alert_channel, kind, data, self.clock())

    def _on_send_event(self, conn, event: str, message, error=None) -> None:
        """Inside the sender's transaction: match early delivery reports, then tell Slack."""
        self.metrics.sms.labels(event).inc()
        if event == "sent":
            self.metrics.parts.inc(conn.execute("SELECT parts FROM batches WHERE id = ?",
                                                (message["batch_id"],)).fetchone()[0])
        if isinstance(error, NotEnoughCredits):
            self.watch.not_enough_credits(conn, message["updated_at"])
        if event in ("sent", "unconfirmed"):
            self.reports.match_unmatched(conn, message, message["updated_at"])
            if event == "unconfirmed" and conn.execute(
                    "SELECT status FROM messages WHERE id = ?", (message["id"],)).fetchone()[0] == "sent":
                return  # a report already proved it went out; that reply says so
        self.notices.send_event(conn, event, message)

    def resend(self, message_id: int, user_id: str) -> str | None:
        """Queue an unconfirmed/failed SMS again; returns its recipient, or None if it was not waiting."""
        now = self.clock()
        with self.db.transaction() as conn:
            if not self.queue.requeue(conn, message_id, now):
                return None
            row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            self.notices.resent(conn, row, user_id)
        self.sender.wake()
        return row["recipient"]

    def health(self) -> tuple[bool, dict]:
        """(healthy, details): healthy when the database answers and the sender thread is alive."""
        checks = {"database": self.db.ping(), "sender": self.sender.is_alive()}
        details: dict = dict(checks)
        if checks["database"]:
            oldest = self.queue.oldest_queued_at()
            details["queue_depth"] = self.queue.depth()
            details["oldest_queued_age_seconds"] = None if oldest is None else round(self.clock() - oldest, 3)
        return all(checks.values()), details

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self.sender.recover()
        self.outbox.recover()
        self.server.start()
        self.sender.start()
        self.notifier.start()
        self.watch.start()
        self.identity.learn(self.slack)
        if self.settings.slack_app_token:
            self.socket_mode = SocketMode(self.app, self.settings.slack_app_token, self.settings.slack_api_url)
            self.socket_mode.start()
        log.info("event=started listen=%s:%d", self.settings.host, self.server.port)

    def stop(self) -> None:
        """Stop taking work, let the in-flight send finish, stop every thread."""
        log.info("event=stopping")
        if self.socket_mode is not None:
            self.socket_mode.stop()
        self.server.stop(timeout=2.0)
        self.watch.stop()
        if not self.sender.stop(SENDER_STOP_SECONDS):
            log.warning("event=sender_still_busy note=the in-flight SMS will be unconfirmed at next start")
        self.notifier.stop(NOTIFIER_STOP_SECONDS)
        self._after_ack.shutdown(wait=False, cancel_futures=True)
        self.gateway.close()
        self.db.close()
        log.info("event=stopped")


def ensure_callback_secret(db: Database, settings: Settings) -> str:
    """SMSBOT_CALLBACK_SECRET, or one generated on first start and kept in the database."""
    return callback_secret_and_origin(db, settings)[0]


def callback_secret_and_origin(db: Database, settings: Settings) -> tuple[str, bool]:
    """(the callback secret, True when it was generated just now, on this start)."""
    secret, generated = settings.callback_secret, False
    if secret is None:
        # INSERT OR IGNORE: if two processes start at once, both end up with the first one's secret.
        with db.transaction() as conn:
            generated = conn.execute("INSERT OR IGNORE INTO kv(key, value) VALUES ('callback_secret', ?)",
                                     (secrets.token_urlsafe(32),)).rowcount == 1
        secret = db.get_kv("callback_secret")
    register_secret(secret)
    return secret, generated
