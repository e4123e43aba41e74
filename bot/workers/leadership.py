"""Leadership: which process runs the sender and the other leader-only workers, per SMS Office account.

Every process serves Slack and the delivery reports; one, the leader, talks to the gateway (one connection
per account). The ``leadership`` thread holds a lease (bot/storage/leases.py) with a time-to-live ``ttl``
(SMSBOT_LEASE_SECONDS): the leader renews it every ``ttl/3``; a standby tries to take it every
``min(2, ttl/5)`` seconds and gets it once it has expired or was released.

Fencing, so that two gateway connections never overlap:

- The leader may claim only while it can prove that it leads: :meth:`Leadership.fence` is None from its
  *fencing deadline* on (its last successful renewal + ``ttl`` − ``ttl/5``), and the claim itself checks the
  lease in the database (bot/storage/queue.py). At that deadline the leader steps down: ``stand_by(deadline)``
  stops its workers and cuts a gateway call still on the wire.
- The cut does not depend on this thread: a renewal may hang on a lost database connection. A *watchdog*
  thread reads only this object's memory and, from the deadline on, calls ``cut()`` (the gateway client's
  ``interrupt``) every ``WATCHDOG_SECONDS`` while this process still counts as leading, so a call on the wire,
  or one that started just after the last claim, is cut within a fraction of a second.
- A new leader takes the lease only once it has run out (``expires_at``, which is ``ttl/5`` after the old
  leader's deadline), then waits ``fence_wait`` more (an allowance for the hosts' clocks) before its first
  gateway call: by then the old leader has cut its own call, however long a gateway call may last. No wait
  when the old leader released the lease (it had stopped sending) or it held it itself. Only then does
  ``lead(epoch)`` run: recovery (rows an earlier term left in ``sending`` become unconfirmed) and the
  leader-only workers.

A standby runs ``standing()`` before each try: the runtime stores there the gateway answers this process
journaled while it could not reach the database (bot/workers/sender.py), as soon as the database takes them.

On SQLite the OS file lock (bot/storage/lock.py) already proves that this is the only process:
``exclusive=True`` takes the lease at once whoever held it (a predecessor killed with -9 is dead), never
waits, and never steps down because a renewal failed (a locked or full file stops the writes anyway).
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from bot.storage.leases import Fence, Lease, Leases, Term
from bot.workers.loop import Worker

log = logging.getLogger(__name__)

STANDBY, TAKING_OVER, LEADING = "standby", "taking_over", "leading"
STANDBY_TRY_SECONDS = 2.0  # a standby tries at least this often
CLOCK_ALLOWANCE_SECONDS = 1.0  # a new leader's wait after the old lease ran out, for the hosts' clocks
WATCHDOG_SECONDS = 0.1  # past the fencing deadline, the watchdog cuts the gateway this often


def holder_id() -> str:
    """This process, unique among all that share the database: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def lease_name(username: str) -> str:
    """One lease per SMS Office account: the gateway allows one connection per account."""
    return f"sender:{username}"


def takeover_seconds(ttl: float, fence_wait: float) -> float:
    """The longest a change of leader may leave nobody sending: the old lease runs out, a standby takes it
    (within its next try), then waits ``fence_wait`` for the hosts' clocks."""
    return ttl + min(STANDBY_TRY_SECONDS, ttl / 5) + fence_wait


class Leadership(Worker):
    name = "leadership"

    def __init__(
        self,
        leases: Leases,
        name: str,
        holder: str,
        *,
        ttl: float,
        fence_wait: float,
        exclusive: bool,
        lead: Callable[[int], None] = lambda epoch: None,
        stand_by: Callable[[float], None] = lambda deadline: None,
        cut: Callable[[], object] = lambda: None,
        observe_changes: Callable[[int], None] = lambda changes: None,
        standing: Callable[[], object] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock)
        self.leases, self.lease_name, self.holder = leases, name, holder
        self.ttl, self.fence_wait, self.exclusive = ttl, fence_wait, exclusive
        self.lead, self.stand_by, self.cut, self.observe_changes = lead, stand_by, cut, observe_changes
        self.standing = standing  # a standby's own chores, before each try (it must not raise)
        self._watchdog: threading.Thread | None = None
        self.cuts = 0  # calls the watchdog cut at the fencing deadline
        self.renew_every = ttl / 3
        self.try_every = min(STANDBY_TRY_SECONDS, ttl / 5)
        self.margin = ttl / 5  # claims stop this long before the lease would run out
        self.state = STANDBY
        self.epoch: int | None = None
        self.renewed_at: float | None = None  # our last successful take or renewal (this process's clock)
        self.gateway_from: float | None = None  # no gateway call before this (the old leader's deadline)
        self._next_try = 0.0  # the next take (standby) or renewal (leader)
        self._seen_epoch: int | None = None

    # -- what others ask ------------------------------------------------------------------------------
    @property
    def role(self) -> str:
        """``leader`` while this process holds the lease (also while it waits out the old leader), else ``standby``."""
        return "standby" if self.state == STANDBY else "leader"

    def leading(self) -> bool:
        """This process runs the leader's workers and may talk to the gateway."""
        return self.state == LEADING

    def deadline(self) -> float | None:
        """The fencing deadline: from then on this process cannot prove that it leads (None: it does not
        hold the lease; infinite when exclusive)."""
        if self.state == STANDBY or self.renewed_at is None:
            return None
        return math.inf if self.exclusive else self.renewed_at + self.ttl - self.margin

    def fence(self, now: float) -> Fence | None:
        """What a claim at ``now`` must prove, or None when this process may not claim."""
        deadline = self.deadline()
        if self.state != LEADING or self.epoch is None or deadline is None or now > deadline:
            return None
        return Fence(self.lease_name, self.holder, self.epoch, live=not self.exclusive)

    def current(self) -> Lease | None:
        return self.leases.current(self.lease_name)

    # -- taking, keeping, losing ------------------------------------------------------------------------
    def take(self, now: float | None = None) -> int:
        """Exclusive only (SQLite, under the file lock): hold the lease at once, leading from now, without
        running ``lead`` (the caller starts what leads); returns the epoch."""
        if not self.exclusive:
            raise RuntimeError("only a process that holds the database alone takes the lease at once")
        now = self.clock() if now is None else now
        term = self.leases.acquire(self.lease_name, self.holder, now, self.ttl, force=True)
        assert term is not None  # forced
        self._taken(term, now, gateway_from=now)
        self.state = LEADING
        return term.epoch

    def run_once(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        if self.state == STANDBY:
            if now >= self._next_try:
                self.standing()
            if now < self._next_try or not self._try_to_take(now):
                return False
        elif now >= self._next_try and not self._renew(now):
            return True
        deadline = self.deadline()
        if deadline is not None and now > deadline:
            self._step_down(now, "cannot_renew")
            return True
        if self.state == TAKING_OVER and self.gateway_from is not None and now >= self.gateway_from:
            assert self.epoch is not None
            self.lead(self.epoch)  # recovery and the workers; if it raises, the next pass tries again
            self.state = LEADING
            log.info("event=leading holder=%s epoch=%d", self.holder, self.epoch)
            return True
        return False

    def wait_time(self, now: float) -> float:
        due = [self._next_try]
        deadline = self.deadline()
        if deadline is not None:
            due.append(deadline)
        if self.state == TAKING_OVER and self.gateway_from is not None:
            due.append(self.gateway_from)
        return min(due) - now

    def release(self, now: float | None = None) -> bool:
        """At SIGTERM, once the sender has stopped and nothing of ours is on the wire: give the lease up, so
        a standby leads at once. Only a leader past its wait releases (while it waits out the old leader,
        that one's call may still be on the wire: the lease then runs out instead)."""
        if self.state != LEADING or self.epoch is None:
            return False
        now = self.clock() if now is None else now
        released = self.leases.release(self.lease_name, self.holder, self.epoch, now)
        log.info("event=lease_released holder=%s epoch=%d released=%s", self.holder, self.epoch, released)
        self.state = STANDBY
        return released

    def _try_to_take(self, now: float) -> bool:
        self._next_try = now + self.try_every
        term = self.leases.acquire(self.lease_name, self.holder, now, self.ttl, force=self.exclusive)
        if term is None:
            lease = self.current()
            if lease is not None:
                self._observe(lease.epoch)
            return False
        previous = term.previous
        waits = not (self.exclusive or previous is None or previous.released or previous.holder == self.holder)
        gateway_from = max(now, previous.expires_at + self.fence_wait) if waits and previous is not None else now
        self._taken(term, now, gateway_from)
        self.state = TAKING_OVER
        # a take-over (someone led before and did not hand over) is worth a warning; a first start or a
        # hand-over at SIGTERM is routine
        log.log(
            logging.WARNING if previous is not None and not previous.released else logging.INFO,
            "event=lease_taken holder=%s epoch=%d previous=%s wait=%.1f",
            self.holder,
            term.epoch,
            json.dumps(previous.holder if previous is not None else None),
            gateway_from - now,
        )
        return True

    def _taken(self, term: Term, now: float, gateway_from: float) -> None:
        self.epoch, self.renewed_at, self.gateway_from = term.epoch, now, gateway_from
        self._next_try = now + self.renew_every
        self._observe(term.epoch)

    def _renew(self, now: float) -> bool:
        """Push the lease forward; False when it was lost (stepped down)."""
        assert self.epoch is not None
        try:
            renewed = self.leases.renew(self.lease_name, self.holder, self.epoch, now, self.ttl)
        except Exception as error:  # the database is unreachable or refuses: try again soon, until the deadline
            self._next_try = now + self.try_every
            log.warning("event=lease_renew_failed epoch=%d error=%s", self.epoch, json.dumps(str(error)))
            return True
        if renewed:
            self.renewed_at, self._next_try = now, now + self.renew_every
            return True
        self._step_down(now, "deposed")
        return False

    def _step_down(self, now: float, reason: str) -> None:
        was, deadline = self.state, self.deadline()
        self.state, self._next_try = STANDBY, now + self.try_every
        log.warning("event=leadership_lost holder=%s epoch=%s reason=%s", self.holder, self.epoch, reason)
        if was == LEADING:
            self.stand_by(deadline if deadline is not None and deadline < math.inf else now)

    # -- the watchdog ------------------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        if not self.exclusive and (self._watchdog is None or not self._watchdog.is_alive()):
            self._watchdog = threading.Thread(target=self._watch, name="leadership-watchdog", daemon=True)
            self._watchdog.start()

    def stop(self, timeout: float = 5.0) -> bool:
        stopped = super().stop(timeout)
        if self._watchdog is not None:
            self._watchdog.join(max(timeout, WATCHDOG_SECONDS * 2))
            stopped = stopped and not self._watchdog.is_alive()
        return stopped

    def watch_once(self, now: float) -> float:
        """Cut the gateway if this process still counts as leading past its fencing deadline; returns how
        long the watchdog may sleep."""
        deadline = self.deadline()
        if self.state == STANDBY or deadline is None or deadline == math.inf:
            return 1.0
        if now < deadline:
            return min(1.0, max(WATCHDOG_SECONDS, deadline - now))
        if self.cut():
            self.cuts += 1
            log.warning(
                "event=gateway_cut_at_fencing_deadline epoch=%s late=%.3f note=%s",
                self.epoch,
                now - deadline,
                json.dumps("this process can no longer prove that it leads: nothing of ours stays on the wire"),
            )
        return WATCHDOG_SECONDS

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                pause = self.watch_once(self.clock())
            except Exception:
                log.exception("event=watchdog_error")
                pause = WATCHDOG_SECONDS
            self._stop.wait(pause)

    def _observe(self, epoch: int) -> None:
        """Count the terms that began since this process last looked (the first look only sets the count)."""
        if self._seen_epoch is not None and epoch > self._seen_epoch:
            self.observe_changes(epoch - self._seen_epoch)
        self._seen_epoch = epoch if self._seen_epoch is None else max(epoch, self._seen_epoch)
