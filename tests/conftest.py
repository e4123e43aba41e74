"""Shared fixtures: a fresh database, a running SMS Office simulator, a fake Slack,
and settings that point the bot at them."""

from __future__ import annotations

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


@pytest.fixture
def db(tmp_path):
    database = Database(str(tmp_path / "smsbot.db"))
    database.migrate()
    yield database
    database.close()


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
def settings(tmp_path, simulator, fake_slack):
    return load_settings(base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url))


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
        """Run sender and notifier until neither has anything due (ignoring channel pacing)."""
        for _ in range(rounds):
            sent = self.bot.sender.run_once()
            self.bot.notifier._last_write.clear()
            posted = self.bot.notifier.run_once()
            if not (sent or posted):
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
def driver_with(tmp_path, simulator, fake_slack):
    """A factory: a Driver for a Bot with extra settings (e.g. SMSBOT_ALLOWED_USERS, or another gateway's
    SMSOFFICE_API_URL); every bot it made is stopped afterwards."""
    bots = []

    def make(**env) -> Driver:
        peers = {"SMSOFFICE_API_URL": simulator.api_url, "SLACK_API_URL": fake_slack.api_url}
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
