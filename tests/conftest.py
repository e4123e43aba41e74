"""Shared fixtures: a fresh database, a running SMS Office simulator, a fake Slack,
and settings that point the bot at them."""
from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.db import Database
from bot.outbox import Outbox
from bot.sendqueue import SendQueue

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
    from bot.simulator import Simulator

    sim = Simulator(username="acme", password=GATEWAY_PASSWORD, balance=1000).start()
    yield sim
    sim.stop()


@pytest.fixture
def fake_slack():
    from tests.fakes.slack import FakeSlack

    slack = FakeSlack(token=BOT_TOKEN).start()
    slack.add_channel("C0GENERAL", "general")
    yield slack
    slack.stop()


@pytest.fixture
def settings(tmp_path, simulator, fake_slack):
    return load_settings(base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url))
