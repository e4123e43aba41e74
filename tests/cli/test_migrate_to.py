"""`smsbot migrate-to postgresql://…` as a process: a team's SQLite history moves whole, or not at all."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.storage.lock import hold_database
from bot.web.routes import callback_path
from tests.conftest import Driver, base_env, create_database, drop_database, said, wait_for
from tests.process import smsbot

ADMIN = "U0BOSS"
PASSWORD = "n0t-Shown!"  # trust authentication ignores it; it must never be printed


@pytest.fixture
def empty_postgres():
    """A new, empty PostgreSQL database (dropped afterwards): its URL, with a password in it."""
    url = create_database("smsbot_migrate")
    parts = urlsplit(url)
    yield urlunsplit(
        parts._replace(netloc=f"{parts.username or 'postgres'}:{PASSWORD}@{parts.hostname}:{parts.port or 5432}")
    )
    drop_database(url)


def tables_of(conn, names) -> dict[str, list[tuple]]:
    return {name: sorted(map(tuple, conn.execute(f'SELECT * FROM "{name}"').fetchall()), key=repr) for name in names}


@pytest.fixture
def history(tmp_path, simulator, fake_slack):
    """A SQLite database with a real history: sends (one scheduled), delivery reports, a group, a template,
    an opt-out, an access entry and the audit log; the bot stopped again. Its environment."""
    env = base_env(
        tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url, SMSBOT_ADMIN_USERS=ADMIN
    )
    bot = Bot(load_settings(env))
    bot.server.start()
    simulator.callback_url, simulator.dlr_delay = bot.server.url + callback_path(bot.callback_secret), 0.05
    d = Driver(bot, fake_slack)
    try:
        said(d.command("group add oncall 27831234567,27821234567", user_id=ADMIN))
        said(d.command("template add shift Shift change at {time}", user_id=ADMIN))
        said(d.command("send oncall Generator running", user_id=ADMIN))
        said(d.command("send --at in 2h 27841234567 Reminder", user_id=ADMIN))
        said(d.command("optout add 27851234567", user_id=ADMIN))
        said(d.command("access allow user U0NEW", user_id=ADMIN))
        d.pump()
        assert len(simulator.messages) == 2
        assert wait_for(lambda: bot.db.conn.execute("SELECT count(*) FROM reports").fetchone()[0] >= 2, timeout=10)
    finally:
        bot.stop()
    return env


@pytest.mark.postgres
def test_the_whole_history_moves_and_the_bot_goes_on_from_it(history, empty_postgres, tmp_path, simulator, fake_slack):
    proc = smsbot(["migrate-to", empty_postgres], history, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "count checked on both sides" in out and PASSWORD not in out + err
    with closing(sqlite3.connect(history["SMSBOT_DB"])) as lite, psycopg.connect(empty_postgres) as pg:
        names = [
            r[0]
            for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        names = [n for n in names if n != "leases"]
        lite_tables = tables_of(lite, names)
        copied = {
            n: sorted(map(tuple, pg.execute(f'SELECT {", ".join(pg_columns_of(lite, n))} FROM "{n}"')), key=repr)
            for n in names
        }
    assert sum(map(len, lite_tables.values())) > 20  # a real history: messages, attempts, charges, audit …
    for name in names:
        assert copied[name] == lite_tables[name], name  # every column of every row, as it was
    # the bot runs on PostgreSQL from there: the same history, and new ids after the copied ones
    bot = Bot(load_settings({**history, "SMSBOT_DATABASE_URL": empty_postgres}))
    bot.server.start()
    d = Driver(bot, fake_slack)
    try:
        history_text = said(d.command("history", user_id=ADMIN))
        assert "2 recipients" in history_text and "27841234567" in history_text
        assert "Queued 1 SMS" in said(d.command("send 27761234567 After the move", user_id=ADMIN))
        ids = [r[0] for r in bot.db.conn.execute("SELECT id FROM batches ORDER BY id").fetchall()]
        assert ids == sorted(set(ids)) and len(ids) == 3  # the new send is batch 3, after the two copied
        assert "oncall" in said(d.command("group list", user_id=ADMIN))
    finally:
        bot.stop()


def pg_columns_of(lite, table: str) -> list[str]:
    return [f'"{r[1]}"' for r in lite.execute(f'PRAGMA table_info("{table}")')]


@pytest.mark.postgres
def test_a_database_with_smsbot_rows_is_refused_and_left_as_it_was(history, empty_postgres, tmp_path):
    first = smsbot(["migrate-to", empty_postgres], history, tmp_path)
    assert first.wait(timeout=120) == 0
    with psycopg.connect(empty_postgres) as pg:
        before = pg.execute("SELECT count(*) FROM messages").fetchone()
    again = smsbot(["migrate-to", empty_postgres], history, tmp_path)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 1
    assert "already holds smsbot data" in err and "batches (2 rows)" in err and "create a new database" in err
    assert PASSWORD not in out + err
    with psycopg.connect(empty_postgres) as pg:
        assert pg.execute("SELECT count(*) FROM messages").fetchone() == before


@pytest.mark.postgres
def test_a_row_postgresql_refuses_keeps_nothing_and_says_so(history, empty_postgres, tmp_path):
    with closing(sqlite3.connect(history["SMSBOT_DB"])) as lite:  # SQLite takes any value in any column
        lite.execute("UPDATE messages SET attempts = 'many' WHERE id = 2")
        lite.commit()
    proc = smsbot(["migrate-to", empty_postgres], history, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "nothing was kept" in err and PASSWORD not in out + err
    with psycopg.connect(empty_postgres) as pg:
        tables = [r[0] for r in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert "messages" in tables  # the schema was made …
        assert all(pg.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] == 0 for t in tables if t != "smsbot_schema")


@pytest.mark.postgres
def test_refused_while_a_bot_runs_on_the_file(history, empty_postgres, tmp_path):
    lock = hold_database(history["SMSBOT_DB"])  # as a running `smsbot run` holds it
    try:
        proc = smsbot(["migrate-to", empty_postgres], history, tmp_path)
        _, err = proc.communicate(timeout=60)
    finally:
        lock.release()
    assert proc.returncode == 1
    assert f"PID {os.getpid()}" in err and "stop it first, so that nothing is written" in err
    with psycopg.connect(empty_postgres) as pg:
        assert pg.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@127.0.0.1/smsbot", "must be a PostgreSQL URL such as postgresql://"),
        ("smsbot.db", "must be a PostgreSQL URL"),
    ],
)
def test_a_target_that_is_not_postgresql_is_refused(url, expected, tmp_path):
    proc = smsbot(["migrate-to", url], base_env(tmp_path), tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and expected in err


def test_a_missing_sqlite_file_is_named(tmp_path):
    proc = smsbot(["migrate-to", "postgresql://postgres@127.0.0.1/none"], base_env(tmp_path), tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and f"no SQLite database at {tmp_path / 'smsbot.db'}" in err
