"""A real `smsbot run` on PostgreSQL (SMSBOT_DATABASE_URL): it starts, takes /sms send from Slack, hands the
SMS to the gateway once, stores it as sent in PostgreSQL, keeps the URL's password out of its log and
output, and stops on SIGTERM."""

import signal
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from bot.testing.slack_requests import command_body, sign
from tests.conftest import SIGNING_SECRET, wait_for
from tests.process import start_bot


def test_a_whole_bot_on_postgresql_sends_an_sms_end_to_end(tmp_path, simulator, fake_slack, pg_url):
    parts = urlsplit(pg_url)  # a password in the URL, which the log must never show (trust auth: never asked for)
    url = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:pg-Pa55word@{parts.hostname}:{parts.port}"))
    bot = start_bot(tmp_path, simulator, fake_slack, SMSBOT_DATABASE_URL=url)
    try:
        body = command_body("send 27831234567 Generator running", response_url=fake_slack.response_url("t"))
        answer = requests.post(bot.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=10)
        assert answer.status_code == 200 and "Queued 1 SMS" in answer.json()["text"]
        assert wait_for(lambda: [m.to for m in simulator.messages] == ["27831234567"], timeout=10)

        def stored():
            with psycopg.connect(pg_url, autocommit=True) as conn:
                return conn.execute("SELECT recipient, status, tracking_id IS NOT NULL FROM messages").fetchall()

        assert wait_for(lambda: stored() == [("27831234567", "sent", True)], timeout=10)
        assert not (tmp_path / "smsbot.db").exists()  # SMSBOT_DB's file is not used (its folder keeps the journal)
        assert bot.stop(signal.SIGTERM) == 0
        assert "database:       PostgreSQL postgresql://postgres:***@127.0.0.1" in bot.printed
        assert "pg-Pa55word" in url and "pg-Pa55word" not in bot.log() + bot.printed
    finally:
        bot.stop()
