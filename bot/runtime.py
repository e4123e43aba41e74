"""The composition root: every service wired together, with one start()/stop() lifecycle.

Threads: ``http`` (waitress, serving Slack, callbacks, health), ``sender`` (the one gateway
connection), ``notifier`` (every Slack write), ``reports`` (applies the delivery reports taken in), the
balance watch's scheduler, ``retention`` (the daily erasure of old texts and numbers), and the after-ack
pool. Each thread has its own SQLite connection. What people ask for is in ``bot/usecases/``.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable

from slack_sdk import WebClient

from bot.config.settings import Settings
from bot.metrics import Metrics
from bot.redact import register_secret
from bot.simulator import embedded
from bot.slack.after_ack import AfterAck
from bot.slack.app import BotIdentity, build_app
from bot.slack.notices import SlackNotices
from bot.slack.notifier import Notifier
from bot.slack.posts import SlackPosts
from bot.slack.socketmode import SocketMode
from bot.sms.gateway import SmsOfficeClient
from bot.storage.access_list import AccessList
from bot.storage.audit import Audit
from bot.storage.backup import DailyBackups
from bot.storage.confirmations import PendingSends
from bot.storage.db import ACK_PATIENCE_SECONDS, Database
from bot.storage.errors import DatabaseError
from bot.storage.factory import open_database
from bot.storage.groups import GroupStore
from bot.storage.health import StorageHealth
from bot.storage.leases import Leases
from bot.storage.optouts import OptOuts
from bot.storage.outbox import Outbox
from bot.storage.queue import SendQueue
from bot.storage.reports import ReportIntake
from bot.storage.retention import Retention
from bot.storage.templates import TemplateStore
from bot.storage.usage import UsageReport
from bot.storage.wakeups import Wakeups
from bot.usecases.access import Access
from bot.usecases.compliance import Compliance
from bot.usecases.gate import Gate
from bot.usecases.reading import Reading
from bot.usecases.routine import Routine, allowed_countries_recheck
from bot.usecases.sending import Sending
from bot.usecases.services import Services
from bot.usecases.spend import SpendLimits
from bot.web.routes import callback_path, make_wsgi_app
from bot.web.server import ServerThread
from bot.workers.balancewatch import BalanceWatch
from bot.workers.leadership import CLOCK_ALLOWANCE_SECONDS, Leadership, holder_id, lease_name, takeover_seconds
from bot.workers.reports import ReportApplier
from bot.workers.retention import RetentionWorker
from bot.workers.sender import Sender
from bot.workers.settler import Settler

log = logging.getLogger(__name__)

SENDER_STOP_SECONDS = 7.0  # how long a send on the wire may take to finish at SIGTERM
STOP_BUDGET_SECONDS = 8.5  # SIGTERM → exit 0 within 10 s, whatever hangs


class CannotListen(Exception):
    """The listener could not bind SMSBOT_HOST:SMSBOT_PORT (``cause`` says why); any other OSError at
    start is about a file."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Bot:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, exclusive: bool = True) -> None:
        """``exclusive``: this process holds the database alone (SQLite, under the file lock ``smsbot run`` takes
        first), so it leads at once; False where several processes share it (bot/workers/leadership.py)."""
        self.simulator, settings = embedded.prepare(settings)  # SMSOFFICE_API_URL=simulator
        self.settings = settings
        self.clock = clock
        self.db = open_database(settings)  # SQLite at SMSBOT_DB, or PostgreSQL at SMSBOT_DATABASE_URL
        self.db.migrate()
        # after a commit: this process's workers, and on PostgreSQL the leader's when this process does not lead
        self.wakeups = Wakeups(self.db, here_only=lambda: self._leading())
        self.storage = StorageHealth(self.db, clock)
        self.callback_secret, self.callback_secret_generated = callback_secret_and_origin(self.db, settings)
        self.metrics = Metrics()
        self._storage(settings, clock)
        # the outside world
        self.gateway = SmsOfficeClient(
            settings.smsoffice_api_url,
            settings.smsoffice_username,
            settings.smsoffice_password,
            observer=self.metrics.observe_gateway,
            keepalive_seconds=settings.smsoffice_keepalive_seconds,
        )
        self.slack = WebClient(
            token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10, retry_handlers=[]
        )
        self.identity = BotIdentity()
        self._workers(settings, clock)
        self._leadership(settings, clock, exclusive)
        self._metrics(settings, clock)
        # the edges
        self.app = build_app(self.services, self.identity)
        self.wsgi = make_wsgi_app(self)
        self.server = ServerThread(self.wsgi, settings.host, settings.port, name="http", threads=8)
        self.socket_mode: SocketMode | None = None

    def _storage(self, settings: Settings, clock: Callable[[], float]) -> None:
        """One owner per table, and the rules that read them (access, limits, compliance)."""
        self.queue, self.outbox, self.posts = SendQueue(self.db), Outbox(self.db), SlackPosts(self.db)
        self.groups, self.pending = GroupStore(self.db), PendingSends(self.db)
        self.optouts = OptOuts(self.db)
        stored_access = AccessList(self.db)
        self.access = Access(settings, stored_access)
        self.limits = SpendLimits(
            self.db,
            user_limit=settings.daily_limit_user,
            bot_limit=settings.daily_limit,
            timezone=settings.timezone,
            ask=self.access.ask,
        )
        self.gate = Gate(self.access, self.limits)
        self.compliance = Compliance(self.db, self.optouts, stored_access, self.access, Audit(self.db), clock)
        self.retention = Retention(self.db, settings.retention_days, purge_outbox=self.outbox.purge)
        self.retention_worker = RetentionWorker(self.retention, clock=clock)
        self.backups = (
            DailyBackups(settings.db_path, settings.backup_dir, settings.backup_keep, clock=clock)
            if settings.backup_dir and not settings.database_url  # SQLite only: PostgreSQL has pg_dump (README)
            else None
        )

    def _workers(self, settings: Settings, clock: Callable[[], float]) -> None:
        """The background threads, what they tell Slack, and the use cases that feed them."""
        self.notifier = Notifier(
            self.queue,
            self.outbox,
            self.posts,
            self.slack,
            clock=clock,
            admins=settings.admin_users,
            on_alert_lost=lambda conn, kind: self.watch.alert_lost(conn, kind),
            observe=lambda kind, result: self.metrics.slack_posts.labels(kind, result).inc(),
        )
        self.notices = SlackNotices(self.outbox, self.posts, wake=self.wakeups.waker("notifier"))
        self.wakeups.subscribe("notifier", self.notifier.wake)
        self.reports = ReportIntake(self.db, on_change=self.notices.report, wake=self.wakeups.waker("reports"))
        self.applier = ReportApplier(self.reports, clock=clock)
        self.wakeups.subscribe("reports", self.applier.wake)
        self.watch = BalanceWatch(
            self.db,
            self.gateway,
            threshold=settings.low_balance,
            interval=settings.balance_check_seconds,
            alert_channel=settings.alert_channel,
            alert=self._alert,
            clock=clock,
        )
        self.after_ack = AfterAck()
        self.sending = Sending(
            settings=settings,
            db=self.db,
            queue=self.queue,
            pending=self.pending,
            posts=self.posts,
            notices=self.notices,
            reports=self.reports,
            watch=self.watch,
            metrics=self.metrics,
            gate=self.gate,
            clock=clock,
            wake_sender=self.wakeups.waker("sender"),
        )
        self.reading = Reading(
            queue=self.queue,
            posts=self.posts,
            reports=self.reports,
            watch=self.watch,
            gateway=self.gateway,
            limits=self.limits,
            clock=clock,
            leading=lambda: self.leadership.leading(),
        )
        self.routine = Routine(
            settings=settings,
            db=self.db,
            queue=self.queue,
            templates=TemplateStore(self.db),
            groups=self.groups,
            pending=self.pending,
            notices=self.notices,
            posts=self.posts,
            clock=clock,
            audit=self.compliance.audit_action,
            blocked=self.optouts.blocked,
        )
        self.services = Services(
            settings=settings,
            access=self.access,
            groups=self.groups,
            optouts=self.optouts,
            usage_report=UsageReport(self.db),
            sending=self.sending,
            reading=self.reading,
            routine=self.routine,
            compliance=self.compliance,
            clock=clock,
            later=self.after_ack.later,
            before_ack=lambda: self.db.patience(ACK_PATIENCE_SECONDS),
        )
        self.sender = Sender(
            self.queue,
            self.gateway,
            settings.sms_sender_id,
            notify=self.sending.after_send,
            give_up_after=settings.send_give_up_hours * 3600,
            clock=clock,
            recheck=allowed_countries_recheck(settings),
            grace=settings.schedule_grace_minutes * 60,
            opted_out=self.optouts.is_opted_out,
            may_go=self._may_go,
            fence=lambda now: self.leadership.fence(now),
            # PostgreSQL: a sent SMS and the next claim in one round trip, the rest settled behind
            settle_behind=(lambda: self.settler.wake()) if self.settles_behind else None,
        )
        self.settler = Settler(self.sender.settle, clock=clock)
        self.wakeups.subscribe("sender", self.sender.wake)

    def _leadership(self, settings: Settings, clock: Callable[[], float], exclusive: bool) -> None:
        """Who leads: the one process per SMS Office account that runs the sender and the other workers
        that talk to the gateway or write on their own. Exclusive (SQLite): this one, from now."""
        self.started_at = clock()
        self.leadership = Leadership(
            Leases(self.db),
            lease_name(settings.smsoffice_username),
            holder_id(),
            ttl=settings.lease_seconds,
            fence_wait=CLOCK_ALLOWANCE_SECONDS,
            exclusive=exclusive,
            lead=self._lead,
            stand_by=self._stand_by,
            cut=self.gateway.interrupt,
            observe_changes=lambda n: self.metrics.leader_changes.inc(n),
            standing=self._apply_journal,
            clock=clock,
        )
        self.takeover_seconds = takeover_seconds(settings.lease_seconds, CLOCK_ALLOWANCE_SECONDS)
        if exclusive:
            self.leadership.take()

    def _apply_journal(self) -> None:
        """Not leading: store the gateway answers this process journaled as soon as the database takes them
        (a leader cut off from the database, stepped down, and the database back), whoever leads now. Not
        while the sender thread may still append to the journal (it is stopping)."""
        if self.sender.is_alive():
            return
        try:
            self.sender.apply_journal()
        except Exception as error:  # the database still refuses: the next try, in a moment
            log.warning("event=journal_not_applied error=%s note=%s", json.dumps(str(error)), '"tried again soon"')

    @property
    def settles_behind(self) -> bool:
        """Whether sent SMS are settled on a thread of their own (PostgreSQL; see bot/workers/settler.py)."""
        return self.db.dialect == "postgresql"

    def _leading(self) -> bool:
        leadership = getattr(self, "leadership", None)  # None while the Bot is still being built
        return leadership is not None and leadership.leading()

    def _may_go(self, batch) -> str | None:
        """A scheduled send at its time, asked of the gate as its requester, from where it was requested."""
        origin = self.posts.batch(batch["id"])
        return self.gate.may_go(
            batch["user_id"] or "", (origin["channel_id"] if origin else None) or "", batch["scheduled_for"]
        )

    def _metrics(self, settings: Settings, clock: Callable[[], float]) -> None:
        """Gauges read at scrape time from the stored state and the threads."""
        last = self.watch.last_balance
        self.metrics.watch_leadership(leader=self.leadership.leading, lease=self._lease_age)
        self.metrics.alerts_undeliverable.set_function(lambda: float(self.notifier.alert_problem is not None))
        self.metrics.read_at_scrape(
            queue_depth=self.queue.depth,
            outbox_depth=self.outbox.depth,
            balance=lambda: float(b[0]) if (b := last()) else None,
            last_success=lambda: self.gateway.last_success,
        )
        self.metrics.watch_operations(
            now=clock,
            oldest_queued_at=self.queue.oldest_queued_at,
            oldest_job_at=self.outbox.oldest_waiting_at,
            oldest_report_at=lambda: self.reports.pending()[1],
            threads={
                "sender": self._on_leader(self.sender.is_alive),
                "notifier": self._on_leader(self.notifier.is_alive),
                "reports": self._on_leader(self.applier.is_alive),
                **({"settler": self._on_leader(self.settler.is_alive)} if self.settles_behind else {}),
                "http": lambda: self.server.is_alive(),
                "balance-watch": self._on_leader(self.watch.is_alive),
                **({} if self.leadership.exclusive else {"leadership": self.leadership.is_alive}),
            },
            live_balance=lambda: None if (live := self.gateway.last_balance) is None else float(live),
            stored_balance=lambda: float(b[0]) if (b := last()) else None,
            low_balance=float(settings.low_balance),
        )

    def _on_leader(self, alive: Callable[[], bool]) -> Callable[[], bool | None]:
        """A leader-only thread's liveness; None (not expected here) on a standby."""
        return lambda: alive() if self.leadership.leading() else None

    def _lease_age(self) -> float | None:
        lease = self.leadership.current()
        return None if lease is None or lease.released else max(0.0, self.clock() - lease.renewed_at)

    def _alert(self, conn: sqlite3.Connection, kind: str, data: dict) -> None:
        channel = self.settings.alert_channel
        if channel is not None:  # the watch alerts only when SMSBOT_ALERT_CHANNEL is set (BalanceWatch.alerts_on)
            self.notices.alert(conn, channel, kind, data, self.clock())

    def health(self) -> tuple[bool, dict]:
        """(healthy, details) for /healthz: unhealthy when the database cannot be written (busy only
        after 60 s in a row, see bot/storage/health.py), a thread has died, the Slack outbox has not moved
        for SMSBOT_OUTBOX_STALL_SECONDS while Slack answers, a delivery report has waited as long to be
        applied, the sender has not been able to store a gateway answer for as long, or the balance check
        is far overdue (3 intervals and a minute, timed on the monotonic clock)."""
        now = self.clock()
        leading = self.leadership.leading()
        threads = (
            {
                "sender": self.sender.is_alive(),
                "notifier": self.notifier.is_alive(),
                "reports": self.applier.is_alive(),
                **({"settler": self.settler.is_alive()} if self.settles_behind else {}),
                "scheduler": self.watch.is_alive(),
            }
            if leading  # a standby runs none of them
            else {}
        )
        details: dict = {**self.storage.check(), "threads": threads, **threads}
        leaderless = self._leadership_health(details, now)
        unstored = self.sender.unstored_for(now)
        sender_stalled = unstored is not None and unstored[0] > self.settings.outbox_stall_seconds
        details.update(
            sender_unstored_seconds=None if unstored is None else round(unstored[0], 3),
            sender_stalled=sender_stalled,
            sender_problem=(
                f"the sender has not been able to record the gateway's answer for {unstored[0]:.0f} s "
                f"(SMSBOT_OUTBOX_STALL_SECONDS={self.settings.outbox_stall_seconds}), so it sends nothing more: "
                f"{unstored[1]}. See the log's event=send_store_failed lines."
                if unstored is not None and sender_stalled
                else None
            ),
        )
        stalled = reports_stalled = False
        try:
            oldest, waiting = self.queue.oldest_queued_at(), self.outbox.oldest_pending_at()
            reports_waiting, oldest_report = self.reports.pending()
            reports_stalled = oldest_report is not None and now - oldest_report > self.settings.outbox_stall_seconds
            idle = now - self.notifier.last_progress
            stalled = (
                waiting is not None
                and now - waiting > self.settings.outbox_stall_seconds
                and idle > self.settings.outbox_stall_seconds
                and self.notifier.slack_answering
            )
            details.update(
                queue_depth=self.queue.depth(),
                oldest_queued_age_seconds=_age(oldest, now),
                outbox_depth=self.outbox.depth(),
                oldest_outbox_age_seconds=_age(waiting, now),
                outbox_stalled=stalled,
                reports_waiting=reports_waiting,
                oldest_report_waiting_seconds=_age(oldest_report, now),
                reports_stalled=reports_stalled,
            )
        except DatabaseError as error:  # unreadable: the probe above already says it cannot write
            details.update(database=False, database_problem=details["database_problem"] or str(error))
        details["alerts"] = self.notifier.alert_problem or "ok"
        balance_age, balance_overdue = self.watch.overdue()
        balance_overdue = balance_overdue and leading
        details.update(
            balance_check_age_seconds=balance_age,
            balance_check_interval_seconds=self.watch.interval,
            balance_check_overdue=balance_overdue,
        )
        healthy = (
            details["database"]
            and all(threads.values())
            and not stalled
            and not reports_stalled
            and not sender_stalled
            and not balance_overdue
            and not leaderless
        )
        return healthy, details

    def _leadership_health(self, details: dict, now: float) -> bool:
        """Who leads, into ``details``; True when nobody has led for longer than a take-over takes."""
        try:
            lease = self.leadership.current()
        except Exception as error:  # unreadable: the database probe says why
            lease = None
            details["database_problem"] = details.get("database_problem") or str(error)
        me = self.leadership
        live = lease is not None and lease.live(now)
        leader = me.holder if me.leading() else (lease.holder if lease is not None and live else None)
        since = max(self.started_at, lease.expires_at if lease is not None else self.started_at)
        leaderless_for = None if me.leading() or live else max(0.0, now - since)
        leaderless = leaderless_for is not None and leaderless_for > self.takeover_seconds and not me.exclusive
        details.update(
            role=me.role,
            leader=leader,
            epoch=lease.epoch if lease is not None else None,
            lease_age_seconds=None if lease is None or lease.released else round(now - lease.renewed_at, 3),
            taking_over_seconds=(
                round(max(0.0, me.gateway_from - now), 3)
                if me.role == "leader" and not me.leading() and me.gateway_from is not None
                else None
            ),
            no_leader_seconds=None if leaderless_for is None else round(leaderless_for, 3),
            leadership_problem=(
                f"no process has led for {leaderless_for:.0f} s, longer than a take-over takes "
                f"({self.takeover_seconds:.0f} s): no SMS is sent. Check that a process can reach the database."
                if leaderless and leaderless_for is not None
                else None
            ),
        )
        return leaderless

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Serve HTTP (and Socket Mode) on every process; the leader's workers only where this process leads:
        at once when it holds the database alone, else once the leadership thread has taken the lease."""
        if self.leadership.leading():
            self._recover(self.leadership.epoch)
        else:  # its own journal, now, whoever leads: the answers it holds are stored (then while it stands by)
            self.sender.apply_journal()
        try:
            self.server.start()
        except OSError as error:
            raise CannotListen(error) from error
        embedded.connect(self.simulator, self.settings.host, self.server.port, callback_path(self.callback_secret))
        if self.leadership.leading():
            self._start_leading()
        self.leadership.start()
        self.wakeups.start()
        self.identity.learn(self.slack)
        if self.settings.slack_app_token:
            mode = SocketMode(self.app, self.settings.slack_app_token, self.settings.slack_api_url)
            mode.start()
            self.socket_mode = mode
        log.info("event=started listen=%s:%d", self.settings.host, self.server.port)

    def _recover(self, epoch: int | None) -> None:
        """What a new leader does first: the journal applied, rows an earlier term left in ``sending`` made
        unconfirmed (never resent), Slack jobs left working made pending."""
        self.sender.recover(epoch=epoch)
        self.outbox.recover()

    def _start_leading(self) -> None:
        workers = (self.sender, self.notifier, self.applier, self.retention_worker)
        for worker in workers + ((self.settler,) if self.settles_behind else ()):
            if not worker.is_alive():
                worker.start()
        self.watch.start()
        if self.backups is not None and not self.backups.is_alive():
            self.backups.start()

    def _lead(self, epoch: int) -> None:
        """The leadership thread took the lease and waited out the old leader: lead."""
        self._recover(epoch)
        self._start_leading()

    def _stand_by(self, deadline: float) -> None:
        """This process no longer proves that it leads: stop the leader's workers, let a send on the wire
        finish until the fencing ``deadline`` (on self.clock), then cut it (it becomes unconfirmed)."""
        log.warning("event=standing_by note=%s", json.dumps("the leader's workers stop; a send on the wire is cut"))
        self.watch.stop()
        self.notifier.stop(0)
        self.applier.stop(0)
        self.settler.stop(0)
        self.retention_worker.stop(0)
        if not self.sender.stop(min(SENDER_STOP_SECONDS, max(0.0, deadline - self.clock()))):
            self.gateway.interrupt()  # the fencing deadline: nothing of ours stays on the wire
            self.sender.stop(2.0)
        self.notifier.stop(2.0)
        self.applier.stop(2.0)
        self.settler.stop(2.0)
        self.retention_worker.stop(2.0)
        self.watch.wait_idle(2.0)
        if self.backups is not None:
            self.backups.stop()

    def stop(self) -> None:
        """Stop the producers first (Slack, reports, the scheduler, the workers), let a send on the
        wire finish for a while, cut what still waits on the gateway, then close the database. All
        within STOP_BUDGET_SECONDS; nothing of ours runs after ``event=stopped``."""
        deadline = time.monotonic() + STOP_BUDGET_SECONDS

        def left(reserve: float = 0.0) -> float:
            return max(0.0, deadline - reserve - time.monotonic())

        log.info("event=stopping")
        if self.socket_mode is not None:
            self.socket_mode.stop()
        self.server.stop(timeout=2.0)  # requests in flight finish; a write before an ack waits ≤ 2 s
        self.leadership.stop(min(2.0, left(reserve=SENDER_STOP_SECONDS)))  # neither takes nor gives up from now
        self.watch.stop()  # no new checks; a balance query on the wire is cut now
        self.notifier.stop(0)  # ask the workers to stop after their current unit
        self.applier.stop(0)
        self.settler.stop(0)
        self.retention_worker.stop(0)
        sender_done = self.sender.stop(min(SENDER_STOP_SECONDS, left(reserve=1.5)))
        self.gateway.close()  # cut a send still on the wire (it becomes unconfirmed)
        if not sender_done:
            sender_done = self.sender.stop(left(reserve=1.0))
        running = [
            name
            for name, done in (
                ("sender", sender_done),
                ("balance check", self.watch.wait_idle(left(reserve=0.5))),
                ("notifier", self.notifier.stop(left(reserve=0.5))),
                ("report applier", self.applier.stop(left(reserve=0.5))),
                ("settler", self.settler.stop(left(reserve=0.5))),
                ("retention", self.retention_worker.stop(left(reserve=0.5))),
                ("after-ack work", self.after_ack.close(left())),
            )
            if not done
        ]
        if self.backups is not None:
            self.backups.stop()
        # Nothing of ours is on the wire: a standby may lead at once, without waiting us out. Not on SQLite
        # (the next process takes the lease at once anyway), and never past the stop budget: the write waits
        # at most what is left of it for a database another program may be holding.
        if sender_done and not self.db.closed and not self.leadership.exclusive:
            try:
                with self.db.patience(max(0.05, min(1.0, left(reserve=0.5)))):
                    self.leadership.release()
            except Exception as error:
                log.warning("event=lease_not_released error=%s", json.dumps(str(error)))
        if self.simulator is not None:
            self.simulator.stop()
        self.wakeups.stop(left())
        self.db.close(left())  # late work gets DatabaseClosed, never a new connection
        if running:
            log.warning(
                "event=stop_deadline still_running=%s note=%s",
                ",".join(running).replace(" ", "_"),
                json.dumps(
                    "they can no longer reach the gateway or the database; an SMS cut off "
                    "mid-send is marked unconfirmed at the next start"
                ),
            )
        log.info("event=stopped")


def _age(at: float | None, now: float) -> float | None:
    return None if at is None else round(now - at, 3)


def ensure_callback_secret(db: Database, settings: Settings) -> str:
    """SMSBOT_CALLBACK_SECRET, or one generated on first start and kept in the database."""
    return callback_secret_and_origin(db, settings)[0]


def callback_secret_and_origin(db: Database, settings: Settings) -> tuple[str, bool]:
    """(the callback secret, True when it was generated just now, on this start)."""
    secret, generated = settings.callback_secret, False
    if secret is None:
        # DO NOTHING on a second one: if two processes start at once, both end up with the first one's secret.
        with db.transaction() as conn:
            generated = (
                conn.execute(
                    "INSERT INTO kv(key, value) VALUES ('callback_secret', ?) ON CONFLICT (key) DO NOTHING",
                    (secrets.token_urlsafe(32),),
                ).rowcount
                == 1
            )
        secret = db.get_kv("callback_secret")
        if secret is None:  # the row was inserted above, or was there already
            raise RuntimeError("the callback secret could not be stored in the database")
    register_secret(secret)
    return secret, generated
