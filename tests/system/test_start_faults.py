"""Faults around `smsbot run`'s start and its files, caused for real against the real command (issue 20):
a second process on the same database (14), the sender unable to store what the gateway answered (14),
a journal that is a folder, unreadable or garbage (18), a backup killed midway (19), and the copy kept
before an upgrade (3)."""

import json
import os
import shutil
import signal
import sqlite3
import time

import requests

from bot.storage.db import MIGRATIONS
from tests.conftest import base_env, wait_for
from tests.process import CALLBACK_SECRET, folder_for, smsbot, start_bot
from tests.storage.test_migrations import old_file, version_and_text
from tests.system.test_faults import send, status_text

JOURNAL = "smsbot.db.accepted.jsonl"


def run_to_exit(env, cwd, args=("run",), user=None) -> tuple[int, str, str]:
    proc = smsbot(list(args), env, cwd, user=user)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def env_for(folder, simulator, fake_slack, **extra) -> dict:
    """The settings start_bot gives a bot in ``folder``: a second process with these uses the same database."""
    return base_env(
        folder,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMSBOT_CALLBACK_SECRET=CALLBACK_SECRET,
        **extra,
    )


def health(bot) -> tuple[int, dict]:
    """/healthz's status and body (its connection closed: waitress serves at most 100 open ones)."""
    with requests.get(bot.url + "/healthz", timeout=5) as response:
        return response.status_code, response.json()


# -- 14. one smsbot per database ---------------------------------------------------------------------
def test_a_second_run_on_the_same_database_is_refused_naming_the_first_and_kill_9_never_leaves_it_stuck(
    tmp_path, simulator, fake_slack
):
    simulator.hold()  # the first one's SMS is on the wire while the second one tries to start
    first = start_bot(tmp_path, simulator, fake_slack)
    try:
        send(first, fake_slack, "send 27831234567 Generator running")
        assert fake_slack.wait_for(lambda: simulator.max_concurrent == 1, timeout=10)
        code, out, err = run_to_exit(env_for(tmp_path, simulator, fake_slack), tmp_path)
        assert code == 1 and "Traceback" not in err, err
        assert (
            f"smsbot cannot start: another smsbot (PID {first.proc.pid}) is already running on the database "
            f"{tmp_path / 'smsbot.db'}" in err
        )
        assert "Stop that one first, or give this one its own SMSBOT_DB." in err and "running on" not in out
        simulator.release()  # the first one's send goes through, and is recorded as sent, not unconfirmed
        assert fake_slack.wait_for(
            lambda: bool(simulator.messages) and f"#{simulator.messages[0].id}" in status_text(fake_slack), timeout=10
        )
        assert "unconfirmed" not in status_text(fake_slack) and "unconfirmed" not in first.log()
        assert health(first)[0] == 200
    finally:
        simulator.release()
        assert first.stop() == -signal.SIGKILL  # kill -9: no chance to clean anything up
    again = start_bot(tmp_path, simulator, fake_slack)  # the kernel released the lock with the process
    try:
        assert health(again)[0] == 200
    finally:
        assert again.stop(signal.SIGTERM) == 0
    assert len(simulator.messages) == 1


# -- 14. /healthz when the sender cannot store what the gateway answered ------------------------------
def test_healthz_is_503_once_the_sender_has_not_stored_an_answer_for_the_stall_time(tmp_path, simulator, fake_slack):
    simulator.hold()
    bot = start_bot(tmp_path, simulator, fake_slack, SMSBOT_OUTBOX_STALL_SECONDS="2")
    lock = sqlite3.connect(str(tmp_path / "smsbot.db"), isolation_level=None)
    try:
        send(bot, fake_slack, "send 27831234567 Generator running")
        assert fake_slack.wait_for(lambda: simulator.max_concurrent == 1, timeout=10)
        assert fake_slack.wait_for(lambda: "event=slack_done job=1 kind=post" in bot.log(), timeout=10)
        assert health(bot)[0] == 200
        lock.execute("BEGIN EXCLUSIVE")  # another program holds the database ...
        simulator.release()  # ... when the gateway accepts the SMS: the sender cannot record it
        seen = []
        assert wait_for(lambda: seen.append(health(bot)) or seen[-1][0] == 503, timeout=20), seen[-1]
        details = seen[-1][1]
        assert details["sender_stalled"] is True and details["sender_unstored_seconds"] > 2, details
        assert (
            "message 1 (sent)" in details["sender_problem"]
            and "SMSBOT_OUTBOX_STALL_SECONDS=2" in details["sender_problem"]
        )
        assert details["database"] is True and details["database_state"] == "busy"  # busy alone: 503 after 60 s
        assert details["outbox_stalled"] is False
        lock.execute("ROLLBACK")
        assert wait_for(lambda: health(bot)[0] == 200, timeout=40), health(bot)
        assert health(bot)[1]["sender_unstored_seconds"] is None
        assert fake_slack.wait_for(
            lambda: bool(simulator.messages) and f"#{simulator.messages[0].id}" in status_text(fake_slack), timeout=10
        )
    finally:
        lock.close()
        simulator.release()
        bot.stop()


# -- 18. a journal that cannot be read is about that file, not the port -----------------------------------
def test_a_journal_that_is_a_folder_names_it_and_exits_2(tmp_path, simulator, fake_slack):
    (tmp_path / JOURNAL).mkdir()
    code, out, err = run_to_exit(env_for(tmp_path, simulator, fake_slack), tmp_path)
    assert code == 2 and "Traceback" not in err, err
    assert (
        f"smsbot cannot start: {tmp_path / JOURNAL}: it is a folder where smsbot keeps a file. "
        "Move that folder out of the way." in err
    )
    assert "listen" not in err and "SMSBOT_PORT" not in err


def test_a_journal_the_bot_may_not_read_names_it_and_its_user_and_exits_2(simulator, fake_slack):
    folder = folder_for("nobody")  # as root the file's mode would not matter
    try:
        journal = folder / JOURNAL
        journal.write_text('{"message_id": 1, "recipient": "27831234567", "sent_at": 1.0, "tracking_id": "9"}\n')
        os.chmod(journal, 0o000)
        code, out, err = run_to_exit(env_for(folder, simulator, fake_slack), folder, user="nobody")
        assert code == 2 and "Traceback" not in err, err
        assert (
            f"smsbot cannot start: {journal}: smsbot, running as nobody, may not read or write it. "
            "Give nobody read and write access to it." in err
        )
        assert "ports below 1024" not in err and "listen" not in err
        assert journal.stat().st_size > 0  # untouched: it holds an SMS the gateway accepted
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_20_mb_garbage_journal_gives_a_few_error_lines_and_the_bot_starts(tmp_path, simulator, fake_slack):
    garbage = os.urandom(20 << 20)
    (tmp_path / JOURNAL).write_bytes(garbage)
    lines = len([line for line in garbage.split(b"\n") if line.strip()])
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        errors = [line for line in bot.log().splitlines() if "level=ERROR" in line]
        assert len(errors) == 6, errors[:10]
        assert f"event=journal_lines_unreadable path={tmp_path / JOURNAL} count={lines} shown=5" in errors[-1]
        [aside] = tmp_path.glob(JOURNAL + ".unreadable-*")
        assert f"event=journal_unreadable_kept path={aside} lines={lines}" in bot.log()
        assert not (tmp_path / JOURNAL).exists() and aside.stat().st_size > 19 << 20
        assert health(bot)[0] == 200
    finally:
        assert bot.stop(signal.SIGTERM) == 0
    again = start_bot(tmp_path, simulator, fake_slack)  # told once: the next start has nothing to say
    try:
        assert "level=ERROR" not in again.log()
    finally:
        again.stop(signal.SIGTERM)


# -- 19. a killed backup's files are removed by the next backup ------------------------------------------
def big_database(path, megabytes: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE filler (blob)")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO filler SELECT randomblob(1048576) FROM n",
            (megabytes,),
        )
        conn.commit()
    finally:
        conn.close()


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_sigkill_during_a_backup_leaves_files_that_the_next_backup_removes(tmp_path):
    db, folder = tmp_path / "smsbot.db", tmp_path / "backups"
    big_database(db, 120)  # a few tenths of a second to copy: long enough to be killed midway
    env = {"SMSBOT_DB": str(db)}
    for _ in range(5):  # the copy may win the race against the kill; it never has five times running
        proc = smsbot(["backup", str(folder) + "/"], env, tmp_path)
        while proc.poll() is None and not any(p.stat().st_size > 10 << 20 for p in folder.glob("*.partial")):
            time.sleep(0.001)
        proc.kill()
        proc.communicate(timeout=30)
        if leftovers(folder):
            break
        for copy in folder.glob("smsbot-*.db"):
            copy.unlink()
    left = leftovers(folder)
    assert left and any(name.endswith(".partial") for name in left), left
    copy = folder / "after.db"  # another name than the killed one's: only the clean-up can remove its files
    code, out, err = run_to_exit(env, tmp_path, args=("backup", str(copy)))
    assert code == 0 and "Backed up" in out, err
    assert leftovers(folder) == [] and "event=backup_partial_removed" in err
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == 120
    finally:
        conn.close()


# -- 3. the copy kept before an upgrade ---------------------------------------------------------------------
def test_an_upgrade_keeps_a_copy_of_the_old_database_and_says_so_once(tmp_path, simulator, fake_slack):
    old_file(tmp_path / "smsbot.db", 10)
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        copy = tmp_path / f"smsbot.db.before-schema-{len(MIGRATIONS)}"
        said = [line for line in bot.log().splitlines() if "before-schema" in line]
        assert len(said) == 1 and f"event=db_copied_before_upgrade path={copy} from=10" in said[0]
        assert "delete it once this version works" in json.loads(said[0].split("note=", 1)[1])
        assert version_and_text(copy) == (10, "Generator running")
        assert health(bot)[0] == 200
    finally:
        assert bot.stop(signal.SIGTERM) == 0
    again = start_bot(tmp_path, simulator, fake_slack)
    try:
        assert "before-schema" not in again.log() and copy.exists()  # no upgrade: nothing said, nothing removed
    finally:
        again.stop(signal.SIGTERM)
