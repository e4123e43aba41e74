"""A real Bot wired to the simulator and a fake Slack, with its HTTP listener running.

Workers are not started: tests drive them with ``run_once()``.
"""
from __future__ import annotations

import time

import pytest
import requests

from bot.runtime import Bot
from tests.conftest import SIGNING_SECRET
from tests.fakes.slack import block_actions_body, command_body, sign


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
    b = Bot(settings)
    b.server.start()
    yield b
    b.server.stop()
    b.db.close()


@pytest.fixture
def slack_driver(bot, fake_slack):
    return Driver(bot, fake_slack)


def wait_for(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False
