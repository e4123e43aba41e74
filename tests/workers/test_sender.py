"""The sender thread's single iteration against a gateway stub (responses) or the simulator."""

import sqlite3
import threading

import pytest
import requests
import responses

from bot.sms.gateway import SmsOfficeClient
from bot.storage.journal import Accepted, Journal
from bot.storage.optouts import OptOuts
from bot.workers.backoff import backoff_delay
from bot.workers.sender import Sender
from tests.conftest import GATEWAY_PASSWORD, Clock, wait_for

API = "http://gw.test/sms/api/"
SEND_URL = API + "sendsms.asp"
BATCH = {"user_id": "U1", "origin": "test", "text": "Generator running & 50% fuel", "encoding": "GSM-7", "parts": 1}


@pytest.fixture
def events():
    return []


@pytest.fixture
def make_sender(queue, events):
    def make(api=API, **kwargs):
        client = SmsOfficeClient(api, "acme", GATEWAY_PASSWORD, read_timeout=2)
        clock = kwargs.pop("clock", Clock(1000.0))
        return Sender(
            queue,
            client,
            "ACMEOPS",
            clock=clock,
            notify=lambda conn, event, row, error: events.append((event, row["recipient"], row["status"])),
            **kwargs,
        )

    return make


def enqueue(queue, recipients=("27831234567",), now=1000.0, text=None):
    batch = dict(BATCH, text=text or BATCH["text"])
    with queue.db.transaction() as conn:
        return queue.enqueue(conn, batch, recipients, now)


@responses.activate
def test_a_sent_sms_keeps_its_tracking_number(queue, make_sender, events):
    responses.get(SEND_URL, body="Success:123456")
    batch_id = enqueue(queue)
    assert make_sender().run_once() is True
    row = queue.messages_of(batch_id)[0]
    assert (row["status"], row["tracking_id"], row["attempts"]) == ("sent", "123456", 1)
    assert events == [("sent", "27831234567", "sent")]
    sent = responses.calls[0].request
    assert "message=Generator+running+%26+50%25+fuel" in sent.url and "from=ACMEOPS" in sent.url


@responses.activate
def test_a_gateway_error_line_fails_the_message_with_the_gateways_sentence(queue, make_sender, events):
    responses.get(SEND_URL, body="Error: Not enough credits")
    batch_id = enqueue(queue)
    make_sender().run_once()
    row = queue.messages_of(batch_id)[0]
    assert row["status"] == "failed" and "Not enough credits" in row["last_error"]
    assert events == [("failed", "27831234567", "failed")]
    assert len(responses.calls) == 1  # final: never retried


@responses.activate
def test_not_sent_is_retried_with_backoff_and_the_whole_queue_waits(queue, make_sender, events):
    responses.get(SEND_URL, status=503)
    enqueue(queue, ["27831234567", "27821234567"])
    clock = Clock(1000.0)
    sender = make_sender(clock=clock)
    assert sender.run_once() is True
    head = queue.messages_of(1)[0]
    assert head["status"] == "queued" and "HTTP 503" in head["last_error"]
    assert head["next_attempt_at"] == 1000.0 + backoff_delay(1)
    # during the backoff nothing else is tried: a down gateway gets one request per interval
    clock.t += 1
    assert sender.run_once() is False
    assert len(responses.calls) == 1
    # the gateway is back: the same head message goes first, then the next
    responses.replace(responses.GET, SEND_URL, body="Success:777")
    clock.t = head["next_attempt_at"]
    assert sender.run_once() and sender.run_once()
    rows = queue.messages_of(1)
    assert [(r["recipient"], r["status"]) for r in rows] == [("27831234567", "sent"), ("27821234567", "sent")]
    assert rows[0]["attempts"] == 2 and rows[0]["last_error"] is None
    assert events[0] == ("retrying", "27831234567", "queued")


@responses.activate
def test_a_send_that_cannot_reach_the_gateway_for_too_long_fails(queue, make_sender, events):
    responses.get(SEND_URL, status=503)
    enqueue(queue, now=1000.0)
    make_sender(clock=Clock(1000.0 + 3600), give_up_after=3600).run_once()
    row = queue.messages_of(1)[0]
    assert row["status"] == "failed" and "could not be reached for 1 hour (" in row["last_error"]


@responses.activate
def test_a_timeout_after_the_request_went_out_is_unconfirmed_never_resent(queue, make_sender, events):
    responses.get(SEND_URL, body=requests.ReadTimeout("read timed out"))
    enqueue(queue)
    sender = make_sender()
    sender.run_once()
    row = queue.messages_of(1)[0]
    assert row["status"] == "unconfirmed"
    assert sender.run_once() is False and len(responses.calls) == 1
    assert events == [("unconfirmed", "27831234567", "unconfirmed")]


def test_recover_tells_about_each_message_left_in_flight(queue, make_sender, events):
    enqueue(queue, ["27831234567", "27821234567"])
    queue.claim(now=1000.0)  # the process died during this send
    rows = make_sender().recover(now=1001.0)
    assert [r["recipient"] for r in rows] == ["27831234567"]
    assert events == [("unconfirmed", "27831234567", "unconfirmed")]
    assert [r["status"] for r in queue.messages_of(1)] == ["unconfirmed", "queued"]


def test_apply_journal_stores_the_accepted_sms_and_touches_nothing_else(queue, make_sender, events, tmp_path):
    enqueue(queue, ["27831234567", "27821234567"])
    first, second = queue.claim(now=1000.0), queue.claim(now=1000.5)  # another process is sending the second
    journal = Journal(str(tmp_path / "replica.accepted.jsonl"))
    journal.append(Accepted(first["id"], "7700123", "27831234567", 1000.2))
    sender = make_sender(journal=journal)
    assert sender.apply_journal(now=1001.0) == 1
    assert [(r["status"], r["tracking_id"]) for r in queue.messages_of(1)] == [("sent", "7700123"), ("sending", None)]
    assert events == [("sent", "27831234567", "sent")]  # told once; the other row is not recovery's to touch
    assert journal.entries() == [] and sender.apply_journal(now=1002.0) == 0
    assert second["recipient"] == "27821234567"


def test_a_claim_the_database_would_not_take_back_at_stop_is_put_back_later_but_never_a_later_leaders(
    queue, make_sender, tmp_path
):
    enqueue(queue, ["27831234567", "27821234567"])
    ours = queue.claim(now=1000.0)  # claimed ahead, never sent; the database refused to take it back at stop
    theirs = queue.claim(now=1000.5)  # stands for a later leader's claim (another term) of the other row
    queue.db.conn.execute("UPDATE messages SET epoch = 3 WHERE id = ?", (ours["id"],))
    queue.db.conn.execute("UPDATE messages SET epoch = 4 WHERE id = ?", (theirs["id"],))
    sender = make_sender(journal=Journal(str(tmp_path / "replica.accepted.jsonl")))
    sender.unreleased = [queue.message(ours["id"]), dict(queue.message(theirs["id"]), epoch=3)]
    assert sender.apply_journal(now=1001.0) == 0
    assert [(r["status"], r["attempts"]) for r in queue.messages_of(1)] == [("queued", 0), ("sending", 1)]
    assert sender.unreleased == []


def test_the_queue_drains_in_order_over_one_kept_alive_connection(queue, make_sender, simulator):
    numbers = [f"2783123{i:04d}" for i in range(12)]
    enqueue(queue, numbers)
    sender = make_sender(api=simulator.api_url)
    while sender.run_once():
        pass
    assert [m.to for m in simulator.messages] == numbers
    assert len(simulator.connections) == 1 and simulator.max_concurrent == 1
    assert all(r["status"] == "sent" for r in queue.messages_of(1))


def test_balance_checks_from_other_threads_never_overlap_a_send(queue, make_sender, simulator):
    simulator.latency = 0.02
    enqueue(queue, [f"2783123{i:04d}" for i in range(5)])
    sender = make_sender(api=simulator.api_url)
    checker = threading.Thread(target=lambda: [sender.gateway.balance() for _ in range(5)])
    checker.start()
    while sender.run_once():
        pass
    checker.join()
    assert simulator.max_concurrent == 1 and len(simulator.messages) == 5


def test_the_thread_stops_after_the_in_flight_send(queue, make_sender, simulator):
    simulator.latency = 0.2
    enqueue(queue, ["27831234567", "27821234567"])
    sender = make_sender(api=simulator.api_url, clock=__import__("time").time)
    sender.start()
    assert wait_for(lambda: simulator.max_concurrent == 1)
    assert sender.stop(timeout=5) is True
    statuses = [r["status"] for r in queue.messages_of(1)]
    assert "sending" not in statuses and statuses[0] == "sent"


def test_if_recording_a_send_fails_nothing_claimed_with_it_is_sent(queue, simulator):
    enqueue(queue, ["27831234567", "27821234567"])
    calls = []

    def notify(conn, event, row, error):
        calls.append(event)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")  # the commit of the first outcome fails

    client = SmsOfficeClient(simulator.api_url, "acme", GATEWAY_PASSWORD)
    clock = Clock(1000.0)
    sender = Sender(queue, client, "ACMEOPS", notify=notify, clock=clock)
    assert sender.run_once() is True
    statuses = [r["status"] for r in queue.messages_of(1)]
    assert statuses == ["sending", "queued"]  # the claim made with the failed write was rolled back
    assert sender.unstored.tracking_id == simulator.messages[0].id  # the gateway's answer is kept
    clock.t += sender.wait_time(clock.t)
    assert sender.run_once() is True  # the kept answer is written; the second SMS is claimed with it
    assert queue.messages_of(1)[0]["tracking_id"] == simulator.messages[0].id
    assert sender.run_once() is True  # the second is sent once
    assert [m.to for m in simulator.messages] == ["27831234567", "27821234567"]
    assert [r["status"] for r in queue.messages_of(1)] == ["sent", "sent"]


def opt_out(queue, number, reason):
    with queue.db.transaction() as conn:
        OptOuts(queue.db).add(conn, [number], reason, "U0ADMIN", 1000.0)


@responses.activate
def test_an_opted_out_number_is_failed_without_a_gateway_call_read_by_the_claim_itself(queue, make_sender, events):
    responses.get(SEND_URL, body="Success:123456")
    enqueue(queue, ["27831234567", "27821234567"])
    opt_out(queue, "27831234567", "asked after the send was queued")
    sender = make_sender()  # no list read of its own: the claim says whether the number is on it now
    assert sender.run_once() is True
    assert events == [("failed", "27831234567", "failed")] and len(responses.calls) == 0
    assert queue.message(1)["last_error"].startswith("opted out")
    assert sender.run_once() is True
    assert [c.request.url.count("27821234567") for c in responses.calls] == [1]


@responses.activate
def test_a_claim_kept_across_a_failed_pass_reads_the_list_again(queue, make_sender, events):
    responses.get(SEND_URL, body="Success:123456")
    enqueue(queue, ["27831234567"])
    failing = {"now": True}

    def recheck(message):  # the pass fails after the claim, as when the database stops answering
        if failing["now"]:
            raise sqlite3.OperationalError("database is locked")
        return None

    sender = make_sender(recheck=recheck, opted_out=OptOuts(queue.db).is_opted_out)
    assert sender.run_once() is False  # nothing sent, the claimed SMS kept to go first
    assert sender._next["recipient"] == "27831234567" and not sender._next["opted_out"]
    opt_out(queue, "27831234567", "asked meanwhile")  # after its claim
    failing["now"], sender.paused_until = False, 0.0
    assert sender.run_once() is True
    assert events == [("failed", "27831234567", "failed")] and len(responses.calls) == 0
