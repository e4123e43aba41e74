"""Storage faults, caused for real: a file made read-only under a bot running as a non-root user,
a file deleted under the running bot, and another program holding the database locked."""

import os
import shutil
import sqlite3
import time

import pytest
import requests

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.testing.slack_requests import command_body, sign
from bot.web.routes import CALLBACK_PREFIX
from tests.conftest import SIGNING_SECRET, Clock, Driver, base_env, wait_for
from tests.process import CALLBACK_SECRET, folder_for, start_bot

REPORT = {"messageid": "90000001", "statusid": "200", "statusmessage": "Delivered to Mobile", "to": "27831234567"}
SLACK_LIMIT_SECONDS = 3.0  # Slack shows the user an error after this long
HEALTH_LIMIT_SECONDS = 1.0  # the issue: /healthz answers within 1 s
BUSY_LIMIT_SECONDS = 60  # the issue: busy keeps 200 until busy 60 s in a row


def slack_send(url: str, text: str, fake_slack) -> tuple[str, float]:
    body = command_body(text, response_url=fake_slack.response_url("faults"))
    started = time.monotonic()
    response = requests.post(url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["text"], time.monotonic() - started


def count(path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


# -- 10. a connection opened while the file was read-only heals once the file is writable again --------
def test_a_read_only_file_refuses_writes_and_everything_heals_when_it_is_writable_again(simulator, fake_slack):
    folder = folder_for("nobody")  # the bot runs as nobody: root would ignore the file's mode
    bot = start_bot(folder, simulator, fake_slack, user="nobody")
    try:
        db_file = folder / "smsbot.db"
        report_url = bot.url + CALLBACK_PREFIX + CALLBACK_SECRET
        os.chmod(db_file, 0o444)  # the fault; no request has opened a connection yet
        health = requests.get(bot.url + "/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["database_state"] == "read_only"
        assert "read-only" in health.json()["database_problem"]
        assert requests.get(report_url, params=REPORT, timeout=5).status_code == 500  # the gateway retries
        text, _ = slack_send(bot.url, "send 27831234567 Generator running", fake_slack)
        assert "couldn't store your" in text and "nothing was queued" in text

        os.chmod(db_file, 0o644)  # the fault clears: no restart
        assert requests.get(report_url, params=REPORT, timeout=5).status_code == 200
        text, _ = slack_send(bot.url, "send 27831234567 Generator running", fake_slack)
        assert "Queued 1 SMS" in text
        assert wait_for(lambda: requests.get(bot.url + "/healthz", timeout=5).status_code == 200, timeout=5)
        assert wait_for(lambda: len(simulator.messages) == 1, timeout=10)
        assert count(db_file, "reports") == 1 and count(db_file, "messages") == 1
    finally:
        bot.stop()
        shutil.rmtree(folder, ignore_errors=True)


# -- 10. a file deleted under the running bot is neither written nor created again -------------------------
def test_a_deleted_database_keeps_the_bot_up_refusing_writes_and_saying_what_to_do(
    slack_driver, bot, tmp_path, fake_slack, caplog
):
    bot.sender.start()
    bot.notifier.start()
    try:
        for name in ("smsbot.db", "smsbot.db-wal", "smsbot.db-shm"):
            os.remove(tmp_path / name)
        health = requests.get(bot.server.url + "/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["database_state"] == "gone"
        assert "smsbot.db was deleted while smsbot was running" in health.json()["database_problem"]
        text, _ = slack_send(bot.server.url, "send 27831234567 Generator running", fake_slack)
        assert "couldn't store your" in text and "nothing was queued" in text
        report_url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
        assert requests.get(report_url, params=REPORT, timeout=5).status_code == 500
        assert not (tmp_path / "smsbot.db").exists()  # never an empty new one (with a new callback secret)
        gone = [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and "database_gone" in r.getMessage()]
        assert len(gone) == 1 and "restart smsbot" in gone[0] and "Do not restart without it" in gone[0]
        assert wait_for(lambda: "event=database_rescued copy=" in caplog.text)  # whichever thread noticed first
        copy = next(tmp_path.glob("smsbot.db.rescued-*"))  # what the bot still saw, saved beside it
        assert count(copy, "kv") >= 1
        assert bot.sender.is_alive() and bot.notifier.is_alive()  # up, not crashed
    finally:
        bot.sender.stop()
        bot.notifier.stop()


# -- 11. a locked database: answers in time, and nothing queued that the user was told failed -------------
@pytest.fixture
def locker(tmp_path):
    """Another program's connection; ``hold()`` takes the write lock until ``free()``."""
    conn = sqlite3.connect(tmp_path / "smsbot.db", isolation_level=None)

    class Locker:
        def hold(self):
            conn.execute("BEGIN EXCLUSIVE")

        def free(self):
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    lock = Locker()
    yield lock
    lock.free()
    conn.close()


def test_a_send_under_a_locked_database_is_answered_in_time_and_nothing_is_queued(
    slack_driver, bot, tmp_path, fake_slack, locker
):
    locker.hold()
    text, seconds = slack_send(bot.server.url, "send 27831234567 Generator running", fake_slack)
    assert seconds < SLACK_LIMIT_SECONDS
    assert "couldn't store your" in text and "nothing was queued" in text and "Try again" in text
    locker.free()
    assert count(tmp_path / "smsbot.db", "messages") == 0 and count(tmp_path / "smsbot.db", "outbox") == 0
    text, _ = slack_send(bot.server.url, "send 27831234567 Generator running", fake_slack)  # the retry
    assert "Queued 1 SMS" in text and count(tmp_path / "smsbot.db", "messages") == 1


def test_healthz_answers_in_time_under_a_lock_and_turns_503_after_a_minute_busy(
    tmp_path, simulator, fake_slack, locker
):
    clock = Clock(time.time())
    settings = load_settings(base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url))
    bot = Bot(settings, clock=clock)
    bot.start()
    try:
        url = bot.server.url + "/healthz"
        assert wait_for(lambda: requests.get(url, timeout=5).status_code == 200)
        time.sleep(1.1)  # past the last probe
        locker.hold()
        started = time.monotonic()
        busy = requests.get(url, timeout=5)
        assert time.monotonic() - started < HEALTH_LIMIT_SECONDS
        assert busy.status_code == 200 and busy.json()["database_state"] == "busy"
        clock.t += BUSY_LIMIT_SECONDS - 1
        assert requests.get(url, timeout=5).status_code == 200
        clock.t += 2
        started = time.monotonic()
        still = requests.get(url, timeout=5)
        assert time.monotonic() - started < HEALTH_LIMIT_SECONDS
        assert still.status_code == 503 and still.json()["database_busy_seconds"] >= BUSY_LIMIT_SECONDS
        assert "held the database" in still.json()["database_problem"]
        locker.free()
        assert wait_for(lambda: requests.get(url, timeout=5).json()["database_state"] == "ok", timeout=3)
        assert requests.get(url, timeout=5).status_code == 200
    finally:
        locker.free()
        bot.stop()


def test_the_compose_form_under_a_locked_database_is_answered_in_time_and_nothing_is_queued(
    slack_driver: Driver, tmp_path, locker
):
    locker.hold()
    started = time.monotonic()
    response = slack_driver.submit(
        "sms_compose",
        {"recipients": "27831234567", "message": "Generator running"},
        private_metadata='{"channel_id": "C0GENERAL"}',
    )
    assert time.monotonic() - started < SLACK_LIMIT_SECONDS
    assert "nothing was queued" in " ".join(response.json()["errors"].values())
    locker.free()
    assert count(tmp_path / "smsbot.db", "messages") == 0
