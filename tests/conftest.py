"""Shared fixtures: a fresh database, a running SMS Office simulator, a fake Slack,
and settings that point the bot at them."""
from __future__ import annotations

import time

import pytest
import requests

from bot.config import load_settings
from bot.storage.db import Database
from bot.storage.outbox import Outbox
from bot.runtime import Bot
from bot.storage.queue import SendQueue
from bot.testing.simulator import Simulator
from bot.testing.fake_slack import (FakeSlack, block_actions_body, command_body, event_body, sign,
                               view_submission_body)

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
        return self.http.post(self.url, data=body, headers=headers or sign(SIGNING_SECRET, body), timeout=10)

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
    b.server.stop()
    b.db.close()


@pytest.fixture
def driver_with(tmp_path, simulator, fake_slack):
    """A factory: a Driver for a Bot with extra settings (e.g. SMSBOT_ALLOWED_USERS)."""
    bots = []

    def make(**env) -> Driver:
        settings = load_settings(base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url,
                                          SLACK_API_URL=fake_slack.api_url, **env))
        b = Bot(settings)
        b.server.start()
        bots.append(b)
        return Driver(b, fake_slack)

    yield make
    for b in bots:
        b.server.stop()
        b.db.close()


@pytest.fixture
def slack_driver(bot, fake_slack):
    return Driver(bot, fake_slack)


class Clock:
    """An injected clock: tests move ``t`` instead of sleeping."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def wait_for(predicate, timeout=5.0):
    """Poll briefly for something another thread does; False if it never happens."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False
