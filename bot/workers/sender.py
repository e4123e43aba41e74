"""The one sender thread: drains the queue in order over the gateway's one connection.

It never talks to Slack. Each outcome is written together with a notification
(``notify(conn, event, message, error)``, called inside the same transaction), which
the runtime turns into a durable Slack outbox entry.

Outcomes, per the gateway's rules:
- sent: the gateway returned a tracking number.
- refused (an ``Error:`` line): final, the message fails with the gateway's sentence.
- not sent (connection refused, HTTP 5xx): retried with capped exponential
  backoff; while backing off, the whole queue waits (order is kept and a down
  gateway gets one request per interval, not one per queued SMS). After
  ``give_up_after`` seconds in the queue the message fails.
- unknown (timeout after the request went out): ``unconfirmed``, never resent
  blindly; a person decides.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Callable

from bot.sms.gateway import GatewayError, SmsOfficeClient
from bot.storage.queue import SendQueue
from bot.workers.backoff import backoff_delay
from bot.workers.loop import Worker

log = logging.getLogger(__name__)

# notify(conn, event, message, error): error is the GatewayError behind a failure, else None
Notify = Callable[[sqlite3.Connection, str, sqlite3.Row, "GatewayError | None"], None]

def _no_notify(conn, event, message, error) -> None:
    pass


class Sender(Worker):
    name = "sender"

    def __init__(self, queue: SendQueue, gateway: SmsOfficeClient, sender_id: str, *,
                 notify: Notify = _no_notify, give_up_after: float = 24 * 3600.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.queue = queue
        self.gateway = gateway
        self.sender_id = sender_id
        self.notify = notify
        self.give_up_after = give_up_after
        self.failures = 0            # consecutive "not sent" outcomes
        self.paused_until = 0.0      # no claims before this time (gateway backoff)
        self._texts: dict[int, str] = {}
        self._next: sqlite3.Row | None = None   # claimed with the previous outcome, not yet sent

    def recover(self, now: float | None = None) -> list[sqlite3.Row]:
        """Call once at start-up, before the thread runs."""
        now = self.clock() if now is None else now
        with self.queue.db.transaction() as conn:
            rows = self.queue.recover(conn, now)
            for row in rows:
                self.notify(conn, "unconfirmed", row, None)
        for row in rows:
            log.warning("event=send_unconfirmed message=%d to=%s reason=crash_recovery", row["id"],
                        row["recipient"])
        return rows

    def on_stop(self) -> None:
        """The loop has ended: a message claimed ahead but never sent goes back to the queue."""
        if self._next is not None:
            self.queue.unclaim(self._next["id"], self.clock())
            self._next = None

    def wait_time(self, now: float) -> float:
        due = self.queue.next_due_at()
        if due is None:
            return self.idle_poll
        return max(due, self.paused_until) - now

    def run_once(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        if now < self.paused_until:
            return False
        message, self._next = self._next or self.queue.claim(now), None
        if message is None:
            return False
        text = self._text_of(message["batch_id"])
        try:
            tracking_id = self.gateway.send(self.sender_id, message["recipient"], text)
        except GatewayError as error:
            self._record_error(message, error, self.clock())
        else:
            self.failures = 0
            self._record(message, "sent", self.clock(), tracking_id=tracking_id)
        return True

    def _text_of(self, batch_id: int) -> str:
        # Batches are immutable, and most are sent to several recipients in a row.
        text = self._texts.get(batch_id)
        if text is None:
            self._texts = {batch_id: self.queue.batch(batch_id)["text"]}
            text = self._texts[batch_id]
        return text

    def _record_error(self, message: sqlite3.Row, error: GatewayError, now: float) -> None:
        reason = str(error)
        if error.outcome == "unknown":
            self.failures = 0
            self._record(message, "unconfirmed", now, error=reason, cause=error)
        elif error.outcome == "not_sent":
            self.failures += 1
            if now - message["queued_at"] >= self.give_up_after:
                hours = self.give_up_after / 3600
                span = f"{hours:g} hour" + ("" if hours == 1 else "s")
                self._record(message, "failed", now, cause=error,
                             error=f"not sent: the gateway could not be reached for {span} ({reason})")
            else:
                delay = backoff_delay(self.failures)
                self.paused_until = now + delay
                self._record(message, "retrying", now, error=reason, next_attempt_at=now + delay, cause=error)
        else:
            self._record(message, "failed", now, error=reason, cause=error)

    def _record(self, message: sqlite3.Row, event: str, now: float, *, tracking_id: str | None = None,
                error: str | None = None, next_attempt_at: float | None = None,
                cause: GatewayError | None = None) -> None:
        q, mid = self.queue, message["id"]
        claimed = None
        with q.db.transaction() as conn:
            if event == "sent":
                row = q.mark_sent(conn, mid, tracking_id, now)
            elif event == "failed":
                row = q.mark_failed(conn, mid, error, now)
            elif event == "unconfirmed":
                row = q.mark_unconfirmed(conn, mid, error, now)
            else:
                row = q.retry_later(conn, mid, error, next_attempt_at, now)
            self.notify(conn, event, row, cause)
            if event == "sent" and not self.stopping:
                # Claim the next one in the same commit: one write transaction per SMS, not two.
                claimed = q.claim(now, conn)
        self._next = claimed  # only once committed: a rolled-back claim must never be sent
        level = logging.INFO if event == "sent" else logging.WARNING
        log.log(level, "event=send_%s message=%d to=%s attempt=%d tracking=%s error=%s", event, mid,
                message["recipient"], message["attempts"], tracking_id or "-", error or "-")
