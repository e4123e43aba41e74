"""Shared fixtures: a fresh database, a running SMS Office simulator, a fake Slack,
and settings that point the bot at them."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
import time
import traceback

import pytest
import requests

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.simulator.simulator import Simulator
from bot.storage.db import Database
from bot.storage.outbox import Outbox
from bot.storage.postgres import PostgresDatabase
from bot.storage.queue import SendQueue
from bot.testing.fake_slack import FakeSlack
from bot.testing.slack_requests import block_actions_body, command_body, event_body, sign, view_submission_body

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
GATEWAY_PASSWORD = "s3cr3t&Pa ss"


def base_env(tmp_path, **overrides) -> dict:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SMSOFFICE_USERNAME": "acme",
        "SMSOFFICE_PASSWORD": GATEWAY_PASSWORD,
        "SMS_SENDER_ID": "ACMEOPS",
        "SMSBOT_DB": str(tmp_path / "smsbot.db"),
        "SMSBOT_HOST": "127.0.0.1",
        "SMSBOT_PORT": "0",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


# -- the two backends --------------------------------------------------------------------------------
# SMSBOT_TEST_DATABASE_URL names a PostgreSQL server whose user may create databases: the storage and
# use-case tests then run on both backends (the `backend` parameter). Unset, their PostgreSQL variants
# are skipped with the one reason below. .ci/run sets it; CI has the server and fails if it is down.
TEST_DATABASE_URL = os.environ.get("SMSBOT_TEST_DATABASE_URL") or None
PG_HOW = "run them with SMSBOT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test"
# the folders whose tests run on both: everything that reads or writes through the bot's own SQL
BOTH_BACKENDS = (
    "tests/storage/",
    "tests/usecases/",
    "tests/slack/",
    "tests/web/",
    "tests/workers/test_leadership.py",
    "tests/workers/test_reports.py",
)
_EMPTY: list[str] = []  # the statement that empties every table of a worker's database, once known


def pytest_report_header(config):
    return (
        f"backends: SQLite and PostgreSQL ({TEST_DATABASE_URL and _shown(TEST_DATABASE_URL)})"
        if (TEST_DATABASE_URL)
        else f"backends: SQLite only (the PostgreSQL tests: {PG_HOW})"
    )


def _shown(url: str) -> str:
    from bot.storage.postgres import shown_url

    return shown_url(url)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a test about the SQLite file itself, not run on PostgreSQL (say why)"
    )
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server of SMSBOT_TEST_DATABASE_URL")


def pytest_collection_modifyitems(config, items):
    """Without SMSBOT_TEST_DATABASE_URL the PostgreSQL tests are left out, and said so in one line (below)."""
    if TEST_DATABASE_URL:
        return

    def needs(item) -> bool:
        return item.get_closest_marker("postgres") is not None or "pg_database" in getattr(item, "fixturenames", ())

    left_out = [item for item in items if needs(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not needs(item)]


def pytest_terminal_summary(terminalreporter):
    if not TEST_DATABASE_URL:
        terminalreporter.write_line(f"SKIPPED the PostgreSQL tests (marker postgres, left out): {PG_HOW}")


def pytest_generate_tests(metafunc):
    """The storage and use-case tests that use a database run once per backend."""
    if "backend" not in metafunc.fixturenames:
        return
    path = str(metafunc.definition.path)
    if not any(
        folder in path.replace(os.sep, "/") for folder in BOTH_BACKENDS
    ) or metafunc.definition.get_closest_marker("sqlite_only"):
        return
    metafunc.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def backend(request) -> str:
    """Which database the test uses: sqlite, or postgresql (storage and use-case tests run on both)."""
    param = getattr(request, "param", "sqlite")
    if param == "postgresql":
        needs_postgres()
    return param


def needs_postgres() -> None:
    """Skip this test without SMSBOT_TEST_DATABASE_URL, from this one line (so -ra sums them up in one)."""
    if not TEST_DATABASE_URL:
        pytest.skip(PG_HOW)


@pytest.fixture(scope="session")
def pg_database(worker_id):
    """This test process's own PostgreSQL database (created once, with the baseline schema; dropped at the
    end): its URL. Unreachable when SMSBOT_TEST_DATABASE_URL is set is a failure, never a skip."""
    needs_postgres()
    import psycopg

    name = f"smsbot_test_{worker_id}_{secrets.token_hex(4)}"
    with psycopg.connect(_psycopg_url(TEST_DATABASE_URL), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(TEST_DATABASE_URL, name)
    schema = PostgresDatabase(url, "unused.db")
    try:
        schema.migrate()
        tables = [r[0] for r in schema.conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        sequences = [
            r[0] for r in schema.conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        ]
    finally:
        schema.close()
    # DELETE (children before parents) and identities from 1 again: 3 ms a test here, TRUNCATE … RESTART
    # IDENTITY CASCADE 50 ms (it makes new files for every table)
    from bot.storage.schema import VERSION_TABLE, metadata

    ordered = [t.name for t in reversed(metadata.sorted_tables)]
    tables = [t for t in tables if t not in ordered and t != VERSION_TABLE] + [t for t in ordered if t in tables]
    _EMPTY.append(
        "BEGIN; "
        + " ".join(f"DELETE FROM {t};" for t in tables)
        + " ".join(f"ALTER SEQUENCE {s} RESTART;" for s in sequences)
        + " COMMIT"
    )
    yield url
    with psycopg.connect(_psycopg_url(TEST_DATABASE_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(prefix: str) -> str:
    """A new empty PostgreSQL database (the caller drops it with drop_database); its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(_psycopg_url(TEST_DATABASE_URL or ""), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return _with_database(TEST_DATABASE_URL or "", name)


def drop_database(url: str) -> None:
    from urllib.parse import urlsplit

    import psycopg

    with psycopg.connect(_psycopg_url(TEST_DATABASE_URL or ""), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture
def pg_url(pg_database):
    """This process's PostgreSQL database, emptied (every table, ids from 1 again) for this test."""
    import psycopg

    with psycopg.connect(_psycopg_url(pg_database), autocommit=True) as conn:
        conn.execute(_EMPTY[0])
    return pg_database


@pytest.fixture
def database_env(backend, request) -> dict:
    """The environment that points a Bot at this test's backend (nothing for SQLite)."""
    if backend != "postgresql":
        return {}
    return {"SMSBOT_DATABASE_URL": request.getfixturevalue("pg_url")}


@pytest.fixture
def db(tmp_path, backend, request):
    if backend == "postgresql":
        database: Database = PostgresDatabase(request.getfixturevalue("pg_url"), str(tmp_path / "smsbot.db"))
    else:
        database = Database(str(tmp_path / "smsbot.db"))
    database.migrate()
    yield database
    database.close()


def same_database(db: Database) -> Database:
    """Another Database object on the same database (another process, or another replica)."""
    if db.dialect == "postgresql":
        return PostgresDatabase(db.url, db.path)  # type: ignore[attr-defined]
    return Database(db.path)


def another_connection(db: Database):
    """A plain connection to the same database, outside the bot's (as another program would open one)."""
    if db.dialect == "postgresql":
        import psycopg

        return psycopg.connect(_psycopg_url(db.url), autocommit=True)  # type: ignore[attr-defined]
    return sqlite3.connect(db.path, isolation_level=None)


@contextlib.contextmanager
def writes_held(db: Database):
    """Another program holds the database's write lock until the block ends (SQLite: an exclusive
    transaction; PostgreSQL: the writers' advisory lock every replica takes)."""
    from bot.storage.postgres import WRITER_LOCK

    holder = another_connection(db)
    try:
        if db.dialect == "postgresql":
            holder.execute("BEGIN")
            holder.execute(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")
        else:
            holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.close()


@contextlib.contextmanager
def inserts_refused(db: Database, table: str, message: str):
    """Every INSERT into ``table`` fails with ``message`` (a full disk) until the block ends."""
    if db.dialect == "postgresql":
        db.conn.execute(
            "CREATE FUNCTION smsbot_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'disk_full'; END $$"
        )
        db.conn.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} EXECUTE FUNCTION smsbot_test_refuse()")
        drop = [f"DROP TRIGGER refuse ON {table}", "DROP FUNCTION smsbot_test_refuse()"]
    else:
        db.conn.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END")
        drop = ["DROP TRIGGER refuse"]
    try:
        yield
    finally:
        for statement in drop:
            db.conn.execute(statement)


@pytest.fixture
def queue(db):
    return SendQueue(db)


@pytest.fixture
def outbox(db):
    return Outbox(db)


@pytest.fixture
def simulator():
    sim = Simulator(username="acme", password=GATEWAY_PASSWORD, balance=1000).start()
    yield sim
    sim.stop()


@pytest.fixture
def fake_slack():
    slack = FakeSlack(token=BOT_TOKEN).start()
    slack.add_channel("C0GENERAL", "general")
    yield slack
    slack.stop()


@pytest.fixture
def settings(tmp_path, simulator, fake_slack, database_env):
    return load_settings(
        base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url, **database_env)
    )


class Driver:
    """Sends signed Slack requests to the bot and pumps its workers."""

    def __init__(self, bot: Bot, slack):
        self.bot, self.slack = bot, slack
        self.http = requests.Session()
        self.url = bot.server.url + "/slack/events"
        self._n = 0

    def post(self, body: bytes, headers: dict | None = None) -> requests.Response:
        # signed at the bot's own time, which tests may inject
        return self.http.post(
            self.url, data=body, headers=headers or sign(SIGNING_SECRET, body, int(self.bot.clock())), timeout=10
        )

    def command(self, text: str, **kwargs) -> requests.Response:
        self._n += 1
        kwargs.setdefault("response_url", self.slack.response_url(f"cmd{self._n}"))
        return self.post(command_body(text, **kwargs))

    def click(self, action_id: str, value: str, **kwargs) -> requests.Response:
        self._n += 1
        kwargs.setdefault("response_url", self.slack.response_url(f"act{self._n}"))
        return self.post(block_actions_body(action_id, value, **kwargs))

    def submit(self, callback_id: str, values: dict, **kwargs) -> requests.Response:
        return self.post(view_submission_body(callback_id, values, **kwargs))

    def event(self, event: dict) -> requests.Response:
        return self.post(event_body(event))

    def pump(self, rounds: int = 50) -> None:
        """Run sender, settler, report applier and notifier until none has anything due (ignoring channel pacing)."""
        for _ in range(rounds):
            sent = self.bot.sender.run_once()
            settled = self.bot.settler.run_once()
            applied = self.bot.applier.run_once()
            self.bot.notifier._last_write.clear()
            posted = self.bot.notifier.run_once()
            if not (sent or settled or applied or posted):
                return


@pytest.fixture
def bot(settings):
    """A real Bot wired to the simulator and the fake Slack, its HTTP listener running.

    Workers are not started: tests drive them with ``run_once()`` (see Driver.pump)."""
    b = Bot(settings)
    b.server.start()
    yield b
    b.stop()  # the whole lifecycle: also ends the after-ack pool, not just the listener and the db


@pytest.fixture
def driver_with(tmp_path, simulator, fake_slack, database_env):
    """A factory: a Driver for a Bot with extra settings (e.g. SMSBOT_ALLOWED_USERS, or another gateway's
    SMSOFFICE_API_URL); every bot it made is stopped afterwards."""
    bots = []

    def make(**env) -> Driver:
        peers = {"SMSOFFICE_API_URL": simulator.api_url, "SLACK_API_URL": fake_slack.api_url, **database_env}
        b = Bot(load_settings(base_env(tmp_path, **{**peers, **env})))
        b.server.start()
        bots.append(b)
        return Driver(b, fake_slack)

    yield make
    for b in bots:
        b.stop()


@pytest.fixture
def alerting(driver_with, fake_slack):
    """A Driver for a bot with an alert channel (C0ALERTS) and a low-balance threshold of 100."""
    fake_slack.add_channel("C0ALERTS", "sms-alerts")
    return driver_with(SMSBOT_ALERT_CHANNEL="C0ALERTS", SMSBOT_LOW_BALANCE="100")


@pytest.fixture
def slack_driver(bot, fake_slack):
    return Driver(bot, fake_slack)


class Clock:
    """An injected clock: tests move ``t`` instead of sleeping."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def said(response) -> str:
    """The text of the bot's answer to a Slack request, which must have been a 200."""
    assert response.status_code == 200, response.text
    return response.json()["text"]


def wait_for(predicate, timeout=5.0):
    """Poll briefly for something another thread does; False if it never happens."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


LEAK_GRACE_SECONDS = 2.0  # threads asked to stop get this long (in all) to end before a test fails


@pytest.fixture(autouse=True)
def secrets_stay_in_their_test():
    """The secrets a test registers (bot/redact.py keeps them for the whole process, as smsbot registers its
    own once at start) are forgotten after it: else a later test on the same worker sees them masked, e.g.
    the example URL's password ``PASSWORD`` turning "SMSOFFICE_PASSWORD" into "SMSOFFICE_***"."""
    from bot import redact

    kept = redact._GLOBAL._forms
    yield
    redact._GLOBAL._forms = kept


@pytest.fixture(autouse=True)
def nothing_left_open(monkeypatch):
    """Fail a test that leaves a SQLite connection or a thread open once it and its fixtures are done.

    Autouse, so it is set up before and torn down after every other fixture of the test. Connections
    are observed by wrapping ``sqlite3.connect`` (sqlite-utils and bot.storage.db both call it); a
    connection still usable at the end was never closed. A thread that did not exist before the
    test and is still alive after a short grace join was never stopped. Nothing is exempt: the
    failure (an error at teardown) names each connection's opener and each thread.
    """
    threads_before = set(threading.enumerate())
    opened: list[tuple[sqlite3.Connection, str]] = []
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        opened.append((conn, _opened_at()))
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    yield
    problems = _open_connections(opened) + _live_threads(threads_before)
    if problems:
        pytest.fail("left open after the test:\n  " + "\n  ".join(problems), pytrace=False)


def _opened_at() -> str:
    """Where a connection was opened: the innermost frame of ours, and the test line that led there."""
    frames = [
        f
        for f in traceback.extract_stack()[:-2]  # not this wrapper, nor the library or pytest
        if "/lib/python" not in f.filename and not f.filename.startswith("<")
    ]
    shown = frames[-1:] + [f for f in frames if f.name.startswith("test")][-1:]
    return " via ".join(dict.fromkeys(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} ({f.name})" for f in shown))


def _open_connections(opened) -> list[str]:
    """Connections that can still be used, each then closed so one leak does not spill into the next test."""
    leaks = []
    for conn, where in opened:
        try:
            conn.in_transaction  # noqa: B018 (raises ProgrammingError once closed, from any thread)
        except sqlite3.ProgrammingError:
            continue
        leaks.append(f"SQLite connection opened at {where}")
        try:
            conn.close()
        except sqlite3.Error:
            pass  # opened with check_same_thread on a thread that is gone
    return leaks


def _live_threads(before: set) -> list[str]:
    deadline = time.monotonic() + LEAK_GRACE_SECONDS
    new = [t for t in threading.enumerate() if t not in before]
    for thread in new:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [
        f"thread {t.name!r} ({'daemon' if t.daemon else 'non-daemon'}, running {_target(t)})"
        for t in new
        if t.is_alive()
    ]


def _target(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    return getattr(target, "__qualname__", type(thread).__qualname__) if target else type(thread).__qualname__
