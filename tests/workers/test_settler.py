"""PostgreSQL's sender: a sent SMS and the next claim in one statement before the next gateway call, and what
follows from the sent SMS (its notice) settled behind, by the settler thread (bot/workers/settler.py), at once
when nothing else was claimed, or by the next leader's recovery after a crash. Real PostgreSQL, gateway stub."""

import itertools
import logging

import pytest
import responses

from bot.sms.gateway import SmsOfficeClient
from bot.workers.sender import Outcome, Sender, SendEvent
from bot.workers.settler import Settler
from tests.conftest import GATEWAY_PASSWORD, Clock, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("backend", ["postgresql"], indirect=True)]

API = "http://gw.test/sms/api/"
SEND_URL = API + "sendsms.asp"
BATCH = {"user_id": "U1", "origin": "test", "text": "Generator running", "encoding": "GSM-7", "parts": 1}
NUMBERS = ["27831234567", "27821234567", "27841234567"]


@pytest.fixture
def events():
    return []


@pytest.fixture
def make_sender(queue, events):
    made = []

    def make(**kwargs):
        client = SmsOfficeClient(API, "acme", GATEWAY_PASSWORD, read_timeout=2)
        notify = kwargs.pop(
            "notify", lambda conn, event, row, error: events.append((str(event), row["recipient"], row["status"]))
        )
        sender = Sender(queue, client, "ACMEOPS", clock=Clock(1000.0), notify=notify, **kwargs)
        made.append(sender)
        return sender

    yield make


def enqueue(queue, recipients=NUMBERS, now=1000.0):
    with queue.db.transaction() as conn:
        return queue.enqueue(conn, BATCH, recipients, now)


def gateway_numbers():
    """The gateway stub: each SMS accepted with the next tracking number."""
    numbers = itertools.count(501)
    responses.add_callback(responses.GET, SEND_URL, callback=lambda request: (200, {}, f"Success:{next(numbers)}"))


@responses.activate
def test_a_burst_is_recorded_sent_before_each_next_call_and_its_notices_follow(queue, make_sender, events):
    gateway_numbers()
    woken = []
    sender = make_sender(settle_behind=lambda: woken.append(True))
    batch_id = enqueue(queue)
    assert sender.run_once()
    first, second, third = queue.messages_of(batch_id)
    # the first is recorded whole (sent, its tracking number) and the second claimed in the same statement,
    # before the second's gateway call; its notice waits for the settler, which was woken
    assert (first["status"], first["tracking_id"], first["settled"]) == ("sent", "501", 0)
    assert second["status"] == "sending" and third["status"] == "queued"
    assert events == [] and woken == [True]
    assert sender.run_once()
    assert sender.run_once()  # the last: nothing else to claim, so settled here, with no call waiting
    assert [(r["status"], r["tracking_id"], r["settled"]) for r in queue.messages_of(batch_id)] == [
        ("sent", "501", 1),
        ("sent", "502", 1),
        ("sent", "503", 1),
    ]
    assert events == [("sent", number, "sent") for number in NUMBERS]  # each notice once, in order
    assert [call.request.params["to"] for call in responses.calls] == NUMBERS
    assert sender.run_once() is False


@responses.activate
def test_the_settler_thread_settles_while_the_sender_goes_on(queue, make_sender, events):
    gateway_numbers()
    settler = None
    sender = make_sender(settle_behind=lambda: settler.wake())
    settler = Settler(sender.settle, clock=Clock(1000.0))
    settler.idle_poll = 3600.0  # only the sender's wake-up can make it look in this test
    settler.start()
    try:
        enqueue(queue)
        assert sender.run_once()  # the first sent, the second claimed
        assert wait_for(lambda: events == [("sent", NUMBERS[0], "sent")])
        assert queue.messages_of(1)[1]["status"] == "sending"  # not sent yet: settled before the next call
    finally:
        assert settler.stop(5.0)


@responses.activate
def test_a_sent_sms_a_dead_leader_left_unsettled_is_settled_by_the_next_leaders_recovery(
    queue, make_sender, events, tmp_path
):
    gateway_numbers()
    enqueue(queue, NUMBERS[:2])
    dead = make_sender(settle_behind=lambda: None)
    assert dead.run_once()  # then kill -9: the first sent but not settled, the second claimed, never sent
    assert events == []
    taking_over = make_sender(settle_behind=lambda: None)
    rows = taking_over.recover(now=1010.0)
    assert [r["recipient"] for r in rows] == [NUMBERS[1]]  # the claimed one may have gone: a person decides
    assert events == [("sent", NUMBERS[0], "sent"), ("unconfirmed", NUMBERS[1], "unconfirmed")]
    assert [r["settled"] for r in queue.messages_of(1)] == [1, 1]
    assert len(responses.calls) == 1


@responses.activate
def test_an_answer_whose_statement_committed_is_never_recorded_twice(queue, make_sender, events):
    # A statement can commit while its answer is lost on the network: the sender then stores the same answer
    # again, by the full path, which must find it recorded and add nothing.
    enqueue(queue, NUMBERS[:1])
    sender = make_sender(settle_behind=lambda: None)
    row = queue.claim(now=1000.0)
    outcome = Outcome(row, SendEvent.SENT, 1000.5, tracking_id="777")
    assert sender._store(outcome)
    sender.settle_behind = None  # the retry by the full path: one transaction, as on SQLite
    assert sender._store(outcome)
    with queue.db.transaction() as conn:
        assert [a["tracking_id"] for a in queue.attempts_of(conn, row["id"])] == ["777"]
    assert events == [("sent", NUMBERS[0], "sent")]


@responses.activate
def test_a_sent_sms_whose_notice_cannot_be_made_is_settled_without_it_and_holds_up_no_other(
    queue, make_sender, events, caplog
):
    def notify(conn, event, row, error):
        if row["recipient"] == NUMBERS[0]:
            raise ValueError("a bug in the notice")
        events.append((str(event), row["recipient"], row["status"]))

    gateway_numbers()
    sender = make_sender(settle_behind=lambda: None, notify=notify)
    enqueue(queue)
    assert sender.run_once() and sender.run_once()  # two sent, neither settled yet
    with caplog.at_level(logging.ERROR, logger="bot.workers.sender"):
        assert sender.settle() == 2
    assert events == [("sent", NUMBERS[1], "sent")]
    assert "event=send_settle_failed" in caplog.text and "a bug in the notice" in caplog.text
    assert [(r["status"], r["settled"]) for r in queue.messages_of(1)] == [("sent", 1), ("sent", 1), ("sending", 1)]
    assert sender.run_once()
    assert events[-1] == ("sent", NUMBERS[2], "sent")


@responses.activate
def test_a_notice_a_bug_breaks_never_stops_the_next_leaders_recovery(queue, make_sender, events, caplog):
    gateway_numbers()
    enqueue(queue, NUMBERS[:2])
    dead = make_sender(settle_behind=lambda: None)
    assert dead.run_once()  # the first sent, unsettled; the second claimed: then the leader dies

    def notify(conn, event, row, error):
        if str(event) == "sent":
            raise ValueError("a bug in the notice")
        events.append((str(event), row["recipient"], row["status"]))

    taking_over = make_sender(settle_behind=lambda: None, notify=notify)
    with caplog.at_level(logging.ERROR, logger="bot.workers.sender"):
        rows = taking_over.recover(now=1010.0)
    assert [r["recipient"] for r in rows] == [NUMBERS[1]]
    assert events == [("unconfirmed", NUMBERS[1], "unconfirmed")]
    assert "event=send_settle_failed" in caplog.text
    assert [(r["status"], r["settled"]) for r in queue.messages_of(1)] == [("sent", 1), ("unconfirmed", 1)]
