import threading

import pytest

from bot.storage.db import Database
from bot.storage.optouts import OptOuts
from bot.storage.queue import SendQueue, Status

BATCH = {"user_id": "U1", "origin": "test", "text": "Generator running", "encoding": "GSM-7", "parts": 1}


def enqueue(queue, recipients=("27831234567",), now=100.0):
    with queue.db.transaction() as conn:
        return queue.enqueue(conn, BATCH, recipients, now)


def test_enqueue_stores_one_queued_row_per_recipient_in_order(queue):
    batch_id = enqueue(queue, ["27831234567", "27821234567"])
    rows = queue.messages_of(batch_id)
    assert [(r["recipient"], r["status"]) for r in rows] == [("27831234567", "queued"), ("27821234567", "queued")]
    assert queue.batch(batch_id)["recipients"] == 2
    assert queue.depth() == 2 and queue.oldest_queued_at() == 100.0


def test_claim_takes_the_oldest_due_row_and_stamps_it(queue):
    enqueue(queue, ["27831234567", "27821234567"])
    first = queue.claim(now=101.0)
    assert first["recipient"] == "27831234567"
    assert (first["status"], first["attempts"], first["sending_at"]) == ("sending", 1, 101.0)
    assert queue.claim(now=101.0)["recipient"] == "27821234567"
    assert queue.claim(now=101.0) is None


def test_a_row_waiting_for_retry_is_not_claimed_before_its_time(queue):
    enqueue(queue)
    row = queue.claim(now=100.0)
    with queue.db.transaction() as conn:
        queue.retry_later(conn, row["id"], "gateway answered HTTP 503", next_attempt_at=110.0, now=100.0)
    assert queue.claim(now=109.9) is None
    again = queue.claim(now=110.0)
    assert again["id"] == row["id"] and again["attempts"] == 2


def scheduled(queue, recipients, at: float, now=100.0):
    with queue.db.transaction() as conn:
        return queue.enqueue(conn, {**BATCH, "scheduled_for": at}, recipients, now)


def test_scheduled_rows_wait_for_their_time_then_go_first_in_queue_order(queue):
    early = scheduled(queue, ["27831000001", "27831000002"], at=200.0)
    enqueue(queue, ["27821000001", "27821000002"], now=150.0)
    assert queue.claim(now=160.0)["recipient"] == "27821000001"  # the scheduled ones are not due yet
    assert [queue.claim(now=200.0)["recipient"] for _ in range(3)] == ["27831000001", "27831000002", "27821000002"]
    assert queue.claim(now=200.0) is None and [m["status"] for m in queue.messages_of(early)] == ["sending"] * 2


def test_during_a_burst_due_scheduled_rows_join_within_a_second_and_at_once_when_nothing_else_is_ready(queue):
    scheduled(queue, ["27831000001"], at=200.0)
    enqueue(queue, ["27821000001", "27821000002", "27821000003"], now=150.0)
    assert queue.claim(now=199.5)["recipient"] == "27821000001"  # the burst's claim looks for due rows
    # due at 200.0: the burst's next claims within the second do not look again (one statement less each)
    assert queue.claim(now=200.2)["recipient"] == "27821000002"
    assert queue.claim(now=200.5)["recipient"] == "27831000001"  # a second on: promoted, and first by id
    assert queue.claim(now=200.6)["recipient"] == "27821000003"
    scheduled(queue, ["27831000002"], at=200.7)
    assert queue.claim(now=200.8)["recipient"] == "27831000002"  # nothing else ready: looked for at once


def test_a_claim_says_whether_its_number_is_on_the_do_not_contact_list_now(queue):
    enqueue(queue, ["27831000001", "27831000002"])
    with queue.db.transaction() as conn:
        OptOuts(queue.db).add(conn, ["27831000002"], "asked", "U0ADMIN", 101.0)
    assert [bool(queue.claim(now=102.0)["opted_out"]) for _ in range(2)] == [False, True]


def test_a_failed_scheduled_row_resent_before_its_time_goes_at_once(queue):
    batch_id = scheduled(queue, ["27831000001", "27831000002"], at=500.0)
    with queue.db.transaction() as conn:
        queue.fail_waiting(conn, batch_id, "not sent: its requester may no longer send", 120.0)
        resent = queue.requeue(conn, queue.messages_of(batch_id)[0]["id"], 130.0, by="U2")
    assert queue.claim(now=131.0)["id"] == resent["id"] and queue.claim(now=600.0) is None


def test_an_upgrade_keeps_a_waiting_scheduled_send_waiting_then_sends_it(tmp_path):
    import sqlite_utils

    from bot.storage.migrations import MIGRATIONS, _v13_claim_ready

    db = Database(str(tmp_path / "old.db"))
    before = MIGRATIONS.index(_v13_claim_ready)
    with db.transaction() as conn:  # schema 12, with a send scheduled for 500 and one queued at once
        for step in MIGRATIONS[:before]:
            step(sqlite_utils.Database(conn))
        conn.execute(f"PRAGMA user_version = {before}")
        conn.execute("INSERT INTO batches (id, created_at, recipients, text, parts) VALUES (1, 100, 2, 'Hi', 1)")
        conn.executemany(
            "INSERT INTO messages (batch_id, recipient, status, attempts, next_attempt_at, queued_at, "
            "updated_at) VALUES (1, ?, 'queued', 0, ?, 100, 100)",
            [("27831234567", 500.0), ("27821234567", 100.0)],
        )
    db.migrate()
    queue = SendQueue(db)
    assert queue.claim(now=101.0)["recipient"] == "27821234567" and queue.claim(now=499.0) is None
    assert queue.claim(now=500.0)["recipient"] == "27831234567"
    db.close()


def test_concurrent_claims_never_hand_out_one_row_twice(tmp_path):
    path = str(tmp_path / "q.db")
    db = Database(path)
    db.migrate()
    queue = SendQueue(db)
    enqueue(queue, [f"2783123{i:04d}" for i in range(200)])
    claimed, lock = [], threading.Lock()

    def worker():
        q = SendQueue(Database(path))  # its own connection, as each thread has
        try:
            while (row := q.claim(now=200.0)) is not None:
                with lock:
                    claimed.append(row["id"])
        finally:
            q.db.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 200


def test_crash_recovery_marks_in_flight_rows_unconfirmed_not_queued(queue):
    enqueue(queue, ["27831234567", "27821234567"])
    in_flight = queue.claim(now=101.0)
    with queue.db.transaction() as conn:
        recovered = queue.recover(conn, now=150.0)
    assert [r["id"] for r in recovered] == [in_flight["id"]]
    row = queue.message(in_flight["id"])
    assert row["status"] == Status.UNCONFIRMED and row["unconfirmed_at"] == 150.0
    assert "may or may not have gone" in row["last_error"]
    # the other one is still simply queued, and will be sent once
    assert queue.claim(now=151.0)["recipient"] == "27821234567"


def test_only_unconfirmed_or_failed_messages_can_be_requeued(queue):
    enqueue(queue, ["27831234567", "27821234567"])
    a, b = queue.claim(now=101.0), queue.claim(now=101.0)
    with queue.db.transaction() as conn:
        queue.mark_unconfirmed(conn, a["id"], "read timeout", now=102.0)
        queue.mark_sent(conn, b["id"], "100001", now=102.0)
        assert queue.requeue(conn, a["id"], now=103.0, by="U0ANN")["status"] == "queued"
        assert queue.requeue(conn, a["id"], now=103.0, by="U0ANN") is None  # a double click resends once
        assert queue.requeue(conn, b["id"], now=103.0, by="U0ANN") is None
    assert queue.message(a["id"])["status"] == "queued"
    assert queue.by_tracking_id("100001")["id"] == b["id"]


def test_marking_a_row_that_is_not_being_sent_is_refused(queue):
    enqueue(queue)
    row = queue.claim(now=101.0)
    with queue.db.transaction() as conn:
        queue.mark_sent(conn, row["id"], "100001", now=102.0)
    with pytest.raises(LookupError), queue.db.transaction() as conn:
        queue.mark_failed(conn, row["id"], "late", now=103.0)
    assert queue.message(row["id"])["status"] == "sent"


def test_unclaim_waits_its_turn_for_the_write_lock_instead_of_failing(queue):
    enqueue(queue)
    row = queue.claim(now=101.0)
    holding, release = threading.Event(), threading.Event()

    def writer():  # another thread of the bot in the middle of a write transaction
        with queue.db.transaction():
            holding.set()
            release.wait(5)

    t = threading.Thread(target=writer)
    t.start()
    assert holding.wait(5)
    if queue.db.dialect == "sqlite":
        queue.db.conn.execute("PRAGMA busy_timeout = 10")  # SQLite's own wait alone would give up at once
    threading.Timer(0.3, release.set).start()
    queue.unclaim(row["id"], now=102.0)
    t.join()
    again = queue.message(row["id"])
    assert (again["status"], again["attempts"]) == ("queued", 0)


def test_every_attempt_keeps_its_tracking_number_through_a_resend(queue):
    enqueue(queue)
    first = queue.claim(now=101.0)
    with queue.db.transaction() as conn:
        queue.mark_unconfirmed(conn, first["id"], "read timeout", now=102.0)
        assert queue.requeue(conn, first["id"], now=200.0, by="U0ANN")
    queue.claim(now=201.0)
    with queue.db.transaction() as conn:
        queue.mark_sent(conn, first["id"], "200002", now=202.0)
        attempts = queue.attempts_of(conn, first["id"])
        assert [(a["tracking_id"], a["outcome"], a["attempted_at"]) for a in attempts] == [
            (None, "unconfirmed", 101.0),
            ("200002", "sent", 201.0),
        ]
        # a report proves the first attempt went out too: it is named, the SMS's status is untouched
        earlier = queue.unconfirmed_attempts_to(conn, "27831234567", 0.0, 300.0)
        assert [(e["attempt_id"], e["latest"]) for e in earlier] == [(attempts[0]["id"], 0)]
        queue.adopt_earlier(conn, attempts[0]["id"], "100001", now=203.0)
    assert queue.by_tracking_id("100001")["id"] == first["id"]
    assert queue.by_tracking_id("200002")["id"] == first["id"]
    assert (queue.message(first["id"])["status"], queue.message(first["id"])["tracking_id"]) == (Status.SENT, "200002")


def test_adopt_moves_only_an_unconfirmed_message_to_sent(queue):
    enqueue(queue, ["27831234567", "27821234567"])
    a, b = queue.claim(now=101.0), queue.claim(now=101.0)
    with queue.db.transaction() as conn:
        queue.mark_unconfirmed(conn, a["id"], "read timeout", now=102.0)
        adopted = queue.adopt(conn, a["id"], "100001", sent_at=150.0, now=151.0)
        assert (adopted["status"], adopted["tracking_id"], adopted["sent_at"]) == ("sent", "100001", 150.0)
        assert queue.adopt(conn, a["id"], "100009", sent_at=160.0, now=161.0) is None  # once only
        assert queue.adopt(conn, b["id"], "100002", sent_at=160.0, now=161.0) is None  # still sending
        assert [t["outcome"] for t in queue.attempts_of(conn, a["id"])] == ["adopted"]
    assert queue.message(b["id"])["status"] == "sending"
    assert queue.by_tracking_id("100001")["id"] == a["id"]


def test_the_upgrade_keeps_the_tracking_numbers_of_earlier_sends(tmp_path):
    import sqlite_utils

    from bot.storage.migrations import MIGRATIONS, _v8_attempts

    db = Database(str(tmp_path / "old.db"))
    before = MIGRATIONS.index(_v8_attempts)
    with db.transaction() as conn:  # a database written before attempts were kept
        for step in MIGRATIONS[:before]:
            step(sqlite_utils.Database(conn))
        conn.execute(f"PRAGMA user_version = {before}")
    queue = SendQueue(db)
    with db.transaction() as conn:  # as that version's enqueue wrote them (no country column yet)
        conn.execute("INSERT INTO batches (id, created_at, recipients, text, parts) VALUES (1, 100, 2, 'Hi', 1)")
        conn.executemany(
            "INSERT INTO messages (batch_id, recipient, status, attempts, next_attempt_at, queued_at, "
            "updated_at) VALUES (1, ?, 'queued', 0, 100, 100, 100)",
            [("27831234567",), ("27821234567",)],
        )
    with db.transaction() as conn:  # that version's sender claimed both (today's claim needs schema 13)
        a, b = conn.execute(
            "UPDATE messages SET status = 'sending', sending_at = 101.0, attempts = 1 RETURNING id"
        ).fetchall()
        conn.execute(
            "UPDATE messages SET status = 'sent', tracking_id = '100001', sent_at = 102.0 WHERE id = ?", (a["id"],)
        )
        conn.execute("UPDATE messages SET status = 'unconfirmed' WHERE id = ?", (b["id"],))
    db.migrate()
    assert queue.by_tracking_id("100001")["id"] == a["id"]
    with db.transaction() as conn:
        assert [e["id"] for e in queue.unconfirmed_attempts_to(conn, "27821234567", 0.0, 200.0)] == [b["id"]]
    db.close()


def test_cancel_takes_only_rows_not_yet_sent_and_missed_needs_a_claim(queue, db):
    with db.transaction() as conn:
        batch_id = queue.enqueue(
            conn,
            {"text": "T", "parts": 1, "scheduled_for": 500.0},
            ["27831234567", "27821234567", "27841234567"],
            100.0,
            texts=["a", "b", "c"],
            parts=[1, 1, 1],
        )
    assert queue.claim(now=499.0) is None  # not due yet
    first = queue.claim(now=500.0)
    assert first["text"] == "a"
    with db.transaction() as conn:
        queue.mark_sent(conn, first["id"], "100001", 501.0)
        second = queue.claim(501.0, conn)
        missed = queue.mark_missed(conn, second["id"], "too late", 502.0)
        assert (missed["status"], missed["attempts"]) == ("missed", 0)
        assert queue.cancel(conn, batch_id, 503.0) == (1, 1)  # the third cancelled; one went
    assert [m["status"] for m in queue.messages_of(batch_id)] == ["sent", "missed", "cancelled"]
    with db.transaction() as conn, pytest.raises(LookupError):
        queue.mark_missed(conn, first["id"], "too late", 504.0)  # only a claimed row can be missed


# -- PostgreSQL: a sent SMS and the next claim in one statement (SendQueue.sent_and_claim) --------------------
@pytest.fixture
def pg_queue(pg_url, tmp_path):
    from bot.storage.postgres import PostgresDatabase

    database = PostgresDatabase(pg_url, str(tmp_path / "smsbot.db"))
    database.migrate()
    yield SendQueue(database)
    database.close()


@pytest.mark.postgres
def test_one_statement_records_the_sent_sms_whole_and_claims_the_next_in_order(pg_queue):
    queue = pg_queue
    batch_id = enqueue(queue, ["27831234567", "27821234567", "27841234567"])
    first = queue.claim(now=101.0)
    marked, claimed = queue.sent_and_claim(first["id"], "T-1", 101.5, 102.0, None, claim=True)
    assert marked and claimed["recipient"] == "27821234567" and claimed["status"] == "sending"
    assert claimed["opted_out"] is False and claimed["attempts"] == 1
    sent = queue.message(first["id"])
    assert (sent["status"], sent["tracking_id"], sent["sent_at"], sent["settled"]) == ("sent", "T-1", 101.5, 0)
    with queue.db.transaction() as conn:
        [attempt] = queue.attempts_of(conn, first["id"])
        charge = conn.execute("SELECT attempt_id FROM charges WHERE message_id = ?", (first["id"],)).fetchone()
        assert (attempt["tracking_id"], attempt["outcome"], attempt["attempted_at"]) == ("T-1", "sent", 101.0)
        assert charge["attempt_id"] == attempt["id"]  # its credits are spent, linked to the attempt
        assert [row["id"] for row in queue.unsettled(conn, 10)] == [first["id"]]
        queue.mark_settled(conn, [first["id"]])
        assert queue.unsettled(conn, 10) == []
    # without a claim (the sender is stopping): recorded, nothing else taken
    marked, claimed = queue.sent_and_claim(claimed["id"], "T-2", 103.0, 103.0, None, claim=False)
    assert marked and claimed is None
    assert [r["status"] for r in queue.messages_of(batch_id)] == ["sent", "sent", "queued"]


@pytest.mark.postgres
def test_one_statement_on_a_row_a_new_leader_made_unconfirmed_records_nothing(pg_queue):
    queue = pg_queue
    enqueue(queue, ["27831234567", "27821234567"])
    row = queue.claim(now=101.0)
    with queue.db.transaction() as conn:
        queue.recover(conn, 102.0)  # a new leader's recovery: the row may have gone out, a person decides
    marked, claimed = queue.sent_and_claim(row["id"], "T-1", 103.0, 103.0, None, claim=True)
    assert not marked  # the sender then adopts it in a full transaction (see the sender's tests)
    assert queue.message(row["id"])["status"] == "unconfirmed"
    assert claimed["recipient"] == "27821234567"  # the claim stands on its own: committed, it is sent next


@pytest.mark.postgres
def test_one_statement_claims_nothing_for_a_leader_that_no_longer_holds_the_lease(pg_queue):
    from bot.storage.leases import Fence, Leases

    queue = pg_queue
    enqueue(queue, ["27831234567", "27821234567"])
    term = Leases(queue.db).acquire("sender:acme", "host-a", 100.0, ttl=10.0)
    fence = Fence("sender:acme", "host-a", term.epoch)
    row = queue.claim(now=101.0, fence=fence)
    assert Leases(queue.db).acquire("sender:acme", "host-b", 111.0, ttl=10.0) is not None  # A's lease expired
    marked, claimed = queue.sent_and_claim(row["id"], "T-1", 112.0, 112.0, fence, claim=True)
    assert marked and claimed is None  # A's late answer is kept; A claims nothing more
    assert queue.depth() == 1


@pytest.mark.postgres
def test_one_statement_never_claims_a_row_whose_cancel_committed_while_it_waited(pg_queue, pg_url):
    import psycopg

    from tests.conftest import _psycopg_url

    queue = pg_queue
    enqueue(queue, ["27831234567"])
    later = enqueue(queue, ["27821234567", "27841234567"])
    row = queue.claim(now=101.0)
    with psycopg.connect(_psycopg_url(pg_url)) as other:  # a person's Cancel, not yet committed
        other.execute("UPDATE messages SET status = 'cancelled' WHERE batch_id = %s AND status = 'queued'", (later,))
        result: list = []
        recording = threading.Thread(
            target=lambda: result.append(queue.sent_and_claim(row["id"], "T-1", 102.0, 102.0, None, claim=True))
        )
        recording.start()
        recording.join(0.5)
        assert recording.is_alive()  # it waits for the cancel's row locks, neither before nor around them
        other.commit()
    recording.join(10)
    assert result == [(True, None)]
    assert [r["status"] for r in queue.messages_of(later)] == ["cancelled", "cancelled"]
    assert queue.message(row["id"])["status"] == "sent"
