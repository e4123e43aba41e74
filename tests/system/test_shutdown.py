"""SIGTERM to a real `smsbot run` while the gateway hangs: exit 0 within 10 s, nothing after `stopped`."""

import signal
import sqlite3
import time

import requests

from bot.sms.gateway import BALANCE_READ_SECONDS
from bot.testing.slack_requests import command_body, sign
from tests.conftest import SIGNING_SECRET
from tests.process import start_bot

EXIT_LIMIT_SECONDS = 10  # the limit for SIGTERM → exit


def sigterm(bot) -> tuple[int, float, float]:
    """(exit status, seconds to exit, monotonic time of the exit)."""
    started = time.monotonic()
    status = bot.stop(signal.SIGTERM)
    ended = time.monotonic()
    return status, ended - started, ended


def after_stopped(log: str) -> list[str]:
    lines = log.splitlines()
    stopped = [i for i, line in enumerate(lines) if "event=stopped" in line]
    assert stopped, log
    return lines[stopped[0] + 1 :]


def rows(tmp_path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(tmp_path / "smsbot.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_sigterm_while_a_send_hangs_and_a_balance_check_waits_exits_0_in_time(tmp_path, simulator, fake_slack):
    bot = start_bot(tmp_path, simulator, fake_slack, SMSBOT_BALANCE_CHECK_SECONDS="1")
    try:
        assert fake_slack.wait_for(lambda: "event=balance_check outcome=ok" in bot.log(), timeout=10)
        simulator.hold(balance=True)  # from now on the gateway takes every request and never answers
        body = command_body("send 27831234567 Generator running", response_url=fake_slack.response_url("t"))
        requests.post(bot.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=5)
        assert fake_slack.wait_for(lambda: any(name == "sendsms.asp" for name, _ in simulator.calls), timeout=5)
        time.sleep(1.5)  # the next balance check is due, and waits behind the hanging send
        calls_before = len(simulator.calls)
        status, seconds, exited = sigterm(bot)
        assert status == 0 and seconds < EXIT_LIMIT_SECONDS
        time.sleep(0.3)
        assert len(simulator.calls) == calls_before  # the waiting balance check never reached the gateway
        assert after_stopped(bot.log()) == []
        # the send cut off on the wire was recorded before `stopped`: a person decides, never resent blindly
        assert rows(tmp_path, "SELECT status FROM messages") == [("unconfirmed",)]
        assert rows(tmp_path, "SELECT outcome FROM balance_history") == [("ok",)] * len(
            [name for name, _ in simulator.calls if name == "balance.asp"]
        )
    finally:
        simulator.release()
        bot.stop()


def test_sigterm_while_the_balance_check_hangs_exits_at_once_and_records_nothing(tmp_path, simulator, fake_slack):
    simulator.hold(balance=True)  # the check at start-up hangs on the wire
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        assert fake_slack.wait_for(lambda: [name for name, _ in simulator.calls] == ["balance.asp"], timeout=10)
        status, seconds, exited = sigterm(bot)
        # the query was cut, not waited for: well under its own read timeout (on a loaded machine the
        # process still needs a moment to stop its threads)
        assert status == 0 and seconds < BALANCE_READ_SECONDS - 3
        assert after_stopped(bot.log()) == []
        assert "event=balance_check_abandoned" in bot.log()
        assert rows(tmp_path, "SELECT * FROM balance_history") == []  # our own cut is not an outage
    finally:
        simulator.release()
        bot.stop()
