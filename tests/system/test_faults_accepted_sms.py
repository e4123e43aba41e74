"""An SMS the gateway accepted while the database was locked, proven end to end on `smsbot run`:
journaled beside the database, applied at the next start, never shown as unconfirmed."""

import json
import os
import signal
import sqlite3
import time

from tests.process import start_bot
from tests.system.test_faults import send, status_text, thread


def test_an_sms_accepted_while_the_database_is_locked_is_recorded_at_the_next_start(tmp_path, simulator, fake_slack):
    simulator.hold()  # the SMS is in flight while another process takes the database
    bot = start_bot(tmp_path, simulator, fake_slack)
    lock = sqlite3.connect(str(tmp_path / "smsbot.db"), isolation_level=None)
    journal = tmp_path / "smsbot.db.accepted.jsonl"
    try:
        send(bot, fake_slack, "send 27831234567 Generator running")
        assert fake_slack.wait_for(lambda: simulator.max_concurrent == 1, timeout=10)
        assert fake_slack.wait_for(lambda: "event=slack_done job=1 kind=post" in bot.log(), timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        simulator.release()  # the gateway accepts it; the bot cannot record that
        assert fake_slack.wait_for(lambda: journal.exists(), timeout=15)
        tracking = simulator.messages[0].id
        assert json.loads(journal.read_text())["tracking_id"] == tracking
        started = time.monotonic()  # SIGTERM while another program holds the file: exit 0 within 10 s
        assert bot.stop(signal.SIGTERM) == 0 and time.monotonic() - started < 10
    finally:
        lock.close()  # releases the lock
        bot.stop()
    assert "event=send_store_failed" in bot.log() and "event=worker_error name=sender" not in bot.log()
    again = start_bot(tmp_path, simulator, fake_slack)
    try:
        assert fake_slack.wait_for(lambda: f"#{tracking}" in status_text(fake_slack), timeout=10)
        assert "unconfirmed" not in status_text(fake_slack)
        assert not any("can't tell whether" in t for t in thread(fake_slack))  # no invitation to resend
        assert not journal.exists()
        assert len(simulator.messages) == 1
        assert f"event=send_sent_from_journal message=1 to=+27...567 tracking={tracking}" in again.log()
    finally:
        again.stop()
    db = sqlite3.connect(str(tmp_path / "smsbot.db"))
    try:
        assert db.execute("SELECT status, tracking_id FROM messages").fetchall() == [("sent", tracking)]
    finally:
        db.close()
    assert not os.path.exists(journal)
