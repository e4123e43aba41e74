"""Retention (SMSBOT_RETENTION_DAYS): texts and numbers erased in place once a send's final status is
old enough; counts, parts, credits, statuses, times and countries kept; opt-outs, audit and groups kept;
expired previews purged; the daily job works in small transactions. On both backends; on PostgreSQL a
pass ends with a VACUUM of the tables it erased from (erased rows otherwise stay as dead tuples)."""

import logging
import re
import sqlite3
from pathlib import Path

import pytest
import requests

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.storage import retention as retention_module
from bot.web.routes import CALLBACK_PREFIX
from tests.conftest import Clock, Driver, another_connection, base_env, said

DAY = 86400.0
T0 = 1_780_000_000.0
ADMIN = "U0BOSS"


def make_driver(tmp_path, simulator, fake_slack, **env):
    settings = load_settings(
        base_env(
            tmp_path,
            SMSOFFICE_API_URL=simulator.api_url,
            SLACK_API_URL=fake_slack.api_url,
            SMSBOT_ADMIN_USERS=ADMIN,
            SMSBOT_RETENTION_DAYS="30",
            **env,
        )
    )
    bot = Bot(settings, clock=Clock(T0))
    bot.server.start()
    return Driver(bot, fake_slack)


@pytest.fixture
def d(tmp_path, simulator, fake_slack, database_env):
    driver = make_driver(tmp_path, simulator, fake_slack, **database_env)
    yield driver
    driver.bot.stop()


@pytest.fixture
def pg(tmp_path, simulator, fake_slack, pg_url):
    """A bot on PostgreSQL only (the tests of what VACUUM does there)."""
    driver = make_driver(tmp_path, simulator, fake_slack, SMSBOT_DATABASE_URL=pg_url)
    yield driver
    driver.bot.stop()


def report(d, message, status_id=200):
    url = d.bot.server.url + CALLBACK_PREFIX + d.bot.callback_secret
    params = {
        "messageid": message.id,
        "to": message.to,
        "from": "ACMEOPS",
        "StatusID": status_id,
        "statusMessage": "Delivered to Mobile",
    }
    assert requests.get(url, params=params, timeout=5).status_code == 200
    d.bot.applier.run_once()  # the leader applies it (its thread is not running here)


def rows(d, sql, *args):
    return [tuple(r) for r in d.bot.db.conn.execute(sql, args).fetchall()]


@pytest.fixture
def aged(d, simulator):
    """Day 0: a send to two numbers, delivered on day 2 (its final status). Day 20: a second send."""
    said(d.command("group add team 27831234567,+26771234567", user_id=ADMIN))
    said(d.command("optout add 27841234567 asked", user_id=ADMIN))
    said(d.command("send team Old secret text"))
    d.pump()
    d.bot.clock.t = T0 + 2 * DAY
    report(d, simulator.messages[0])
    d.bot.clock.t = T0 + 20 * DAY
    said(d.command("send 27821234567 Newer text"))
    d.pump()
    return d


def test_nothing_is_erased_before_the_final_status_is_old_enough(aged):
    assert aged.bot.retention.run_all(T0 + 31 * DAY)["sends"] == 0  # delivered on day 2: 30 days on day 32
    assert rows(aged, "SELECT text FROM batches ORDER BY id") == [("Old secret text",), ("Newer text",)]


def test_texts_and_numbers_are_erased_in_place_and_the_rest_is_kept(aged, simulator):
    before = rows(
        aged,
        "SELECT m.id, status, b.parts, tracking_id, country, queued_at, sent_at, dlr_status_id, dlr_at "
        "FROM messages m JOIN batches b ON b.id = m.batch_id ORDER BY m.id",
    )
    assert aged.bot.retention.run_all(T0 + 32.5 * DAY)["sends"] == 1
    assert rows(aged, "SELECT text, notes, erased_at FROM batches ORDER BY id") == [
        ("", None, T0 + 32.5 * DAY),
        ("Newer text", None, None),
    ]
    assert rows(aged, "SELECT recipient FROM messages ORDER BY id") == [("",), ("",), ("27821234567",)]
    assert rows(aged, "SELECT recipient, raw FROM reports") == [(None, None)]
    after = rows(
        aged,
        "SELECT m.id, status, b.parts, tracking_id, country, queued_at, sent_at, dlr_status_id, dlr_at "
        "FROM messages m JOIN batches b ON b.id = m.batch_id ORDER BY m.id",
    )
    assert after == before and [r[4] for r in after] == ["ZA", "BW", "ZA"]
    # never erased: the do-not-contact list, the audit log, the groups
    assert rows(aged, "SELECT number, reason FROM opt_outs") == [("27841234567", "asked")]
    assert len(rows(aged, "SELECT * FROM audit_log")) == 2
    assert rows(aged, "SELECT count(*) FROM group_members") == [(2,)]
    # and a second pass finds nothing more, but erases the number of a report that came in late
    report(aged, simulator.messages[1])
    assert aged.bot.retention.run_all(T0 + 33 * DAY) == {
        "sends": 0,
        "reports": 1,
        "previews": 0,
        "answers": 0,
        "outbox": 0,
    }
    assert rows(aged, "SELECT recipient, raw FROM reports") == [(None, None), (None, None)]


def test_history_status_usage_and_export_still_work_after_erasure(aged, simulator):
    aged.bot.clock.t = T0 + 33 * DAY
    aged.bot.retention.run_all(aged.bot.clock())
    history = said(aged.command("history"))
    assert "2 recipients (numbers and text erased after 30 days)" in history and "27831234567" not in history
    status = said(aged.command(f"status {simulator.messages[0].id}"))
    assert "erased after 30 days" in status and "Old secret text" not in status and "South Africa" in status
    assert "Newer text" in said(aged.command(f"status {simulator.messages[2].id}"))
    usage = said(aged.command("usage 2026-05", user_id=ADMIN))
    assert "*Total:* 2 SMS, 2 credits" in usage  # the erased send still counts (the newer one is in June)


def test_a_send_still_waiting_to_go_out_is_never_erased(d, simulator):
    simulator.balance = 0
    said(d.command("send 27831234567 Waiting"))
    d.bot.sender.paused_until = float("inf")  # never claimed: still queued
    assert d.bot.retention.run_all(T0 + 400 * DAY)["sends"] == 0
    assert rows(d, "SELECT recipient, status FROM messages") == [("27831234567", "queued")]


def test_expired_previews_are_purged(driver_with, d):
    said(d.command("send 27831234567," + ",".join(f"2783123450{i}" for i in range(10)) + " Costly"))
    assert rows(d, "SELECT count(*) FROM pending_sends") == [(1,)]
    assert d.bot.retention.run_all(T0 + 600 + 0.5 * DAY)["previews"] == 0  # a late click still gets its answer
    assert d.bot.retention.run_all(T0 + 600 + 1.1 * DAY)["previews"] == 1
    assert rows(d, "SELECT count(*) FROM pending_sends") == [(0,)]


def test_the_daily_job_works_in_small_transactions_then_waits_a_day(aged, monkeypatch, caplog):
    monkeypatch.setattr(retention_module, "CHUNK", 1)
    said(aged.command("send 27821234568 Third"))
    aged.pump()
    worker, now = aged.bot.retention_worker, T0 + 60 * DAY
    caplog.set_level(logging.INFO, logger="bot.workers.retention")
    erased = []
    while worker.run_once(now):
        erased.append(rows(aged, "SELECT count(*) FROM batches WHERE erased_at IS NOT NULL")[0][0])
        assert len(erased) < 10
    assert erased[:3] == [1, 2, 3]  # one send per transaction
    assert "event=retention_pass days=30 sends_erased=3" in caplog.text
    assert worker.run_once(now + DAY - 1) is False and worker.wait_time(now) == pytest.approx(DAY)


def test_log_lines_show_numbers_masked(d, simulator, caplog):
    caplog.set_level(logging.INFO)
    said(d.command("send 27831234567 Hello"))
    d.pump()
    report(d, simulator.messages[0])
    sent = [
        r.getMessage()
        for r in caplog.records
        if "event=send_sent" in r.getMessage() or "event=report_" in r.getMessage()
    ]
    assert sent and all("to=+27...567" in line for line in sent)
    assert "27831234567" not in caplog.text


# -- erased means gone from the file: secure_delete and a TRUNCATE checkpoint after each batch ----------
NUMBER, TEXT = b"27829876543", b"Quokka vault code 7719"


@pytest.fixture
def secure_delete_off_by_default(monkeypatch):
    """Every new connection starts with secure_delete off, as with a SQLite built without
    SQLITE_SECURE_DELETE (Debian's Python has it on): only smsbot's own set-up can turn it on.
    Ask for it before the bot, so that it is in place when the bot opens its first connection."""
    connect = sqlite3.connect

    def off_at_first(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(sqlite3, "connect", off_at_first)


def file_bytes(d) -> bytes:
    """The database file and its WAL as they are on disk, read while the bot still has them open."""
    path = Path(d.bot.settings.db_path)
    return path.read_bytes() + Path(f"{path}-wal").read_bytes()


def pass_at(d, now) -> None:
    worker = d.bot.retention_worker
    worker.next_pass_at = 0.0
    while worker.run_once(now):
        pass


@pytest.mark.sqlite_only("reads the SQLite file and its WAL; PostgreSQL: the VACUUM tests below")
def test_erased_numbers_and_texts_are_gone_from_the_database_file_and_its_wal(
    secure_delete_off_by_default, d, simulator
):
    said(d.command(f"send {NUMBER.decode()} {TEXT.decode()}"))
    d.pump()
    assert simulator.messages[0].to == NUMBER.decode()
    on_disk = file_bytes(d)
    assert NUMBER in on_disk and TEXT in on_disk  # the control: there before retention
    pass_at(d, T0 + 31 * DAY)
    assert rows(d, "SELECT count(*) FROM batches WHERE erased_at IS NOT NULL") == [(1,)]
    on_disk = file_bytes(d)
    assert NUMBER not in on_disk and TEXT not in on_disk
    assert Path(f"{d.bot.settings.db_path}-wal").stat().st_size == 0  # the WAL was emptied


@pytest.mark.sqlite_only("reads the SQLite file; PostgreSQL: the VACUUM tests below")
def test_a_purged_preview_leaves_no_trace_of_its_plan_in_the_file(secure_delete_off_by_default, d):
    numbers = [f"278298765{i:02}" for i in range(12)]
    said(d.command(f"send {','.join(numbers)} {TEXT.decode()}"))  # over the confirmation threshold: held
    assert rows(d, "SELECT count(*) FROM pending_sends") == [(1,)] and d.bot.queue.depth() == 0
    on_disk = file_bytes(d)
    assert numbers[3].encode() in on_disk and TEXT in on_disk  # the control: the plan is there
    pass_at(d, T0 + 2 * DAY)
    assert rows(d, "SELECT count(*) FROM pending_sends") == [(0,)]
    on_disk = file_bytes(d)
    assert not any(n.encode() in on_disk for n in numbers) and TEXT not in on_disk


@pytest.mark.sqlite_only("a WAL checkpoint blocked by an SQLite reader")
def test_a_checkpoint_blocked_by_a_reader_is_logged_once_and_done_once_it_can_be(d, simulator, caplog):
    caplog.set_level(logging.INFO, logger="bot.storage.retention")
    said(d.command(f"send {NUMBER.decode()} {TEXT.decode()}"))
    d.pump()
    reader = sqlite3.connect(d.bot.settings.db_path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM messages").fetchall()  # holds its snapshot: the WAL must stay
        now = T0 + 31 * DAY
        pass_at(d, now)  # does not crash, erases all the same
        assert rows(d, "SELECT recipient FROM messages") == [("",)] and d.bot.retention.wal_owed
        worker = d.bot.retention_worker
        assert worker.wait_time(now) == pytest.approx(retention_module.CHECKPOINT_RETRY_SECONDS)
        assert worker.run_once(now + retention_module.CHECKPOINT_RETRY_SECONDS)  # tried again: still blocked
        assert caplog.text.count("event=retention_checkpoint_blocked") == 1
        assert TEXT in file_bytes(d)  # honestly: still in the WAL while the reader holds it
    finally:
        reader.close()
    assert worker.run_once(now + 2 * retention_module.CHECKPOINT_RETRY_SECONDS)
    assert not d.bot.retention.wal_owed and "event=retention_checkpoint_done" in caplog.text
    assert NUMBER not in file_bytes(d) and TEXT not in file_bytes(d)
    assert worker.run_once(now + 3 * retention_module.CHECKPOINT_RETRY_SECONDS) is False  # nothing owed now


# -- PostgreSQL: an erased row stays in the table's data as a dead tuple until VACUUM -------------------------
ERASED_FROM = ("batches", "messages", "reports")


def vacuum_stats(d, tables) -> dict[str, tuple]:
    """(last_vacuum, n_dead_tup) of each table, read by another session as the server reports them."""
    with another_connection(d.bot.db) as conn:
        return {
            name: (last, dead)
            for name, last, dead in conn.execute(
                "SELECT relname, last_vacuum, n_dead_tup FROM pg_stat_user_tables WHERE relname = ANY(%s)",
                (list(tables),),
            )
        }


def test_a_pass_that_erased_rows_vacuums_the_tables_it_erased_from(pg, simulator, caplog):
    caplog.set_level(logging.INFO, logger="bot.storage.retention")
    said(pg.command(f"send {NUMBER.decode()} {TEXT.decode()}"))
    pg.pump()
    report(pg, simulator.messages[0])
    before = vacuum_stats(pg, ERASED_FROM)
    pass_at(pg, T0 + 31 * DAY)
    assert rows(pg, "SELECT recipient FROM messages") == [("",)]  # erased: the old row versions are dead tuples
    after = vacuum_stats(pg, ERASED_FROM)
    for table in ERASED_FROM:
        last, dead = after[table]
        assert last is not None and (before[table][0] is None or last > before[table][0]), table
        assert dead == 0, table  # VACUUM cleared the dead tuples that held the old text and number
    vacuumed = re.search(r"event=retention_vacuumed tables=(\S+)", caplog.text)
    assert vacuumed and set(ERASED_FROM) <= set(vacuumed.group(1).split(","))
    assert not pg.bot.retention.vacuum_owed


def test_a_pass_vacuums_only_the_tables_it_erased_from(pg, simulator, caplog):
    caplog.set_level(logging.INFO, logger="bot.storage.retention")
    said(pg.command(f"send {NUMBER.decode()} {TEXT.decode()}"))
    pg.pump()
    before = vacuum_stats(pg, ERASED_FROM)
    pass_at(pg, T0 + 2 * DAY)  # too young to erase (only the replay answers' window has passed)
    assert rows(pg, "SELECT recipient FROM messages") == [(NUMBER.decode(),)]
    assert vacuum_stats(pg, ERASED_FROM) == before
    vacuumed = re.search(r"event=retention_vacuumed tables=(\S+)", caplog.text)
    assert vacuumed and vacuumed.group(1) == "slack_requests"  # the Slack answers it deleted


def test_a_vacuum_that_fails_is_logged_and_owed_to_the_next_pass(pg, simulator, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="bot.storage.retention")
    said(pg.command(f"send {NUMBER.decode()} {TEXT.decode()}"))
    pg.pump()
    db = pg.bot.db
    vacuum = db.vacuum
    # the server refuses the first VACUUM (of a table that is not there): a real error, before any table
    monkeypatch.setattr(db, "vacuum", lambda tables: vacuum(["no_such_table", *tables]))
    pass_at(pg, T0 + 31 * DAY)  # does not crash
    assert "event=retention_vacuum_failed" in caplog.text and set(ERASED_FROM) <= pg.bot.retention.vacuum_owed
    monkeypatch.setattr(db, "vacuum", vacuum)
    pass_at(pg, T0 + 32 * DAY)  # nothing more to erase, but the owed VACUUM is done
    assert not pg.bot.retention.vacuum_owed
    assert all(dead == 0 for _, dead in vacuum_stats(pg, ERASED_FROM).values())
