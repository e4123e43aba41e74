import threading

import pytest

from bot.storage.db import Database
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
        assert queue.requeue(conn, a["id"], now=103.0)["status"] == "queued"
        assert queue.requeue(conn, a["id"], now=103.0) is None  # a double click resends once
        assert queue.requeue(conn, b["id"], now=103.0) is None
    assert queue.message(a["id"])["status"] == "queued"
    assert queue.by_tracking_id("100001")["id"] == b["id"]


def test_marking_a_row_that_is_not_being_sent_is_refused(queue):
    enqueue(queue)
    row = queue.claim(now=101.0)
    with queue.db.transaction() as conn:
        queue.mark_sent(conn, row["id"], "100001", now=102.0)
    with pytest.raises(LookupError):
        with queue.db.transaction() as conn:
            queue.mark_failed(conn, row["id"], "late", now=103.0)
    assert queue.message(row["id"])["status"] == "sent"
