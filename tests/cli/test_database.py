"""The commands on PostgreSQL (bot/cli/database.py): every command that opens the database honours
SMSBOT_DATABASE_URL, `smsbot check` looks at the server read-only, `backup` runs pg_dump, `vacuum` runs
VACUUM (ANALYZE). Each runs as a real process against a real PostgreSQL; each test has its own database.
The URL carries a password in every test (trust authentication ignores it): it must never be printed."""

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.storage.migrations import MIGRATIONS
from bot.storage.postgres import PostgresDatabase
from tests.conftest import PG_HOW, TEST_DATABASE_URL, base_env
from tests.process import smsbot

PASSWORD = "Never-Shown-pw@7Q"  # URL-encoded in the URL: %40 for @
NEWEST = len(MIGRATIONS)


def _admin():
    if not TEST_DATABASE_URL:
        pytest.skip(PG_HOW)
    return psycopg.connect(TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _url(name: str, user: str | None = None, port: int | None = None) -> str:
    """TEST_DATABASE_URL for the database ``name``, with PASSWORD in it (and another user or port)."""
    parts = urlsplit(TEST_DATABASE_URL or "")
    who = user or parts.username or "postgres"
    netloc = f"{who}:{PASSWORD.replace('@', '%40')}@{parts.hostname or '127.0.0.1'}:{port or parts.port or 5432}"
    return urlunsplit(("postgresql", netloc, f"/{name}", parts.query, ""))


@pytest.fixture
def database():
    """A new, empty database of this test's own (dropped afterwards): its name."""
    name = f"smsbot_cli_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated(database, tmp_path):
    """The database with smsbot's tables, as the first `smsbot run` leaves it: its URL."""
    url = _url(database)
    db = PostgresDatabase(url, str(tmp_path / "unused.db"))
    try:
        db.migrate()
    finally:
        db.close()
    return url


@pytest.fixture
def role(database):
    """A login role of this test's own, with no privileges beyond connecting (dropped afterwards)."""
    name = f"smsbot_cli_role_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
    yield name
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # its grants go with it
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def run(args, tmp_path, url, simulator=None, fake_slack=None, **env):
    peers = {"SMSOFFICE_API_URL": simulator.api_url} if simulator else {}
    if fake_slack:
        peers["SLACK_API_URL"] = fake_slack.api_url
    proc = smsbot(args, base_env(tmp_path, SMSBOT_DATABASE_URL=url, **peers, **env), tmp_path)
    out, err = proc.communicate(timeout=120)
    assert PASSWORD not in out + err and PASSWORD.replace("@", "%40") not in out + err  # never printed
    return proc.returncode, out, err


def database_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("Database:")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


# -- smsbot check ------------------------------------------------------------------------------------------


def test_check_on_an_empty_database_says_the_first_run_creates_the_tables_and_creates_nothing(
    database, tmp_path, simulator, fake_slack
):
    url = _url(database)
    code, out, err = run(["check"], tmp_path, url, simulator, fake_slack)
    assert code == 0, out + err
    shown = url.replace(PASSWORD.replace("@", "%40"), "***")
    release = query(url, "SELECT current_setting('server_version_num')::int")[0][0]
    assert database_lines(out) == [
        f"Database: SMSBOT_DATABASE_URL is set, so smsbot uses PostgreSQL; SMSBOT_DB ({tmp_path / 'smsbot.db'}) "
        "only keeps this host's own files (the sender's journal of accepted SMS)",
        f"Database: OK, {shown} (PostgreSQL {release // 10000}.{release % 10000}) has no smsbot tables yet; "
        "the user may create "
        "them, and the first `smsbot run` does",
    ]
    assert query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []  # nothing created
    assert not (tmp_path / "smsbot.db").exists()


def test_check_warns_when_autovacuum_is_off_on_the_server_or_for_smsbots_busy_tables(
    migrated, tmp_path, simulator, fake_slack
):
    server_off = query(migrated, "SHOW autovacuum")[0][0] == "off"  # the server's own setting, read, not set
    query(migrated, "ALTER TABLE messages SET (autovacuum_enabled = false)")
    query(migrated, "ALTER TABLE outbox SET (autovacuum_enabled = off)")
    code, out, err = run(["check"], tmp_path, migrated, simulator, fake_slack)
    assert code == 0, out + err  # smsbot works without it; it slows down
    [warning] = [line for line in out.splitlines() if "autovacuum" in line]
    assert warning.startswith("  Warning: autovacuum is off ")
    assert "for the tables messages, outbox (autovacuum_enabled)" in warning
    assert ("on this server (autovacuum = off)" in warning) == server_off
    assert "run `smsbot vacuum` after large sends" in warning
    query(migrated, "ALTER TABLE messages RESET (autovacuum_enabled)")
    query(migrated, "ALTER TABLE outbox RESET (autovacuum_enabled)")
    code, out, err = run(["check"], tmp_path, migrated, simulator, fake_slack)
    warnings = [line for line in out.splitlines() if "autovacuum" in line]
    assert code == 0 and len(warnings) == server_off and "for the table" not in out


def test_check_on_a_current_database_says_it_may_write_and_shows_the_stored_callback_url(
    migrated, tmp_path, simulator, fake_slack
):
    query(migrated, "INSERT INTO kv(key, value) VALUES ('callback_secret', 'cb-secret-from-postgres-0123')")
    code, out, err = run(["check"], tmp_path, migrated, simulator, fake_slack)
    assert code == 0, out + err
    assert database_lines(out)[-1].endswith(f"the user may read and write (schema {NEWEST})")
    assert "cb-secret-from-postgres-0123" in out  # the callback URL, from the secret stored in PostgreSQL
    assert query(migrated, "SELECT value FROM kv WHERE key = 'smsbot_check'") == []  # its write was rolled back
    assert not (tmp_path / "smsbot.db").exists()


def test_check_on_an_older_schema_says_the_next_run_upgrades_it_and_upgrades_nothing(
    migrated, tmp_path, simulator, fake_slack
):
    query(migrated, "UPDATE smsbot_schema SET version = %s", (NEWEST - 1,))
    code, out, err = run(["check"], tmp_path, migrated, simulator, fake_slack)
    assert code == 0, out + err
    assert database_lines(out)[-1].endswith(
        f"(schema {NEWEST - 1}; it will be upgraded to {NEWEST} at the next `smsbot run`)"
    )
    assert query(migrated, "SELECT version FROM smsbot_schema") == [(NEWEST - 1,)]


def test_a_database_from_a_newer_smsbot_is_refused_by_every_command_and_left_alone(migrated, tmp_path):
    query(migrated, "UPDATE smsbot_schema SET version = 999")
    code, _, err = run(["check"], tmp_path, migrated)
    assert code == 2 and "was written by a newer smsbot (schema 999" in err and "restore the pg_dump" in err
    code, _, err = run(["optout", "export"], tmp_path, migrated)
    assert code == 2 and "newer smsbot (schema 999" in err
    assert query(migrated, "SELECT version FROM smsbot_schema") == [(999,)]


def test_check_names_a_server_that_refuses_connections_and_what_to_do(tmp_path, simulator, fake_slack):
    if not TEST_DATABASE_URL:
        pytest.skip(PG_HOW)
    port = free_port()
    code, out, err = run(["check"], tmp_path, _url("smsbot", port=port), simulator, fake_slack)
    assert code == 1
    assert database_lines(out)[-1] == (
        f"Database: FAILED: cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused): nothing listens "
        "there. Start PostgreSQL, or correct the host and port in SMSBOT_DATABASE_URL (and check that the "
        "firewall lets this host through)."
    )


def test_check_names_a_missing_database_and_how_to_create_it(tmp_path, simulator, fake_slack):
    _admin().close()
    name = f"smsbot_cli_missing_{secrets.token_hex(4)}"
    code, out, err = run(["check"], tmp_path, _url(name), simulator, fake_slack)
    assert code == 1
    line = database_lines(out)[-1]
    assert f"has no database '{name}': create it (CREATE DATABASE {name} OWNER" in line
    assert query(_url("postgres"), "SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == []


def test_check_names_a_user_the_server_refuses(database, tmp_path, simulator, fake_slack):
    user = f"smsbot_cli_nobody_{secrets.token_hex(4)}"
    code, out, _ = run(["check"], tmp_path, _url(database, user=user), simulator, fake_slack)
    assert code == 1
    assert f"refused the user '{user}' (authentication failed): correct the user and password" in out


def test_check_says_when_the_user_may_not_create_the_tables(database, role, tmp_path, simulator, fake_slack):
    code, out, _ = run(["check"], tmp_path, _url(database, user=role), simulator, fake_slack)
    assert code == 1
    line = database_lines(out)[-1]
    assert line.startswith(f"Database: FAILED: the user '{role}' may not create tables in the schema 'public'")
    assert f"GRANT CREATE ON SCHEMA public TO {role}" in line


def test_check_says_when_the_user_may_not_write_the_tables(migrated, database, role, tmp_path, simulator, fake_slack):
    query(migrated, f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')  # read only
    code, out, _ = run(["check"], tmp_path, _url(database, user=role), simulator, fake_slack)
    assert code == 1
    line = database_lines(out)[-1]
    assert f"the user '{role}' may not read and write every smsbot table" in line
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}" in line


def test_a_backup_dir_with_postgres_is_warned_about_once_and_makes_no_daily_copies(
    migrated, tmp_path, simulator, fake_slack
):
    folder = tmp_path / "backups"
    code, out, err = run(["check"], tmp_path, migrated, simulator, fake_slack, SMSBOT_BACKUP_DIR=str(folder))
    assert code == 0, out + err
    assert err.count("warning: SMSBOT_BACKUP_DIR") == 1 and "pg_dump -Fc" in err and "provider's snapshots" in err
    settings = load_settings(
        base_env(
            tmp_path,
            SMSOFFICE_API_URL=simulator.api_url,
            SLACK_API_URL=fake_slack.api_url,
            SMSBOT_DATABASE_URL=migrated,
            SMSBOT_BACKUP_DIR=str(folder),
        )
    )
    bot = Bot(settings)
    try:
        assert bot.backups is None  # `smsbot run` makes no SQLite copies of a PostgreSQL database
    finally:
        bot.stop()


# -- smsbot backup -------------------------------------------------------------------------------------------


def test_backup_runs_pg_dump_into_a_dated_file_that_restores(migrated, tmp_path):
    query(migrated, "INSERT INTO opt_outs(number, reason, added_by, added_at) VALUES ('27831234567', 'asked', 'U1', 1)")
    code, out, err = run(["backup", str(tmp_path / "dumps") + "/"], tmp_path, migrated)
    assert code == 0, err
    [dump] = list((tmp_path / "dumps").iterdir())
    assert dump.name.startswith("smsbot-") and dump.suffix == ".dump" and str(dump.resolve()) in out
    assert "pg_restore" in out
    restored = f"smsbot_cli_restored_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run(["pg_restore", "--no-owner", "-d", _url(restored), str(dump)], check=True, capture_output=True)
        assert query(_url(restored), "SELECT number, reason FROM opt_outs") == [("27831234567", "asked")]
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')


def test_backup_gives_pg_dump_the_password_in_its_environment_not_its_command_line(migrated, tmp_path):
    """A stand-in pg_dump first on PATH records what it was given (the real one is tested above)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "seen"
    fake = bin_dir / "pg_dump"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {seen}.args\nprintf "%s" "$PGPASSWORD" > {seen}.password\n'
        'for a in "$@"; do case "$a" in --file=*) : > "${a#--file=}";; esac; done\n'
    )
    fake.chmod(0o755)
    code, _, err = run(
        ["backup", str(tmp_path / "copy.dump")], tmp_path, migrated, PATH=f"{bin_dir}:{os.environ['PATH']}"
    )
    assert code == 0, err
    args = Path(f"{seen}.args").read_text()
    assert PASSWORD not in args and PASSWORD.replace("@", "%40") not in args and "--format=custom" in args
    assert Path(f"{seen}.password").read_text() == PASSWORD
    assert (tmp_path / "copy.dump").exists() and not (tmp_path / "copy.dump.partial").exists()


def test_backup_without_pg_dump_says_what_to_use_instead(migrated, tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    code, out, err = run(["backup", str(tmp_path / "copy.dump")], tmp_path, migrated, PATH=str(empty))
    assert code == 1 and out == ""
    assert "pg_dump is not on PATH" in err and "pg_dump -Fc yourself" in err and "provider's snapshots" in err
    assert not (tmp_path / "copy.dump").exists()


def test_a_failed_pg_dump_leaves_no_file_and_says_why(tmp_path):
    if not TEST_DATABASE_URL:
        pytest.skip(PG_HOW)
    port = free_port()
    code, _, err = run(["backup", str(tmp_path / "copy.dump")], tmp_path, _url("smsbot", port=port))
    assert code == 1 and "pg_dump failed, nothing was written" in err and "Connection refused" in err
    assert list(tmp_path.glob("copy.dump*")) == []


# -- smsbot vacuum, optout, export, send-list ----------------------------------------------------------------------


def test_vacuum_runs_vacuum_analyze_on_smsbots_tables(migrated, tmp_path):
    code, out, err = run(["vacuum"], tmp_path, migrated)
    assert code == 0, err
    tables = query(migrated, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0]
    assert f"VACUUM (ANALYZE) done on {tables} tables" in out and "VACUUM FULL" in out
    stats = query(migrated, "SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables")
    assert len(stats) == tables and all(last_vacuum and last_analyze for _, last_vacuum, last_analyze in stats)


def test_vacuum_on_an_empty_database_says_there_is_nothing_to_vacuum(database, tmp_path):
    code, _, err = run(["vacuum"], tmp_path, _url(database))
    assert code == 2 and "there are no smsbot tables at" in err and "nothing to vacuum" in err
    assert query(_url(database), "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []


def test_optout_import_and_export_use_the_url_and_db_still_names_a_sqlite_file(migrated, tmp_path):
    csv_file = tmp_path / "optouts.csv"
    csv_file.write_text("number,reason\n27831234567,asked\n")
    code, out, err = run(["optout", "import", str(csv_file)], tmp_path, migrated)
    assert code == 0 and "1 number(s) added" in out, err
    assert query(migrated, "SELECT number, reason FROM opt_outs") == [("27831234567", "asked")]
    code, out, _ = run(["optout", "export"], tmp_path, migrated)
    assert code == 0 and out.splitlines()[1:] == ["27831234567,asked"]
    assert not (tmp_path / "smsbot.db").exists()
    # --db names an SQLite file for this one run, over the URL
    code, out, _ = run(["optout", "export", "--db", str(tmp_path / "other.db")], tmp_path, migrated)
    assert code == 0 and out.splitlines()[1:] == [] and (tmp_path / "other.db").exists()


def test_send_list_queues_into_postgres_and_export_counts_it(migrated, tmp_path, simulator, fake_slack):
    recipients = tmp_path / "list.csv"
    recipients.write_text("number,name\n27831234567,Ann\n27831234568,Ben\n")
    code, out, err = run(
        ["send-list", str(recipients), "--text", "Hi {name}", "--channel", "C0OPS", "--as", "U0OPS", "--yes"],
        tmp_path,
        migrated,
        simulator,
        fake_slack,
    )
    assert code == 0, err
    assert "The running smsbot (the leader, on PostgreSQL) sends it" in out
    assert query(migrated, "SELECT recipient, text, status FROM messages ORDER BY id") == [
        ("27831234567", "Hi Ann", "queued"),
        ("27831234568", "Hi Ben", "queued"),
    ]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    code, out, err = run(
        ["export", "--from", today, "--to", today, "--out", str(tmp_path / "usage.csv")],
        tmp_path,
        migrated,
        SMSBOT_TIMEZONE="UTC",
    )
    assert code == 0 and f"Wrote 2 SMS counted from {today} to {today}" in out, err
    assert not (tmp_path / "smsbot.db").exists()


def test_a_command_on_an_unreachable_server_says_so_without_a_traceback(tmp_path):
    if not TEST_DATABASE_URL:
        pytest.skip(PG_HOW)
    port = free_port()
    code, out, err = run(["optout", "export"], tmp_path, _url("smsbot", port=port))
    assert code == 1 and out == ""
    assert err.startswith(f"smsbot optout export: cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused)")
    assert "Traceback" not in err
