"""Leadership (bot/workers/leadership.py): one leader at a time, fencing, take-over and hand-over.

Two Database objects on one store stand in for two processes (on SQLite, no OS file lock is taken here;
on PostgreSQL, two pools on one database, as two replicas have); each process has its own clock-driven
Leadership, called one iteration at a time (``run_once(now)``). Run on both backends."""

import threading

import pytest

from bot.sms.gateway import SmsOfficeClient
from bot.storage.db import Database
from bot.storage.journal import Journal
from bot.storage.leases import Fence, Leases
from bot.storage.queue import SendQueue
from bot.workers.leadership import Leadership, lease_name
from bot.workers.sender import Sender
from tests.conftest import GATEWAY_PASSWORD, Clock, wait_for, writes_held

TTL, FENCE_WAIT = 10.0, 1.0  # FENCE_WAIT: the clock allowance after the old lease ran out
NAME = lease_name("acme")
BATCH = {"user_id": "U1", "origin": "test", "text": "Generator running", "encoding": "GSM-7", "parts": 1}


class Process:
    """One smsbot process's leadership over its own connection to the shared file."""

    def __init__(self, shared: Database, holder: str, tmp_path, simulator=None, exclusive: bool = False):
        self.db = another(shared, tmp_path / f"{holder}.db")
        self.clock = Clock(1000.0)
        self.led: list[int] = []  # epochs it started leading in
        self.stood_by: list[float] = []  # fencing deadlines it stood down at
        self.leadership = Leadership(
            Leases(self.db),
            NAME,
            holder,
            ttl=TTL,
            fence_wait=FENCE_WAIT,
            exclusive=exclusive,
            lead=self.led.append,
            stand_by=self.stood_by.append,
            clock=self.clock,
        )
        self.queue = SendQueue(self.db)
        self.sender = None
        if simulator is not None:
            self.gateway = SmsOfficeClient(simulator.api_url, "acme", GATEWAY_PASSWORD)
            self.sender = Sender(
                self.queue,
                self.gateway,
                "ACMEOPS",
                clock=self.clock,
                fence=self.leadership.fence,
                journal=Journal(str(tmp_path / f"{holder}.accepted.jsonl")),
            )

    def at(self, t: float) -> bool:
        self.clock.t = t
        return self.leadership.run_once(t)

    def close(self):
        if self.sender is not None:
            self.gateway.close()
        self.db.close()


def another(shared: Database, local_path) -> Database:
    """A second handle on the store ``shared`` is on: the same SQLite file, or the same PostgreSQL database
    through a pool of its own (``local_path``: that process's own folder, for its journal)."""
    if shared.dialect == "postgresql":
        from bot.storage.postgres import PostgresDatabase

        return PostgresDatabase(shared.url, str(local_path))
    return Database(shared.path)


@pytest.fixture
def two(db, tmp_path, simulator):
    a = Process(db, "a", tmp_path, simulator)
    b = Process(db, "b", tmp_path, simulator)
    yield a, b
    a.close()
    b.close()


def enqueue(queue, recipients=("27831234567",), now=1000.0):
    with queue.db.transaction() as conn:
        return queue.enqueue(conn, BATCH, recipients, now)


def test_the_first_process_leads_at_once_and_the_other_stands_by(two):
    a, b = two
    assert a.at(1000.0) and a.led == [1] and a.leadership.role == "leader"  # no lease yet: nothing to wait out
    assert not b.at(1000.5) and b.led == [] and b.leadership.role == "standby"
    assert b.leadership.fence(1000.5) is None
    assert a.leadership.fence(1000.5) == Fence(NAME, "a", 1, live=True)


def test_a_standby_does_its_chores_before_each_try_and_a_leader_does_not(two):
    a, b = two
    chores: list[float] = []
    b.leadership.standing = lambda: chores.append(b.clock.t)
    a.leadership.standing = lambda: chores.append(-a.clock.t)
    a.at(1000.0)  # a takes the lease at its first try: its chores ran once, before it
    b.at(1000.0)
    b.at(1001.0)  # between two tries: nothing
    b.at(1002.0)
    a.at(1004.0)  # a leader renews: no chores
    assert chores == [-1000.0, 1000.0, 1002.0]


def test_a_standby_takes_over_once_the_lease_ran_out_and_calls_the_gateway_after_the_clock_allowance(two):
    a, b = two
    a.at(1000.0)  # leads, lease until 1010, its own deadline 1008 (it cuts its own call then); then dies
    assert not b.at(1008.0) and b.leadership.role == "standby"  # live: refused; it tries again every 2 s
    b.at(1010.0)  # run out: b holds the lease, and waits the clock allowance before any gateway call
    assert b.leadership.role == "leader" and not b.leadership.leading() and b.led == []
    assert b.leadership.fence(1010.0) is None
    b.at(1010.9)
    assert b.led == [] and b.leadership.fence(1010.9) is None
    b.at(1011.0)
    assert b.led == [2] and b.leadership.leading()
    assert b.leadership.fence(1011.0) == Fence(NAME, "b", 2, live=True)
    a.at(1011.5)  # a comes back: its renewal is refused, it stands by (it had stopped at its deadline already)
    assert a.leadership.role == "standby"


def test_the_watchdog_cuts_a_call_on_the_wire_at_the_deadline_though_the_leadership_thread_is_stuck(two, simulator):
    """A renewal hanging on a lost database connection cannot keep a send on the wire past the deadline:
    the watchdog reads only memory and cuts the gateway itself."""
    a, _ = two
    assert a.sender is not None
    a.leadership.cut = a.gateway.interrupt
    a.at(1000.0)
    enqueue(a.queue)
    simulator.hold()
    sending = threading.Thread(target=a.sender.run_once, args=(1001.0,))
    try:
        sending.start()
        assert wait_for(lambda: simulator.max_concurrent == 1)  # the SMS is on the wire, the gateway silent
        assert a.leadership.watch_once(1007.9) > 0 and a.leadership.cuts == 0  # before the deadline: nothing
        a.leadership.watch_once(1008.1)  # the leadership thread never ran again: no renewal since 1000
        sending.join(5)
        assert not sending.is_alive() and a.leadership.cuts == 1
    finally:
        simulator.release()
        sending.join(5)
    assert a.queue.messages_of(1)[0]["status"] == "unconfirmed"  # cut off: it may have gone out


def test_the_leader_renews_and_keeps_leading_while_the_standby_keeps_waiting(two):
    a, b = two
    a.at(1000.0)
    for t in range(1001, 1060):
        a.at(float(t))
        assert not b.at(t + 0.5)
    assert a.leadership.leading() and b.led == [] and a.stood_by == []


def test_a_leader_whose_renewal_fails_stops_claiming_and_cuts_the_wire_at_its_deadline(two, db):
    a, b = two
    a.at(1000.0)
    enqueue(a.queue)
    with writes_held(db), a.db.patience(0.05):  # another program holds the write lock: renewals cannot be written
        a.at(1004.0)  # renewal due (every TTL/3), refused: still before its deadline
        assert a.leadership.fence(1004.0) is not None and a.stood_by == []
        a.at(1008.1)  # past its deadline (renewed 1000 + TTL 10 - margin 2): it cannot prove it leads
        assert a.leadership.fence(1008.1) is None and a.leadership.role == "standby"
        assert a.stood_by == [1008.0]  # told to cut a call on the wire at its fencing deadline
    assert a.sender is not None
    assert a.sender.run_once(1008.2) is False  # claims nothing, so nothing reaches the gateway
    assert a.queue.messages_of(1)[0]["status"] == "queued"


def test_the_claim_itself_refuses_a_deposed_leaders_fence(two):
    a, b = two
    a.at(1000.0)
    stale = a.leadership.fence(1000.0)
    b.at(1011.0)  # a's lease expired; b took it (epoch 2)
    enqueue(a.queue, now=1011.0)
    assert a.queue.claim(1009.0, fence=stale) is None  # whatever a's clock says: the lease is b's now
    assert a.queue.messages_of(1)[0]["status"] == "queued"


def test_a_new_leader_marks_an_earlier_terms_sending_rows_unconfirmed_and_never_resends_them(two, simulator):
    a, b = two
    a.at(1000.0)
    batch = enqueue(a.queue, recipients=("27831234567", "27821234567"))
    claimed = a.queue.claim(1000.5, fence=a.leadership.fence(1000.5))  # a dies with this one on the wire
    assert claimed is not None and claimed["epoch"] == 1
    b.at(1010.0)
    b.at(1030.0)
    assert b.led == [2]
    assert b.sender is not None
    rows = b.sender.recover(1030.0, epoch=2)
    assert [r["id"] for r in rows] == [claimed["id"]]
    while b.sender.run_once(1030.0):
        pass
    statuses = {m["recipient"]: (m["status"], m["epoch"]) for m in b.queue.messages_of(batch)}
    assert statuses == {"27831234567": ("unconfirmed", 1), "27821234567": ("sent", 2)}
    assert [m.to for m in simulator.messages] == ["27821234567"]  # the unconfirmed one was never resent


def test_a_deposed_leaders_late_answer_is_recorded_on_the_row_the_new_leader_marked_unconfirmed(two, simulator):
    a, b = two
    a.at(1000.0)
    enqueue(a.queue)
    assert a.sender is not None and b.sender is not None
    real_send = a.gateway.send

    def send_while_taken_over(*args):
        # while a's call is on the wire, its lease expires, b takes over, waits and recovers
        b.at(1010.0)
        b.at(1030.0)
        b.sender.recover(1030.0, epoch=2)
        assert b.queue.messages_of(1)[0]["status"] == "unconfirmed"
        return real_send(*args)

    a.gateway.send = send_while_taken_over  # type: ignore[method-assign]
    assert a.sender.run_once(1000.5)
    row = a.queue.messages_of(1)[0]
    tracking = simulator.messages[0].id
    assert (row["status"], row["tracking_id"]) == ("sent", str(tracking))
    attempts = a.queue.attempts_of(a.db.conn, row["id"])
    assert [(x["outcome"], x["tracking_id"]) for x in attempts] == [("adopted", str(tracking))]
    assert a.sender.unstored is None  # the database took it: nothing left for the journal


def test_a_released_lease_lets_the_standby_lead_at_once(two):
    a, b = two
    a.at(1000.0)
    assert not b.at(1001.0)
    assert a.leadership.release(1002.0)  # SIGTERM: the sender has stopped, nothing of a's is on the wire
    b.at(1003.0)  # its next try, 2 s after the last
    assert b.led == [2] and b.leadership.leading()  # no waiting out: a said nothing of it is on the wire


def test_an_exclusive_process_takes_even_a_live_lease_at_once(db, tmp_path):
    dead = Process(db, "killed", tmp_path)
    fresh = Process(db, "fresh", tmp_path, exclusive=True)
    try:
        dead.at(1000.0)  # killed with -9 a moment later: its lease still looks live
        assert fresh.leadership.take(1001.0) == 2
        assert fresh.leadership.leading() and fresh.leadership.fence(5000.0) == Fence(NAME, "fresh", 2, live=False)
    finally:
        dead.close()
        fresh.close()


def test_leader_changes_are_counted_by_every_process(two):
    a, b = two
    changes: list[int] = []
    b.leadership.observe_changes = changes.append
    a.at(1000.0)
    b.at(1000.5)  # b's first look: a's term 1 (sets the count)
    a.leadership.release(1001.0)
    b.at(1002.5)  # b's next try: it takes term 2
    a.at(1003.0)  # a takes nothing
    assert changes == [1]
