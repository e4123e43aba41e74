"""Faults at the edges, proven on a real `smsbot run`: delivery reports waiting on a locked database
never delay Slack's acks or /healthz; a server clock that is off is named as such."""

import re
import sqlite3
import threading
import time
from urllib.parse import urlencode

import requests

from bot.testing.slack_requests import command_body, sign
from tests.conftest import SIGNING_SECRET
from tests.process import CALLBACK_SECRET, start_bot
from tests.system.test_faults import send, status_text


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def report_url(bot, tracking: int) -> str:
    query = urlencode({"messageid": tracking, "to": "27831234567", "StatusID": 200, "statusMessage": "Delivered"})
    return f"{bot.url}/sms/dlr/{CALLBACK_SECRET}?{query}"


def test_acks_and_healthz_answer_within_3_s_while_50_reports_wait_on_a_locked_database(tmp_path, simulator, fake_slack):
    bot = start_bot(tmp_path, simulator, fake_slack)
    lock = sqlite3.connect(str(tmp_path / "smsbot.db"), isolation_level=None)
    answers: list[tuple[int, float]] = []
    try:
        lock.execute("BEGIN EXCLUSIVE")  # another program holds the database for 10 s
        locked_at = time.monotonic()

        def deliver(tracking: int) -> None:
            response, seconds = timed(lambda: requests.get(report_url(bot, tracking), timeout=30))
            answers.append((response.status_code, seconds))

        reporters = [threading.Thread(target=deliver, args=(1000 + i,)) for i in range(50)]
        for reporter in reporters:
            reporter.start()
        time.sleep(0.2)  # the reports are in
        acks = []
        for i in range(3):
            body = command_body(f"send 2783123456{i} Generator running", response_url=fake_slack.response_url(f"a{i}"))
            acks.append(
                timed(
                    lambda body=body: requests.post(
                        bot.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=30
                    )
                )
            )
            health, health_seconds = timed(lambda: requests.get(bot.url + "/healthz", timeout=30))
            assert health.status_code == 200 and health_seconds <= 3.0, (health_seconds, health.text)
        for response, seconds in acks:
            assert response.status_code == 200 and seconds <= 3.0, (seconds, response.text)
            assert "couldn't store your request" in response.json()["text"]  # said so, nothing queued
        for reporter in reporters:
            reporter.join(30)
        assert time.monotonic() - locked_at < 10  # all of this happened while the lock was held
        assert len(answers) == 50
        # every report was told to come back (the gateway resends on a 500), none waited more than ~2 s
        assert {status for status, _ in answers} == {500}
        assert max(seconds for _, seconds in answers) <= 3.0, sorted(seconds for _, seconds in answers)[-5:]
    finally:
        lock.close()
    try:
        response = requests.get(report_url(bot, 1000), timeout=10)  # the gateway's resend, lock gone
        assert response.status_code == 200, response.text
        log = bot.log()
        assert "event=report_store_failed" in log and "Traceback" not in log  # one line each
        assert "event=report_deferred" in log  # over the limit of reports served at once
    finally:
        bot.stop()
    db = sqlite3.connect(str(tmp_path / "smsbot.db"))
    try:  # only the resend was stored: the reports given up on were never written later
        assert db.execute("SELECT tracking_id FROM reports").fetchall() == [("1000",)]
    finally:
        db.close()


def test_healthz_reports_the_balance_checks_age_against_its_interval(tmp_path, simulator, fake_slack):
    bot = start_bot(tmp_path, simulator, fake_slack, SMSBOT_BALANCE_CHECK_SECONDS="60")
    try:
        assert fake_slack.wait_for(lambda: "event=balance_check outcome=ok" in bot.log(), timeout=10)
        health = requests.get(bot.url + "/healthz", timeout=5).json()
        assert health["balance_check_interval_seconds"] == 60 and health["balance_check_overdue"] is False
        assert 0 <= health["balance_check_age_seconds"] < 10
    finally:
        bot.stop()


def test_most_signed_requests_10_minutes_off_log_once_that_the_servers_clock_looks_wrong(
    tmp_path, simulator, fake_slack
):
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        body = command_body("help", response_url=fake_slack.response_url("skew"))
        forged = requests.post(  # stale and not signed by Slack: no evidence about our clock
            bot.url + "/slack/events", data=body, headers=sign("not-the-secret", body, int(time.time()) - 600)
        )
        assert forged.status_code == 401
        for _ in range(8):  # Slack's clock, 10 minutes ahead of ours
            body = command_body("help", response_url=fake_slack.response_url("skew"))
            headers = sign(SIGNING_SECRET, body, int(time.time()) + 600)
            assert requests.post(bot.url + "/slack/events", data=body, headers=headers, timeout=5).status_code == 401
        log = bot.log()
        assert log.count("event=server_clock_suspect") == 1
        # Slack's whole-second stamp minus our clock's fraction: 599.x or 600 s
        assert re.search(r"skewed=5 of=5 offset_s=(599|600) ", log) and "this server's clock looks wrong" in log
    finally:
        bot.stop()


def replies(fake_slack, index, channel="C0GENERAL"):
    messages = [m for m in fake_slack.messages.get(channel, []) if not m["thread_ts"]]
    return [r["text"] for r in fake_slack.thread(channel, messages[index]["ts"])] if len(messages) > index else []


def test_gateway_answers_not_in_the_spec_leave_the_sms_unconfirmed_with_the_answer_quoted(
    tmp_path, simulator, fake_slack
):
    odd = ["0", "1", "Success:0:", "Success:{id}:\r\nError: Not enough credits"]
    simulator.answer_with(*odd)
    bot = start_bot(tmp_path, simulator, fake_slack)
    numbers = ["27831234561", "27831234562", "27831234563", "27831234564"]
    try:
        send(bot, fake_slack, f"send {','.join(numbers)} Generator running")
        assert fake_slack.wait_for(lambda: len(replies(fake_slack, 0)) == 4, timeout=15), replies(fake_slack, 0)
        said = replies(fake_slack, 0)
        assert len(simulator.messages) == 4  # each went out once: nothing was resent
        tracking = simulator.messages[3].id
        for number, answer in zip(
            numbers, ['"0"', '"1"', '"Success:0:"', f'"Success:{tracking}: Error: Not'], strict=True
        ):
            reply = next(text for text in said if number in text)
            assert "can't tell whether" in reply and answer in reply, reply
        assert "sent ·" not in status_text(fake_slack) and "#0" not in status_text(fake_slack)
    finally:
        bot.stop()
    db = sqlite3.connect(str(tmp_path / "smsbot.db"))
    try:
        assert db.execute("SELECT DISTINCT status FROM messages").fetchall() == [("unconfirmed",)]
    finally:
        db.close()


def test_a_tracking_number_given_twice_is_noted_in_both_threads(tmp_path, simulator, fake_slack):
    simulator.answer_with("Success:777:", "Success:777:")
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        send(bot, fake_slack, "send 27831234561 Generator running")
        assert fake_slack.wait_for(lambda: "#777" in status_text(fake_slack), timeout=10)
        send(bot, fake_slack, "send 27831234562 Generator off")
        assert fake_slack.wait_for(lambda: replies(fake_slack, 0) and replies(fake_slack, 1), timeout=15)
        first, second = replies(fake_slack, 0), replies(fake_slack, 1)
        assert len(first) == len(second) == 1
        assert "27831234561 tracking number #777, which the SMS to 27831234562" in first[0]
        assert "27831234562 tracking number #777, which the SMS to 27831234561" in second[0]
        assert "event=tracking_reused tracking=777 message=2 earlier_message=1" in bot.log()
    finally:
        bot.stop()


def test_a_status_post_whose_answer_is_lost_appears_once(tmp_path, simulator, fake_slack):
    fake_slack.hang("chat.postMessage", 15.0)  # Slack posts it; the answer comes after the bot's 10 s
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        send(bot, fake_slack, "send 27831234567 Generator running")
        assert fake_slack.wait_for(lambda: "event=status_post_found job=1" in bot.log(), timeout=25), bot.log()
        assert fake_slack.wait_for(lambda: "sent" in status_text(fake_slack), timeout=10)  # and it is kept up to date
        assert len([m for m in fake_slack.messages["C0GENERAL"] if not m["thread_ts"]]) == 1
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
    finally:
        bot.stop()
