"""The Slack edge, through signed requests to the real WSGI app on loopback: Bolt's "payload" flaw,
size caps, bad signatures, listener exceptions and replays."""

import contextlib
import json
import logging
import socket
import threading
import time

import pytest

from bot.runtime import Bot
from bot.slack.render import COMPOSE_VIEW, RESEND_ACTION
from bot.storage.replays import Replays
from bot.testing.slack_requests import command_body, sign
from tests.conftest import SIGNING_SECRET, Driver, inserts_refused, wait_for
from tests.conftest import said as ack_text


# -- 1. a text containing "payload" -----------------------------------------------------------
def test_a_command_containing_the_word_payload_is_handled(slack_driver, bot, simulator):
    text = ack_text(
        slack_driver.command(
            "send 27831234567 Your payload is ready",
            channel_id="C0GENERAL",
            channel_name="payload-team",
            user_name="payload",
        )
    )
    assert "Queued 1 SMS to 27831234567" in text
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == ["Your payload is ready"]
    assert bot.posts.batch(1)["user_name"] == "payload" and bot.posts.batch(1)["channel_name"] == "payload-team"


# -- 2. size caps -----------------------------------------------------------------------------
def raw_exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` on a new connection and return the start of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        try:
            conn.sendall(data)
        except OSError:  # the server answered and closed while we were still sending
            pass
        return conn.recv(65536)


def test_a_300_mb_body_is_refused_from_its_headers_without_being_read(bot):
    started = time.monotonic()
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 314572800\r\n\r\n"
    )
    answer = raw_exchange(bot.server.url, head)  # not one byte of the body sent: refused from the headers
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - started < 2


def test_a_chunked_body_over_1_mib_is_refused(bot):
    chunk = b"%x\r\n%s\r\n" % (64 << 10, b"x" * (64 << 10))
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    answer = raw_exchange(bot.server.url, head + chunk * 17 + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413")


def test_oversized_headers_are_refused(bot):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * (64 << 10) + b"\r\n\r\n"
    assert raw_exchange(bot.server.url, head).split(b" ")[1] == b"431"


# -- 3. bad timestamps and signatures -----------------------------------------------------------
@pytest.mark.parametrize(
    "timestamp, signature",
    [
        ("abc", None),
        ("", None),
        ("1e3", None),
        ("\uff11\uff12\uff13", None),
        ("-1", None),
        ("1700000000.5", None),
        (None, "v0=" + "\u00e9" * 64),
        (None, "v0=abc"),
    ],
)
def test_a_malformed_timestamp_or_signature_is_401_with_one_log_line(slack_driver, bot, caplog, timestamp, signature):
    body = command_body("send 27831234567 Hello", response_url="http://127.0.0.1:9/r")
    headers = sign(SIGNING_SECRET, body)
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp.encode("utf-8").decode("latin-1")
    if signature is not None:
        headers["X-Slack-Signature"] = signature.encode("utf-8").decode("latin-1")
    caplog.set_level(logging.INFO)
    caplog.clear()
    assert slack_driver.post(body, headers).status_code == 401
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert len(ours) == 1 and ours[0].levelname == "WARNING" and ours[0].exc_info is None
    assert "event=slack_request_refused" in ours[0].getMessage()
    assert bot.queue.depth() == 0


# -- 4. listener exceptions ---------------------------------------------------------------------
@pytest.mark.parametrize("arg", ["²", "١٠", "１０", "10.0", "0", "51"])
def test_history_takes_only_plain_numbers(slack_driver, arg):
    assert "takes a number of sends from 1 to 50" in ack_text(slack_driver.command(f"history {arg}"))


@pytest.mark.sqlite_only("renames tables under the bot; on PostgreSQL the worker's database serves the next tests")
def test_a_listener_that_raises_gives_a_sentence_and_one_log_line(slack_driver, bot, caplog):
    bot.db.conn.execute("ALTER TABLE batches RENAME TO batches_gone")  # history cannot be read
    caplog.clear()
    response = slack_driver.command("history 5")
    assert response.status_code == 200
    assert "Something went wrong on my side" in response.json()["text"]
    failures = [r for r in caplog.records if "event=listener_failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].levelname == "ERROR"


@pytest.mark.sqlite_only("renames tables under the bot; on PostgreSQL the worker's database serves the next tests")
def test_a_form_whose_listener_raises_stays_open_with_a_sentence(slack_driver, bot, caplog):
    bot.db.conn.execute("ALTER TABLE groups RENAME TO groups_gone")  # the group cannot be read
    response = slack_driver.submit(
        COMPOSE_VIEW,
        {"recipients": "oncall", "message": "Hi"},
        private_metadata=json.dumps({"channel_id": "C0GENERAL"}),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"  # the form stays open, the typed text with it
    assert "Something went wrong on my side" in body["errors"]["recipients"]
    assert sum("event=listener_failed" in r.getMessage() for r in caplog.records) == 1


# -- 5. replays ---------------------------------------------------------------------------------
def test_the_same_signed_request_twice_sends_once_and_repeats_the_first_answer(slack_driver, bot, simulator):
    body = command_body("send 27831234567 Generator running", response_url="http://127.0.0.1:9/r")
    headers = sign(SIGNING_SECRET, body)
    first, second = slack_driver.post(body, headers), slack_driver.post(body, headers)
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    assert "Queued 1 SMS" in first.json()["text"]
    resigned = sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 60)  # same trigger_id, new signature
    assert slack_driver.post(body, resigned).json() == first.json()
    slack_driver.pump()
    assert len(simulator.messages) == 1 and len(bot.queue.recent_batches(10)) == 1


def test_identical_requests_at_the_same_moment_queue_once(slack_driver, bot):
    body = command_body("send 27831234567 Hello", response_url="http://127.0.0.1:9/r")
    headers = sign(SIGNING_SECRET, body)
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(slack_driver.post(body, headers).json())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(answers) == 4 and all(a == answers[0] for a in answers)
    assert bot.queue.depth() == 1


@contextlib.contextmanager
def repeated_after_a_restart(slack_driver, bot, settings, text: str):
    """(the first answer, a new Bot on the same database, its answer to the same signed request)."""
    body = command_body(text, response_url="http://127.0.0.1:9/r")
    headers = sign(SIGNING_SECRET, body)
    first = slack_driver.post(body, headers)
    bot.server.stop()
    bot.db.close()
    restarted = Bot(settings)
    restarted.server.start()
    try:
        yield first, restarted, Driver(restarted, slack_driver.slack).post(body, headers)
    finally:
        restarted.stop()


def test_a_restart_does_not_forget_an_accepted_request(slack_driver, bot, settings, simulator):
    with repeated_after_a_restart(slack_driver, bot, settings, "send 27831234567 Hello") as (first, restarted, again):
        assert again.json() == first.json() and restarted.queue.depth() == 1


def test_a_request_is_remembered_for_its_whole_window_and_then_forgotten(db):
    replays = Replays(db)
    assert replays.claim("signature:v0=ab", request_ts=1000, now=1000) is None
    replays.answered("signature:v0=ab", 200, "application/json", b'{"text": "Queued"}')
    # Slack's check accepts it until 5 minutes after its timestamp: still a repeat then
    assert replays.claim("signature:v0=ab", request_ts=1000, now=1300).body == b'{"text": "Queued"}'
    assert replays.claim("signature:v0=ab", request_ts=1000, now=1361) is None  # purged, so new again
    assert db.conn.execute("SELECT count(*) FROM slack_requests").fetchone()[0] == 1


def test_slacks_ssl_check_is_answered_without_running_anything(slack_driver, bot):
    response = slack_driver.post(
        b"ssl_check=1&token=fake-verification-token", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200 and response.text == ""
    assert bot.db.conn.execute("SELECT count(*) FROM slack_requests").fetchone()[0] == 0


@pytest.mark.sqlite_only("an SQLite trigger raising 'disk I/O error' on UPDATE stands in for the fault")
def test_a_click_whose_work_fails_after_the_ack_is_told_so(slack_driver, bot, fake_slack, caplog):
    slack_driver.command("send 27831234567 Generator running")
    bot.notifier.run_once()
    bot.queue.claim(bot.clock())  # the process "died" mid-send: the SMS waits for a Resend decision
    bot.sender.recover()
    bot.db.conn.execute(
        "CREATE TRIGGER stuck BEFORE UPDATE ON messages BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    response = slack_driver.click(RESEND_ACTION, "1", message_ts=bot.posts.batch(1)["status_ts"])
    assert response.status_code == 200
    assert wait_for(
        lambda: any("Something went wrong on my side" in body.get("text", "") for _, body in fake_slack.responses)
    )
    told = [body for _, body in fake_slack.responses if "Something went wrong" in body.get("text", "")]
    assert told[0]["replace_original"] is False  # an aside: the status message stays
    assert sum("event=after_ack_failed" in r.getMessage() for r in caplog.records) == 1


def test_a_sends_record_is_stored_with_the_send_or_not_at_all(slack_driver, bot):
    body = command_body("send 27831234567 Generator running", response_url="http://127.0.0.1:9/r")
    headers = sign(SIGNING_SECRET, body)
    with inserts_refused(bot.db, "messages", "database or disk is full"):
        failed = slack_driver.post(body, headers).json()["text"]
    assert "nothing was queued" in failed
    assert bot.db.conn.execute("SELECT count(*) FROM slack_requests").fetchone()[0] == 0  # rolled back with it
    again = slack_driver.post(body, headers).json()  # so the same request, sent again, is not a "repeat"
    assert "Queued 1 SMS" in again["text"] and bot.queue.depth() == 1
    assert slack_driver.post(body, headers).json() == again and bot.queue.depth() == 1  # now it is


def test_a_request_that_writes_nothing_is_remembered_with_its_answer(slack_driver, bot):
    body = command_body("send", response_url="http://127.0.0.1:9/r")  # no recipients: usage, nothing stored
    headers = sign(SIGNING_SECRET, body)
    first = slack_driver.post(body, headers)
    assert first.status_code == 200
    row = bot.db.conn.execute("SELECT status, body FROM slack_requests").fetchone()
    assert row["status"] == 200 and bytes(row["body"]) == first.content
    assert slack_driver.post(body, headers).content == first.content


def test_a_request_that_wrote_nothing_repeated_after_a_restart_gets_the_first_answer(
    slack_driver, bot, settings, caplog
):
    # "send" alone: its usage, nothing stored but its answer
    with repeated_after_a_restart(slack_driver, bot, settings, "send") as (first, restarted, again):
        assert again.status_code == 200 and again.content == first.content
        assert "event=slack_request_repeated" in caplog.text
        assert restarted.db.conn.execute("SELECT count(*) FROM slack_requests").fetchone()[0] == 1
