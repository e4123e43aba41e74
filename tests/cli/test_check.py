"""What `smsbot check` verifies beyond the settings (bot/cli/check.py), against a real file and the fake
Slack Web API: each line says OK or what to fix."""

import sqlite3

from bot.cli import check as checks
from bot.cli.environment import database_problem
from bot.config.settings import load_settings
from bot.storage.db import Database
from tests.conftest import base_env


def settings_for(tmp_path, fake_slack, **env):
    return load_settings(base_env(tmp_path, SLACK_API_URL=fake_slack.api_url, **env))


def test_a_missing_or_current_database_is_fine(tmp_path):
    path = tmp_path / "smsbot.db"
    assert database_problem(str(path)) is None  # created at the first start
    db = Database(str(path))
    db.migrate()
    db.close()
    assert database_problem(str(path)) is None


def test_a_file_that_is_not_sqlite_is_named_with_how_to_fix_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 200)
    problem = database_problem(str(path))
    assert "cannot be read as an SQLite database" in problem and "point SMSBOT_DB at" in problem


def test_a_database_from_a_newer_smsbot_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "smsbot.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = path.read_bytes()
    problem = database_problem(str(path))
    assert "newer smsbot (schema 999" in problem and "restore the backup" in problem
    assert path.read_bytes() == before


def test_the_alert_channel_is_found_and_membership_said(tmp_path, fake_slack):
    fake_slack.add_channel("C0ALERTS", "sms-alerts", bot_member=False)
    ok, line = checks.alert_channel(settings_for(tmp_path, fake_slack, SMSBOT_ALERT_CHANNEL="C0ALERTS"))
    assert ok and "#sms-alerts (C0ALERTS)" in line and "/invite @smsbot" in line


def test_an_unknown_alert_channel_fails_saying_where_to_copy_the_id(tmp_path, fake_slack):
    ok, line = checks.alert_channel(settings_for(tmp_path, fake_slack, SMSBOT_ALERT_CHANNEL="C0NOWHERE"))
    assert not ok and "C0NOWHERE" in line and "Copy the ID" in line


def test_without_an_alert_channel_or_app_token_the_check_says_what_is_off(tmp_path, fake_slack):
    settings = settings_for(tmp_path, fake_slack)
    ok, line = checks.alert_channel(settings)
    assert ok and "SMSBOT_ALERT_CHANNEL is not set" in line
    ok, line = checks.app_token(settings)
    assert ok and "not set" in line


def test_a_refused_app_token_fails_naming_the_setting(tmp_path, fake_slack):
    fake_slack.app_token = "xapp-1-the-right-one"
    ok, line = checks.app_token(settings_for(tmp_path, fake_slack, SLACK_APP_TOKEN="xapp-1-a-wrong-one"))
    assert not ok and "invalid_auth" in line and "SLACK_APP_TOKEN" in line
    assert "xapp-1-a-wrong-one" not in line  # a secret never shown


def test_allow_lists_name_who_may_send(tmp_path, fake_slack):
    ok, line = checks.allow_lists(settings_for(tmp_path, fake_slack, SMSBOT_ALLOWED_USERS="U0ANN,U0BOB"))
    assert ok and "users 2 (U0ANN, U0BOB)" in line and "channels none (everyone)" in line
