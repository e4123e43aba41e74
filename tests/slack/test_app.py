"""The Bolt app: who the bot is is learnt from Slack when it answers, and requests never wait for it."""

import time

from slack_sdk import WebClient

from bot.slack.app import BotIdentity
from bot.testing.fake_slack import BOT_ID
from tests.conftest import BOT_TOKEN, said


def client(fake_slack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url, timeout=5, retry_handlers=[])


def test_the_identity_is_learnt_from_auth_test(fake_slack):
    identity = BotIdentity()
    assert identity.learn(client(fake_slack)) is True
    assert (identity.user_id, identity.bot_id, identity.team_id) == (fake_slack.bot_user_id, BOT_ID, fake_slack.team_id)


def test_slack_down_at_start_up_is_a_warning_not_a_failure(fake_slack, caplog):
    fake_slack.down = True
    identity = BotIdentity()
    assert identity.learn(client(fake_slack)) is False
    assert identity.user_id is None and "event=slack_auth_test_failed" in caplog.text


def test_commands_are_answered_without_asking_slack_who_we_are(slack_driver, fake_slack):
    fake_slack.down = True  # the bot never learnt its identity and Slack is unreachable
    started = time.monotonic()
    assert "Here is what I can do" in said(slack_driver.command("help"))
    assert time.monotonic() - started < 2 and fake_slack.calls_to("auth.test") == []
