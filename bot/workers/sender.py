"""The one sender thread: drains the queue in order over the gateway's one connection.

It never talks to Slack. Each outcome is written together with a notification
(``notify(conn, event, message, error)``, called inside the same transaction), which
the runtime turns into a durable Slack outbox entry.

Outcomes (:class:`SendEvent`), per the gateway's rules:
- sent: the gateway returned a tracking number.
- failed: an ``Error:`` line (final, the message fails with the gateway's sentence), or
  ``give_up_after`` seconds in the queue without reaching the gateway.
- retrying: not sent (connection refused, HTTP 5xx): retried with capped exponential
  backoff; while backing off, the whole queue waits (order is kept and a down gateway
  gets one request per interval, not one per queued SMS).
- unconfirmed: a timeout after the request went out; never resent blindly, a person decides.
- missed: a scheduled SMS reached more than ``grace`` seconds after its time is not sent (judged
  per recipient, whatever made it late).

On PostgreSQL (``settle_behind`` given), a sent SMS and the next claim are committed in one statement, one round
trip before the next gateway call (``SendQueue.sent_and_claim``); what follows from the sent SMS (``notify``) is
then done behind, on the settler thread (bot/workers/settler.py), in a transaction of its own, while that next
call is on the wire; at once when nothing else was claimed. A crash in between leaves the row ``settled = 0``,
and the next leader's ``recover`` settles it. A round trip costs what the machine's wake-ups cost: ten of them
before each call were a third more time per SMS with the gateway 10 ms away.

Just before the gateway call, ``recheck(message)`` may refuse a recipient (a rule that changed since
the send was queued): that row fails with the sentence it returns, without reaching the gateway.

An outcome the database cannot take (locked, full, read-only) is kept and its write
retried with backoff, one log line per try, before anything else is claimed. A tracking
number the gateway gave us is also appended at once to the journal beside the database
(:mod:`bot.storage.journal`), which ``recover`` applies at the next start; if even that
fails, the tracking number is logged at ERROR. It is never dropped.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from bot.sms.failures import OPTED_OUT_ERROR
from bot.sms.gateway import GatewayError, SmsOfficeClient
from bot.sms.numbers import mask
from bot.storage import SqlEnum
from bot.storage.errors import DatabaseError
from bot.storage.journal import Accepted, Journal
from bot.storage.leases import Fence
from bot.storage.queue import SendQueue, Status
from bot.wording import plural
from bot.workers.backoff import backoff_delay
from bot.workers.loop import Worker

log = logging.getLogger(__name__)

STORE_FIRST_RETRY_SECONDS = 0.5  # an outcome the database refused is written again after this,
STORE_MAX_RETRY_SECONDS = 30.0  # doubling up to this
SETTLE_BATCH = 200  # sent SMS settled per transaction


class SendEvent(SqlEnum):
    SENT = "sent"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    RETRYING = "retrying"
    MISSED = "missed"


# notify(conn, event, message, error): error is the GatewayError behind a failure, else None
Notify = Callable[[sqlite3.Connection, SendEvent, sqlite3.Row, "GatewayError | None"], None]


def _no_notify(conn, event, message, error) -> None:
    pass


def _allowed(message: sqlite3.Row) -> str | None:
    return None


@dataclass
class Outcome:
    """A gateway answer for one claimed message, until the database holds it."""

    message: sqlite3.Row
    event: SendEvent
    at: float
    tracking_id: str | None = None
    error: str | None = None
    next_attempt_at: float | None = None
    cause: GatewayError | None = None
    tries: int = 0
    retry_at: float = 0.0
    journaled: bool = False
    whole_send: bool = False  # fail the send's other waiting rows with it (told once)
    store_error: str = ""  # why the database refused it last


class Sender(Worker):
    name = "sender"

    def __init__(
        self,
        queue: SendQueue,
        gateway: SmsOfficeClient,
        sender_id: str,
        *,
        notify: Notify = _no_notify,
        give_up_after: float = 24 * 3600.0,
        journal: Journal | None = None,
        recheck: Callable[[sqlite3.Row], str | None] = _allowed,
        grace: float = 3600.0,
        opted_out: Callable[[str], bool] = lambda number: False,
        may_go: Callable[[sqlite3.Row], str | None] = lambda batch: None,
        fence: Callable[[float], Fence | None] | None = None,
        settle_behind: Callable[[], None] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.queue = queue
        self.gateway = gateway
        self.sender_id = sender_id
        self.notify = notify
        self.give_up_after = give_up_after
        self.recheck = recheck  # message → why it may not go now, or None (see bot/usecases/routine.py)
        self.grace = grace  # seconds a scheduled SMS may be late and still go
        # The do-not-contact list, read again for a claim kept across a failed pass (a fresh claim reads it itself)
        self.opted_out = opted_out
        self._next_kept = False  # self._next was claimed before a failed pass, not just now
        self.may_go = may_go  # a scheduled send at its time: why it may not go now (bot/usecases/gate.py), or None
        self.journal = journal or Journal.beside(queue.db.path)
        # now → the lease a claim must prove (bot/workers/leadership.py), or None while this process may not
        # claim (a standby, or a leader that cannot prove it still leads); no callable: claims are not fenced
        self.fence = fence
        # PostgreSQL: wakes the settler after a sent SMS was recorded in one statement with the next claim;
        # None: each outcome and what follows from it are written in one transaction
        self.settle_behind = settle_behind
        self.failures = 0  # consecutive "not sent" outcomes
        self.paused_until = 0.0  # no claims before this time (gateway or database backoff)
        self.claim_failures = 0  # consecutive claims the database refused
        self.unstored: Outcome | None = None  # the gateway's answer the database has not taken yet
        self._batch: sqlite3.Row | None = None
        self._next: sqlite3.Row | None = None  # claimed with the previous outcome, not yet sent
        # claimed, never handed to the gateway, and not yet put back (the database refused at stop): put back
        # by apply_journal or recover as soon as it can, before a new leader would call them unconfirmed
        self.unreleased: list[sqlite3.Row] = []

    def recover(self, now: float | None = None, epoch: int | None = None) -> list[sqlite3.Row]:
        """Call at start-up, or when this process becomes the leader in term ``epoch``, before the thread
        runs: settle the sent SMS an earlier term left unsettled, then apply the journal of accepted SMS and mark
        what was left in flight (by an earlier term) unconfirmed (in one transaction); returns those rows."""
        now = self.clock() if now is None else now
        self._put_back(now)
        # sent SMS an earlier term recorded but did not settle, first (a notice a bug breaks stops no recovery)
        while self.settle():
            pass
        accepted = self.journal.entries()
        with self.queue.db.transaction() as conn:
            for entry in accepted:
                self._apply_journaled(conn, entry, now)
            rows = self.queue.recover(conn, now, epoch)
            for row in rows:
                self.notify(conn, SendEvent.UNCONFIRMED, row, None)
        if accepted:
            self.journal.clear()
        for row in rows:
            log.warning(
                "event=send_unconfirmed message=%d to=%s reason=crash_recovery", row["id"], mask(row["recipient"])
            )
        return rows

    def apply_journal(self, now: float | None = None) -> int:
        """Apply the journal of accepted SMS, and only that (in one transaction): what a process that does
        not lead does at start, so an answer it could not store before it stopped (cut off from the database,
        deposed, killed) is recorded at its next start, whoever leads then; returns the entries applied."""
        now = self.clock() if now is None else now
        self._put_back(now)
        accepted = self.journal.entries()
        if not accepted:
            return 0
        with self.queue.db.transaction() as conn:
            for entry in accepted:
                self._apply_journaled(conn, entry, now)
        self.journal.clear()
        return len(accepted)

    def _put_back(self, now: float) -> None:
        """Put back what this process claimed but never sent (still ``sending``, unless a new leader's recovery
        got to it first: it is then unconfirmed, which is safe). Raises DatabaseError while the database refuses."""
        while self.unreleased:
            row = self.unreleased[0]
            put_back = self.queue.unclaim(row["id"], now, epoch=row["epoch"])  # ours only, never a later leader's
            log.info("event=unclaimed_later message=%d put_back=%s", self.unreleased.pop(0)["id"], put_back)

    def _apply_journaled(self, conn: sqlite3.Connection, entry: Accepted, now: float) -> None:
        known = self.queue.attempt(conn, entry.tracking_id)
        if known is not None and known["message_id"] == entry.message_id:
            return  # the database took it after all
        row = conn.execute("SELECT * FROM messages WHERE id = ?", (entry.message_id,)).fetchone()
        if row is not None and row["status"] == Status.SENDING:
            row = self.queue.mark_sent(conn, entry.message_id, entry.tracking_id, now, sent_at=entry.sent_at)
        elif row is not None and row["status"] == Status.UNCONFIRMED:
            row = self.queue.adopt(conn, entry.message_id, entry.tracking_id, entry.sent_at, now)
        else:
            log.error(
                "event=journal_entry_not_applied message=%d tracking=%s to=%s status=%s note=%s",
                entry.message_id,
                entry.tracking_id,
                mask(entry.recipient),
                row["status"] if row else "missing",
                "the gateway accepted this SMS; record its tracking number by hand",
            )
            return
        self.notify(conn, SendEvent.SENT, row, None)
        log.warning(
            "event=send_sent_from_journal message=%d to=%s tracking=%s",
            entry.message_id,
            mask(entry.recipient),
            entry.tracking_id,
        )

    def settle(self) -> int:
        """Do what follows from up to SETTLE_BATCH SMS recorded sent in one statement (``notify``: delivery
        reports that came first, the Slack notice, the counters), oldest first, in one transaction; returns
        how many. Raises while the database refuses (they stay unsettled). A row whose ``notify`` fails for
        any other reason (a bug) is settled without it and logged at ERROR, so it never holds up the others."""
        try:
            with self.queue.db.transaction() as conn:
                return self._settle_in(conn)
        except DatabaseError:
            raise
        except Exception:
            return self._settle_one_by_one()

    def _settle_in(self, conn: sqlite3.Connection, limit: int = SETTLE_BATCH) -> int:
        rows = self.queue.unsettled(conn, limit)
        for row in rows:
            self.notify(conn, SendEvent.SENT, row, None)
        self.queue.mark_settled(conn, [row["id"] for row in rows])
        return len(rows)

    def _settle_one_by_one(self) -> int:
        ids = [row["id"] for row in self.queue.unsettled(self.queue.db.conn, SETTLE_BATCH)]
        for message_id in ids:
            try:
                with self.queue.db.transaction() as conn:
                    row = self.queue.message(message_id, conn)
                    if row is not None and row["settled"] == 0:
                        self.notify(conn, SendEvent.SENT, row, None)
                    self.queue.mark_settled(conn, [message_id])
            except DatabaseError:
                raise
            except Exception:
                log.exception("event=send_settle_failed message=%d note=%s", message_id, '"settled without its notice"')
                with self.queue.db.transaction() as conn:
                    self.queue.mark_settled(conn, [message_id])
        return len(ids)

    def _settle_now(self) -> None:
        """Settle here, with no gateway call waiting; if the database refuses, the settler tries again."""
        try:
            self.settle()
        except Exception as error:
            log.warning("event=settle_deferred error=%s", json.dumps(str(error)))
            if self.settle_behind is not None:
                self.settle_behind()

    def on_stop(self) -> None:
        """The loop has ended: an answer the database never took is journaled (or logged at
        ERROR); a message claimed ahead but never sent goes back to the queue; sent SMS not yet
        settled are settled (or left to the next leader's recovery)."""
        outcome, self.unstored = self.unstored, None
        if outcome is not None and not outcome.journaled:
            if outcome.event == SendEvent.SENT:
                self._journal(outcome)
            else:
                log.warning(
                    "event=send_outcome_not_stored message=%d event=%s note=%s",
                    outcome.message["id"],
                    outcome.event,
                    "it will be unconfirmed at the next start",
                )
        if self._next is not None:
            try:  # only while it is still this term's claim (a later leader may have taken it since)
                self.queue.unclaim(self._next["id"], self.clock(), epoch=self._next["epoch"])
            except DatabaseError as error:
                self.unreleased.append(self._next)
                log.warning("event=unclaim_failed message=%d error=%s", self._next["id"], error)
            self._next = None
        if self.settle_behind is not None:
            self._settle_now()

    def unstored_for(self, now: float) -> tuple[float, str] | None:
        """(seconds since the gateway's answer that the database has refused to take, why it was refused
        last), or None when no answer waits: for /healthz, from any thread."""
        outcome = self.unstored
        if outcome is None:
            return None
        return now - outcome.at, f"message {outcome.message['id']} ({outcome.event}): {outcome.store_error}"

    def wait_time(self, now: float) -> float:
        if self.unstored is not None:
            return self.unstored.retry_at - now
        try:
            due = self.queue.next_due_at()
        except DatabaseError:
            due = now
        if due is None:
            return self.idle_poll
        return max(due, self.paused_until) - now

    def run_once(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        if self.unstored is not None:
            return now >= self.unstored.retry_at and self._store(self.unstored)
        if now < self.paused_until:
            return False
        may_claim, fence = self._fence(now)
        if not may_claim:
            return False
        message = None
        try:
            kept, self._next_kept = self._next_kept and self._next is not None, False
            message, self._next = self._next or self.queue.claim(now, fence=fence), None
            if message is not None:
                batch = self._batch_of(message["batch_id"])
                refusal = self._refusal(message, batch, now, kept)  # may read the database
        except DatabaseError as error:
            self._next = message  # claimed but not handed to the gateway: it goes first (or back, at stop)
            self._next_kept = message is not None
            self.claim_failures += 1
            delay = backoff_delay(self.claim_failures, STORE_FIRST_RETRY_SECONDS, STORE_MAX_RETRY_SECONDS)
            self.paused_until = now + delay
            log.warning("event=claim_failed error=%s retry_in=%.1f", error, delay)
            return False
        self.claim_failures = 0
        if message is None:
            return False
        if refusal is not None:
            self._store(refusal)
            return True
        try:
            tracking_id = self.gateway.send(self.sender_id, message["recipient"], message["text"] or batch["text"])
        except GatewayError as error:
            outcome = self._outcome_of_error(message, error, self.clock())
        else:
            self.failures = 0
            outcome = Outcome(message, SendEvent.SENT, self.clock(), tracking_id=tracking_id)
        self._store(outcome)
        return True

    def _fence(self, now: float) -> tuple[bool, Fence | None]:
        """(whether this process may claim now, the fence a claim must prove: None when unfenced). When it may
        not, a message claimed ahead goes back to the queue, never to the gateway."""
        if self.fence is None:
            return True, None
        fence = self.fence(now)
        if fence is not None:
            return True, fence
        ahead = self._next
        if ahead is not None:
            try:  # only while it is still this term's claim (a later leader may have taken it since)
                self.queue.unclaim(ahead["id"], now, epoch=ahead["epoch"])
                self._next = None
            except DatabaseError as error:  # kept, and put back at stop
                log.warning("event=unclaim_failed message=%d error=%s", ahead["id"], error)
        return False, None

    def _batch_of(self, batch_id: int) -> sqlite3.Row:
        # Batches are immutable, and most are sent to several recipients in a row.
        if self._batch is None or self._batch["id"] != batch_id:
            batch = self.queue.batch(batch_id)
            assert batch is not None  # messages.batch_id is a foreign key, and batches are never deleted
            self._batch = batch
        return self._batch

    def _refusal(self, message: sqlite3.Row, batch: sqlite3.Row, now: float, kept: bool = False) -> Outcome | None:
        """Not for the gateway: missed (too late for its scheduled time), refused by the gate at its time (its
        requester's access removed, or its day over a lowered limit: the whole send then fails, told once),
        opted out, or refused by ``recheck``."""
        due = batch["scheduled_for"]
        if due is not None and now - due > self.grace:
            late = int((now - due) // 60)
            return Outcome(
                message,
                SendEvent.MISSED,
                now,
                error=f"not sent: it was scheduled for {late} minutes earlier, more than "
                f"SMSBOT_SCHEDULE_GRACE_MINUTES ({int(self.grace // 60)}) late",
            )
        if due is not None and (reason := self.may_go(batch)) is not None:
            return Outcome(
                message,
                SendEvent.FAILED,
                now,
                whole_send=True,
                error=f"{reason}; the rest of this send was not sent either",
            )
        # put on the do-not-contact list after it was queued: read by the claim itself, or again for one kept
        if self.opted_out(message["recipient"]) if kept else message["opted_out"]:
            return Outcome(message, SendEvent.FAILED, now, error=OPTED_OUT_ERROR)
        reason = self.recheck(message)
        if reason is not None:
            return Outcome(message, SendEvent.FAILED, now, error=reason)
        return None

    def _outcome_of_error(self, message: sqlite3.Row, error: GatewayError, now: float) -> Outcome:
        reason = str(error)
        if error.outcome == "unknown":
            self.failures = 0
            return Outcome(message, SendEvent.UNCONFIRMED, now, error=reason, cause=error)
        if error.outcome == "not_sent":
            self.failures += 1
            due = self._batch["scheduled_for"] if self._batch is not None else None
            if now - max(message["queued_at"], due or 0) >= self.give_up_after:  # waiting since due
                hours = self.give_up_after / 3600
                span = plural(hours, "hour")
                return Outcome(
                    message,
                    SendEvent.FAILED,
                    now,
                    cause=error,
                    error=f"not sent: the gateway could not be reached for {span} ({reason})",
                )
            delay = backoff_delay(self.failures)
            self.paused_until = now + delay
            return Outcome(message, SendEvent.RETRYING, now, error=reason, next_attempt_at=now + delay, cause=error)
        return Outcome(message, SendEvent.FAILED, now, error=reason, cause=error)

    def _store(self, outcome: Outcome) -> bool:
        """Write the outcome; if the database refuses, keep it, journal a tracking number, back off."""
        try:
            self._record(outcome, self.clock())
        except Exception as error:  # locked, full, read-only, or a bug: the answer must not be lost
            outcome.tries += 1
            outcome.store_error = f"{type(error).__name__}: {error}"
            delay = backoff_delay(outcome.tries, STORE_FIRST_RETRY_SECONDS, STORE_MAX_RETRY_SECONDS)
            outcome.retry_at = self.clock() + delay
            self.unstored = outcome
            if outcome.event == SendEvent.SENT and not outcome.journaled:
                self._journal(outcome)
            bug = outcome.tries == 1 and not isinstance(error, DatabaseError)  # its traceback, once
            log.warning(
                "event=send_store_failed message=%d event=%s tracking=%s try=%d retry_in=%.1f error=%s",
                outcome.message["id"],
                outcome.event,
                outcome.tracking_id or "-",
                outcome.tries,
                delay,
                outcome.store_error,
                exc_info=bug,
            )
            return False
        self.unstored = None
        if outcome.journaled:
            self.journal.clear()  # the database holds everything the journal did
        return True

    def _sent(self, conn: sqlite3.Connection, message_id: int, outcome: Outcome, now: float) -> sqlite3.Row | None:
        """Record the gateway's tracking number: on the row still being sent, or on the row a new leader
        marked unconfirmed meanwhile (this process was deposed mid-send), which it adopts. None when the row
        already holds it."""
        assert outcome.tracking_id is not None
        try:
            return self.queue.mark_sent(conn, message_id, outcome.tracking_id, now, sent_at=outcome.at)
        except LookupError:
            row = self.queue.message(message_id, conn)
            if row is not None and row["status"] == Status.SENT and row["tracking_id"] == outcome.tracking_id:
                return None  # recorded already: a statement whose answer the network lost had committed
            row = self.queue.adopt(conn, message_id, outcome.tracking_id, outcome.at, now)
            if row is None:
                raise
            log.warning(
                "event=send_adopted_after_takeover message=%d tracking=%s note=%s",
                message_id,
                outcome.tracking_id,
                json.dumps("another process had marked it unconfirmed; the gateway's answer came after all"),
            )
            return row

    def _superseded(self, conn: sqlite3.Connection, message_id: int, event: SendEvent) -> bool:
        """An answer without a tracking number for a row a new leader has marked unconfirmed meanwhile: that
        row already says it may have gone, and a person decides (nothing more to record)."""
        row = self.queue.message(message_id, conn)
        if row is None or row["status"] != Status.UNCONFIRMED:
            return False
        log.warning("event=send_outcome_superseded message=%d event=%s status=unconfirmed", message_id, event)
        return True

    def _journal(self, outcome: Outcome) -> None:
        message = outcome.message
        assert outcome.tracking_id is not None  # only a SENT outcome is journaled, and it has one
        try:
            self.journal.append(Accepted(message["id"], outcome.tracking_id, message["recipient"], outcome.at))
        except OSError as error:
            log.error(
                "event=accepted_sms_not_stored message=%d to=%s tracking=%s sent_at=%.3f error=%s note=%s",
                message["id"],
                mask(message["recipient"]),
                outcome.tracking_id,
                outcome.at,
                error,
                "the gateway accepted this SMS but neither the database nor the journal could keep it; "
                "it will show as unconfirmed: this line is its record",
            )
            return
        outcome.journaled = True
        log.warning(
            "event=send_journaled message=%d tracking=%s path=%s", message["id"], outcome.tracking_id, self.journal.path
        )

    def _record(self, outcome: Outcome, now: float) -> None:
        if outcome.event == SendEvent.SENT and self.settle_behind is not None and self._record_sent(outcome, now):
            self._log_outcome(outcome)
            return
        q, message, event = self.queue, outcome.message, outcome.event
        mid = message["id"]
        claimed = None
        may_claim, fence = (False, None)
        if event in (SendEvent.SENT, SendEvent.MISSED) and not self.stopping:
            may_claim, fence = self._fence(now)
        with q.db.transaction() as conn:
            if event == SendEvent.SENT:
                assert outcome.tracking_id is not None  # a SENT outcome carries the gateway's tracking number
                row = self._sent(conn, mid, outcome, now)
                if row is None:
                    return
            elif self._superseded(conn, mid, event):
                return
            else:
                error = outcome.error
                assert error is not None  # every other outcome says why (see _refusal, _outcome_of_error)
                if event == SendEvent.FAILED:
                    row = q.mark_failed(conn, mid, error, now)
                    if outcome.whole_send:  # the rest of the send fails with it; its one reply says why
                        q.fail_waiting(conn, message["batch_id"], error, now)
                elif event == SendEvent.UNCONFIRMED:
                    row = q.mark_unconfirmed(conn, mid, error, now)
                elif event == SendEvent.MISSED:
                    row = q.mark_missed(conn, mid, error, now)
                else:
                    assert outcome.next_attempt_at is not None  # a RETRYING outcome says when
                    row = q.retry_later(conn, mid, error, outcome.next_attempt_at, now)
            self.notify(conn, event, row, outcome.cause)
            if may_claim and self._next is None:
                # Claim the next one in the same commit: one write transaction per SMS, not two.
                claimed = q.claim(now, conn, fence)
        if claimed is not None:
            self._next = claimed  # only once committed: a rolled-back claim must never be sent
        self._log_outcome(outcome)

    def _record_sent(self, outcome: Outcome, now: float) -> bool:
        """PostgreSQL: the gateway's tracking number and the next claim in one statement (see the module's
        docstring), settled behind while the next call is on the wire, or here when nothing was claimed. False
        when the row is no longer being sent (a new leader marked it unconfirmed): the full path adopts it."""
        assert outcome.tracking_id is not None and self.settle_behind is not None
        may_claim, fence = (False, None) if self.stopping else self._fence(now)
        marked, claimed = self.queue.sent_and_claim(
            outcome.message["id"], outcome.tracking_id, outcome.at, now, fence, may_claim
        )
        self._next = claimed  # committed: the next run_once sends it
        if not marked:
            return False
        if claimed is None:
            self._settle_now()
        else:
            self.settle_behind()
        return True

    def _log_outcome(self, outcome: Outcome) -> None:
        message, event = outcome.message, outcome.event
        level = logging.INFO if event == SendEvent.SENT else logging.WARNING
        if not log.isEnabledFor(level):  # not even the masked number is worked out for a line nobody reads
            return
        log.log(
            level,
            "event=send_%s message=%d to=%s attempt=%d tracking=%s error=%s",
            event,
            message["id"],
            mask(message["recipient"]),
            message["attempts"],
            outcome.tracking_id or "-",
            outcome.error or "-",
        )
