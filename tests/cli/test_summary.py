"""The start-up summary (bot/cli/summary.py): what a started bot found, at a glance, with no secret in it."""

import pytest

from bot.cli.summary import startup_lines
from bot.config.settings import load_settings
from bot.runtime import Bot
from tests.conftest import BOT_TOKEN, GATEWAY_PASSWORD, SIGNING_SECRET, base_env


@pytest.fixture
def start(tmp_path, simulator, fake_slack):
    """A factory: a started Bot (its first balance check done) with extra settings; stopped after the test."""
    bots = []

    def make(**env) -> Bot:
        env = {"SMSOFFICE_API_URL": simulator.api_url, "SLACK_API_URL": fake_slack.api_url, **env}
        bot = Bot(load_settings(base_env(tmp_path, **env)))
        bots.append(bot)
        bot.start()
        return bot

    yield make
    for bot in bots:
        bot.stop()


def line(lines, label):
    [found] = [text for text in lines if text.strip().startswith(label)]
    return found


def test_a_started_bot_shows_the_gateway_balance_slack_identity_and_a_masked_callback(start, simulator):
    start(SMSBOT_PUBLIC_URL="https://sms.example.org").stop()  # the first start generates the secret
    bot = start(SMSBOT_PUBLIC_URL="https://sms.example.org")
    lines = startup_lines(bot)
    assert lines[0] == "smsbot started:"
    assert f"reachable ({simulator.api_url}), balance 1,000.00 credits" in line(lines, "SMS Office:")
    assert f"({bot.identity.user_id})" in line(lines, "Slack:") and bot.identity.user_id
    assert "https://sms.example.org/" in line(lines, "callback URL:") and "***" in line(lines, "callback URL:")
    text = "\n".join(lines)
    for secret in (GATEWAY_PASSWORD, BOT_TOKEN, SIGNING_SECRET, bot.callback_secret):
        assert secret not in text


def test_a_limit_of_one_says_1_credit(start):
    lines = startup_lines(start(SMSBOT_DAILY_LIMIT_USER="1", SMSBOT_DAILY_LIMIT="2000"))
    assert "1 credit per user · 2,000 credits in all" in line(lines, "spend limits:")


def test_a_refused_login_is_said_at_start(start):
    lines = startup_lines(start(SMSOFFICE_PASSWORD="not-the-password"))
    assert "NOT reachable or refused" in line(lines, "SMS Office:")
    assert "not-the-password" not in "\n".join(lines)


def test_simulator_mode_is_announced_first_and_last(start):
    lines = startup_lines(start(SMSOFFICE_API_URL="simulator"))
    assert lines[0] == lines[-1] and "SIMULATOR MODE" in lines[0] and "No real SMS is sent" in lines[0]
    assert "NO REAL SMS" in line(lines, "SMS Office:")


def test_in_the_image_a_database_outside_the_volume_is_named_with_a_warning(start, tmp_path):
    bot = start()
    marker = tmp_path / "smsbot-image"
    marker.write_text("/data\n")
    database = line(startup_lines(bot, image_marker=marker), "database:")
    assert str(tmp_path / "smsbot.db") in database and "WARNING" in database and "lost with the container" in database
    assert "WARNING" not in line(startup_lines(bot, image_marker=tmp_path / "absent"), "database:")  # not in the image
