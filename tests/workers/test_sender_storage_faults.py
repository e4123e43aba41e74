"""The sender when the database refuses to record what the gateway answered: the answer is kept,
written again with backoff, journaled beside the database, and never dropped."""

import json
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest
import responses

from bot.sms.gateway import SmsOfficeClient
from bot.workers.sender import Sender
from tests.conftest import GATEWAY_PASSWORD, Clock, wait_for
from tests.process import python_for, readable_environment

API = "http://gw.test/sms/api/"
SEND_URL = API + "sendsms.asp"
BATCH = {"user_id": "U1", "origin": "test", "text": "Generator running", "encoding": "GSM-7", "parts": 1}


@pytest.fixture
def events():
    return []


@pytest.fixture
def make_sender(queue, events):
    def make(clock=None):
        client = SmsOfficeClient(API, "acme", GATEWAY_PASSWORD, read_timeout=2)
        return Sender(
            queue,
            client,
            "ACMEOPS",
            clock=clock or Clock(1000.0),
            notify=lambda conn, event, row, error: events.append((event, row["id"], row["status"])),
        )

    return make


def enqueue(queue, recipients=("27831234567", "27821234567"), now=1000.0):
    with queue.db.transaction() as conn:
        return queue.enqueue(conn, BATCH, recipients, now)


class ExclusiveLock:
    """Another connection to the database file; ``take()`` holds BEGIN EXCLUSIVE until ``release()``."""

    def __init__(self, path):
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def take(self):
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN EXCLUSIVE")

    def release(self):
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")


@pytest.fixture
def lock_during_send(queue):
    """The gateway accepts the SMS (tracking 123456) while another connection takes the database
    with BEGIN EXCLUSIVE. Yields that lock, with ``gateway`` (the stub, to count its calls)."""
    lock = ExclusiveLock(queue.db.path)

    def accept(request):
        queue.db.conn.execute("PRAGMA busy_timeout = 50")  # the sender's own connection: give up fast
        lock.take()
        return 200, {}, "Success:123456"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as gateway:
        gateway.add_callback(responses.GET, SEND_URL, callback=accept)
        lock.gateway = gateway
        yield lock
    lock.release()
    lock.conn.close()


def test_an_accepted_sms_is_recorded_once_the_lock_is_released(queue, make_sender, lock_during_send, caplog):
    enqueue(queue)
    clock = Clock(1000.0)
    sender = make_sender(clock)
    assert sender.run_once() is True
    assert [r["status"] for r in queue.messages_of(1)] == ["sending", "queued"]
    assert "tracking=123456" in caplog.text
    for _ in range(3):  # while the lock is held the write is retried; nothing else is claimed or sent
        clock.t += sender.wait_time(clock.t)
        sender.run_once()
    assert len(lock_during_send.gateway.calls) == 1
    assert [r["status"] for r in queue.messages_of(1)] == ["sending", "queued"]
    lock_during_send.release()
    clock.t += sender.wait_time(clock.t)
    assert sender.run_once() is True
    first = queue.messages_of(1)[0]
    assert (first["status"], first["tracking_id"], first["sent_at"]) == ("sent", "123456", 1000.0)
    assert not os.path.exists(sender.journal.path)  # the database holds it now


def test_a_locked_database_is_retried_with_backoff_not_in_a_tight_loop(queue, make_sender, lock_during_send, caplog):
    enqueue(queue)
    clock = Clock(1000.0)
    sender = make_sender(clock)
    sender.run_once()
    while clock.t < 1060.0:  # a minute of the sender's loop: it sleeps at most a second at a time
        clock.t += min(1.0, max(0.01, sender.wait_time(clock.t)))
        sender.run_once()
    tries = [r for r in caplog.records if "event=send_store_failed" in r.getMessage()]
    assert 3 <= len(tries) <= 10
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text  # one line per try
    assert len(lock_during_send.gateway.calls) == 1


def test_at_shutdown_the_answer_is_in_the_journal_and_the_next_start_applies_it_before_recovery(
    queue, make_sender, lock_during_send, events
):
    enqueue(queue)
    sender = make_sender(time.time)
    sender.start()
    assert wait_for(lambda: os.path.exists(sender.journal.path))
    started = time.monotonic()
    assert sender.stop(timeout=5) is True
    assert time.monotonic() - started < 2
    assert [r["status"] for r in queue.messages_of(1)] == ["sending", "queued"]  # the database never took it
    entry = json.loads(Path(sender.journal.path).read_text())
    assert (entry["message_id"], entry["tracking_id"], entry["recipient"]) == (1, "123456", "27831234567")
    assert abs(entry["sent_at"] - time.time()) < 10
    lock_during_send.release()
    queue.claim(now=2000.0)  # the second SMS is in flight when the process dies
    events.clear()
    again = make_sender(Clock(2001.0))  # the next start
    unconfirmed = again.recover()
    assert [r["id"] for r in unconfirmed] == [2]
    first, second = queue.messages_of(1)
    assert (first["status"], first["tracking_id"], first["sent_at"]) == ("sent", "123456", entry["sent_at"])
    assert second["status"] == "unconfirmed"
    assert events == [("sent", 1, "sent"), ("unconfirmed", 2, "unconfirmed")]
    assert not os.path.exists(again.journal.path)


def test_when_the_journal_cannot_be_written_either_the_tracking_number_is_logged_at_error(
    queue, make_sender, lock_during_send, caplog
):
    enqueue(queue)
    sender = make_sender()
    os.mkdir(sender.journal.path)  # nothing can be appended there
    sender.run_once()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "tracking=123456" in errors[0] and "to=+27...567" in errors[0] and "message=1" in errors[0]
    sender.stop()
    sender.on_stop()  # shutdown tries the journal once more, and says so again
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "tracking=123456" in errors[1]


def test_a_journaled_answer_the_database_took_after_all_is_not_applied_twice(queue, make_sender, lock_during_send):
    enqueue(queue)
    sender = make_sender()
    sender.run_once()
    journal = sender.journal.path
    assert os.path.exists(journal)
    lock_during_send.release()
    # a crash after the retried write committed, before the journal was removed
    clock = Clock(1000.0 + sender.wait_time(1000.0))
    sender.clock = clock
    with open(journal) as f:
        kept = f.read()
    sender.run_once()
    with open(journal, "w") as f:
        f.write(kept)
    make_sender(Clock(3000.0)).recover()
    attempts = queue.db.conn.execute("SELECT tracking_id FROM attempts WHERE message_id = 1").fetchall()
    assert [a[0] for a in attempts] == ["123456"]
    assert queue.messages_of(1)[0]["sent_at"] == 1000.0


READ_ONLY_SCRIPT = r"""
import json, logging, os, pwd, sys, time
import bot
from bot.sms.gateway import SmsOfficeClient
from bot.storage.queue import SendQueue
from bot.storage.db import Database
from bot.workers.sender import Sender

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
folder, api, password = sys.argv[1:4]
if os.getuid() == 0:  # root ignores file modes: become nobody, who owns the folder
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
path = os.path.join(folder, "smsbot.db")
db = Database(path)
db.migrate()
with db.transaction() as conn:
    SendQueue(db).enqueue(conn, {"user_id": "U1", "text": "Generator running", "encoding": "GSM-7", "parts": 1},
                          ["27831234567"], time.time())
db.close()
os.chmod(path, 0o444)  # the database file turns read-only under the bot
db = Database(path)
sender = Sender(SendQueue(db), SmsOfficeClient(api, "acme", password), "ACMEOPS")
sender.start()
time.sleep(2.0)
print(json.dumps({"uid": os.getuid(), "stopped": sender.stop(5), "bot": bot.__file__}))
"""


def test_a_read_only_database_makes_the_sender_back_off_not_flood_the_log(simulator):
    """As a non-root user (nobody, when the tests run as root), in a folder it owns."""
    import pwd
    import shutil
    import subprocess
    import tempfile

    user = "nobody" if os.getuid() == 0 else None  # the script becomes nobody itself, after its imports
    python = python_for(user)  # for nobody: a copy of bot and its packages it can read (the checkout may be private)
    folder = tempfile.mkdtemp(prefix="smsbot-readonly-", dir="/tmp")  # pytest's and $TMPDIR may be private to root
    try:
        if user:
            nobody = pwd.getpwnam(user)
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        done = subprocess.run(
            [python, "-c", READ_ONLY_SCRIPT, folder, simulator.api_url, GATEWAY_PASSWORD],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=folder,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["stopped"] is True and result["uid"] != 0
    if user:  # nobody ran the copy, never the checkout (which it may not be able to read)
        assert result["bot"].startswith(str(readable_environment()) + "/"), result["bot"]
    problems = [line for line in done.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert "readonly" in done.stderr  # SQLite itself refused the write
    assert 1 <= len(problems) <= 5  # two seconds of a refusing database: a few lines, not hundreds
    assert all("event=claim_failed" in line for line in problems)
    assert "Traceback" not in done.stderr
    assert simulator.messages == []  # nothing was sent that could not be recorded
