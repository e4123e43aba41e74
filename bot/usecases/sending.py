"""Sending, each read top to bottom in one method: submit a send, confirm or cancel a costly one,
resend; and what follows each outcome of the sender (``after_send``). Every way in asks the gate
(bot/usecases/gate.py) inside the transaction that queues. Nothing here parses Slack payloads or
renders messages: Slack is told through ``ports.Notices``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.config.settings import Settings
from bot.metrics import Metrics
from bot.sms import failures
from bot.sms.gateway import NotEnoughCredits
from bot.sms.plan import Hold, SendPlan, confirmation_reason
from bot.storage.confirmations import Decision, PendingSends
from bot.storage.db import Database
from bot.storage.queue import SendQueue, Status
from bot.storage.reports import ReportIntake
from bot.usecases.gate import Gate
from bot.usecases.ports import Notices, Posts
from bot.workers.balancewatch import BalanceWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Queued:
    batch_id: int


@dataclass(frozen=True)
class NeedsConfirmation:
    """Held until the requester presses Send; nothing is queued yet."""

    pending_id: str
    last_balance: tuple[Decimal, float] | None
    hold: Hold  # why, in words


@dataclass(frozen=True)
class Refused:
    """Refused at the door (bot/usecases/gate.py): access, or a daily spend limit; nothing is queued. ``sentence``
    says why and how to get past it."""

    sentence: str


@dataclass(frozen=True)
class Resent:
    recipient: str


class _Refused(Exception):
    """Rolls back a confirmation that the gate refuses, so its preview stays pending."""


class WouldFailAgain(Exception):
    """A resend of this failed SMS would fail the same way: it must be sent anew once fixed."""

    def __init__(self, recipient: str) -> None:
        super().__init__(recipient)
        self.recipient = recipient


def store_send(
    conn: sqlite3.Connection, queue: SendQueue, notices: Notices, plan: SendPlan, origin: Mapping, now: float
) -> int:
    """A checked plan as a queued batch (one row per recipient, each with its own text for a
    personalised list) and its Slack status message, in the caller's transaction."""
    notes = plan.notes()
    batch = {
        "user_id": origin.get("user_id"),
        "user_name": origin.get("user_name"),
        "text": plan.text,
        "encoding": plan.info.encoding,
        "parts": plan.info.parts,
        "origin": "slack",
        "notes": json.dumps(notes) if any(notes.values()) else None,
        "scheduled_for": plan.due,
        "template": plan.template,
        "credits": plan.credits if plan.texts is not None else None,
    }
    batch_id = queue.enqueue(conn, batch, plan.recipients, now, texts=plan.texts, parts=plan.part_counts)
    notices.batch_created(conn, batch_id, origin, now)
    log.info(
        "event=send_queued batch=%d user=%s recipients=%d parts=%d due=%s",
        batch_id,
        batch["user_id"],
        len(plan.recipients),
        plan.info.parts,
        "now" if plan.due is None else int(plan.due),
    )
    return batch_id


class Sending:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        queue: SendQueue,
        pending: PendingSends,
        posts: Posts,
        notices: Notices,
        reports: ReportIntake,
        watch: BalanceWatch,
        metrics: Metrics,
        gate: Gate,
        clock: Callable[[], float],
        wake_sender: Callable[[], None],
    ) -> None:
        self.settings, self.db, self.queue, self.pending = settings, db, queue, pending
        self.posts, self.notices, self.reports, self.watch = posts, notices, reports, watch
        self.metrics, self.gate, self.clock, self.wake_sender = metrics, gate, clock, wake_sender
        self._parts: tuple[int, int] | None = None  # (batch id, parts): the last send after_send counted

    # -- sending ---------------------------------------------------------------------------------------
    def submit(self, plan: SendPlan, origin: Mapping) -> Queued | NeedsConfirmation | Refused:
        """A checked plan from a person: queued now, held for their confirmation when costly, or refused at
        the door (access, a daily limit). Raises sqlite3.Error when it cannot be stored (then nothing was
        queued)."""
        last = self.watch.recent_balance()
        hold = confirmation_reason(plan, self.settings.confirm_above, last, self.clock())
        if hold is not None:  # asked now (no preview of a send the gate refuses), and again at Send
            if refusal := self._refusal(plan, origin):
                return Refused(refusal)
            return NeedsConfirmation(self.pending.create(plan, dict(origin), self.clock()), last, hold)
        with self.db.transaction() as conn:  # asked in the transaction that queues: a race stays exact
            if refusal := self._refusal(plan, origin, conn):
                return Refused(refusal)
            batch_id = self._enqueue(conn, plan, origin, self.clock())
        return Queued(batch_id)

    def _refusal(self, plan: SendPlan, origin: Mapping, conn: sqlite3.Connection | None = None) -> str | None:
        """The gate's verdict on this plan from this origin. A scheduled send spends its credits, and is
        checked, on the day it is scheduled for."""
        due = plan.due
        return self.gate.may_spend(
            origin.get("user_id") or "",
            origin.get("channel_id") or "",
            plan.credits,
            self.clock() if due is None else due,
            conn,
            scheduled=due is not None,
        )

    def confirm(self, pending_id: str, user_id: str, send: bool) -> Decision:
        """The requester's Send or Cancel on a held send. Queues at most once; Send asks the gate again
        (access may have been removed or the limit reached since the preview: verdict "refused", the
        preview stays pending). Cancel is never refused."""
        try:
            with self.db.transaction() as conn:
                verdict, row = self.pending.decide(conn, pending_id, user_id, self.clock(), send)
                if row is None:
                    return Decision(verdict)
                plan, requester = SendPlan.from_json(row["plan"]), row["user_id"]
                if verdict != "ok" or not send:
                    return Decision(verdict, plan, requester)
                origin = self.pending.origin(row)
                if refusal := self._refusal(plan, origin, conn):
                    raise _Refused(refusal)
                batch_id = self._enqueue(conn, plan, origin, self.clock())
                self.pending.attach(conn, pending_id, batch_id)
        except _Refused as refused:
            return Decision("refused", plan, requester, refusal=str(refused))
        return Decision(verdict, plan, requester, batch_id)

    def _enqueue(self, conn: sqlite3.Connection, plan: SendPlan, origin: Mapping, now: float) -> int:
        """One queued row per recipient and the send's Slack status message, in the caller's transaction;
        the sender and the notifier are woken once it commits."""
        batch_id = store_send(conn, self.queue, self.notices, plan, origin, now)
        self.db.on_commit(self.wake_sender)
        return batch_id

    def resend(self, message_id: int, user_id: str) -> Resent | Refused | None:
        """Queue an unconfirmed SMS, or one whose failure a resend can cure, again, counted against the
        presser today; None if it was not waiting. The gate judges the presser from where the send was
        requested (not where its status message is). Raises WouldFailAgain for a failure a resend cannot
        cure (number, text)."""
        with self.db.transaction() as conn:
            current = self.queue.message(message_id, conn)
            if (
                current is None
                or not current["recipient"]
                or current["status"] not in (Status.UNCONFIRMED, Status.FAILED)
            ):
                return None  # already resent, or erased by retention: there is nothing left to send
            if current["status"] == Status.FAILED and not failures.curable(current):
                raise WouldFailAgain(current["recipient"])
            batch = self.posts.batch(current["batch_id"], conn)
            assert batch is not None, "a message's batch exists (a foreign key)"
            now = self.clock()
            if refusal := self.gate.may_spend(
                user_id, batch["channel_id"] or "", current["parts"] or batch["parts"], now, conn
            ):
                return Refused(refusal)
            row = self.queue.requeue(conn, message_id, now, by=user_id)
            if row is None:
                return None
            self.notices.resent(conn, row, user_id)
            self.db.on_commit(self.wake_sender)
        return Resent(row["recipient"])

    def after_send(self, conn: sqlite3.Connection, event: str, message: sqlite3.Row, error=None) -> None:
        """Inside the sender's transaction, after one SMS's outcome: count it, match delivery reports
        that arrived first, note an empty account, and tell Slack. Called once per SMS of a burst, so what
        cannot change between two SMS of one send (the send's parts) is read once per send."""
        self.metrics.sms.labels(event).inc()
        if event == "failed":  # whether a Resend can cure it (credits, login, unreachable)
            self.queue.note_failure(conn, message["id"], failures.kind_of(error, message["last_error"]))
        if event == "sent":
            self.metrics.parts.inc(message["parts"] or self._batch_parts(conn, message["batch_id"]))
        if isinstance(error, NotEnoughCredits):
            self.watch.not_enough_credits(conn, message["updated_at"])
        if event in ("sent", "unconfirmed"):
            self.reports.match_unmatched(conn, message, message["updated_at"])
            if event == "unconfirmed":  # a report that came first may have proved it went out
                now = self.queue.message(message["id"], conn)
                if now is not None and now["status"] == Status.SENT:
                    return  # that reply says so
        self.notices.send_event(conn, event, message)

    def _batch_parts(self, conn: sqlite3.Connection, batch_id: int) -> int:
        """The parts of each SMS of a send (a send's parts never change: read once per send)."""
        if self._parts is None or self._parts[0] != batch_id:
            batch = self.queue.batch(batch_id, conn)
            assert batch is not None, "a message's batch exists (a foreign key)"
            self._parts = (batch_id, int(batch["parts"]))
        return self._parts[1]
