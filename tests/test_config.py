from decimal import Decimal

import pytest

from bot.config import ConfigError, load_settings
from bot.redact import redact
from tests.conftest import GATEWAY_PASSWORD, base_env


def test_defaults_follow_the_contract(tmp_path):
    s = load_settings(base_env(tmp_path, SMSBOT_HOST=None, SMSBOT_PORT=None))
    assert (s.host, s.port) == ("0.0.0.0", 3000)
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.smsoffice_api_url == "http://www.smsoffice.co.za/sms/api/"
    assert s.sms_default_region is None and s.slack_app_token is None
    assert (s.low_balance, s.balance_check_seconds, s.confirm_above) == (Decimal("100"), 900, 10)
    assert s.allowed_users == frozenset() and s.log_level == "INFO"


def test_every_missing_required_setting_is_named_with_its_fix(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings({"SMSBOT_DB": str(tmp_path / "x.db")})
    named = "\n".join(caught.value.problems)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SMSOFFICE_USERNAME", "SMSOFFICE_PASSWORD",
                 "SMS_SENDER_ID"):
        assert f"{name} is not set" in named
    assert len(caught.value.problems) == 5


@pytest.mark.parametrize("name,value,expect", [
    ("SLACK_BOT_TOKEN", "xoxp-user-token", "xoxb-"),
    ("SLACK_APP_TOKEN", "xoxb-nope", "xapp-"),
    ("SMS_SENDER_ID", "ACME OPS LTD1", "1 to 11 letters and digits"),
    ("SMS_DEFAULT_REGION", "XX", "two-letter ISO country code"),
    ("SMSBOT_PORT", "70000", "1 to 65535"),
    ("SMSBOT_LOW_BALANCE", "lots", "number of credits"),
    ("SMSBOT_BALANCE_CHECK_SECONDS", "0", "whole number of seconds"),
    ("SMSBOT_ALLOWED_USERS", "alice,bob", "Slack user IDs"),
    ("SMSBOT_CALLBACK_SECRET", "short", "16 to 128"),
    ("SMSOFFICE_API_URL", "ftp://gateway", "http(s) URL"),
    ("SMSBOT_LOG_LEVEL", "LOUD", "DEBUG, INFO"),
])
def test_invalid_values_say_how_to_fix_them(tmp_path, name, value, expect):
    with pytest.raises(ConfigError) as caught:
        load_settings(base_env(tmp_path, **{name: value}))
    assert len(caught.value.problems) == 1
    assert name in caught.value.problems[0] and expect in caught.value.problems[0]


def test_base_urls_gain_a_trailing_slash_and_region_is_uppercased(tmp_path):
    s = load_settings(base_env(tmp_path, SMSOFFICE_API_URL="http://127.0.0.1:9/sms/api",
                               SMS_DEFAULT_REGION="za", SMSBOT_ALLOWED_USERS="U01, U02"))
    assert s.smsoffice_api_url == "http://127.0.0.1:9/sms/api/"
    assert s.sms_default_region == "ZA"
    assert s.allowed_users == {"U01", "U02"}


def test_missing_database_folder_is_reported(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(base_env(tmp_path, SMSBOT_DB=str(tmp_path / "nope" / "smsbot.db")))
    assert "does not exist" in caught.value.problems[0]


def test_loaded_secrets_are_redacted_everywhere(tmp_path):
    load_settings(base_env(tmp_path))
    line = f"GET /sendsms.asp?password={GATEWAY_PASSWORD}&x=1 token xoxb-test-token"
    shown = redact(line)
    assert GATEWAY_PASSWORD not in shown and "xoxb-test-token" not in shown
    assert redact("s3cr3t%26Pa+ss") == "***"  # the URL-encoded form too


def test_the_settings_repr_shows_no_secret(tmp_path):
    settings = load_settings(base_env(tmp_path, SLACK_APP_TOKEN="xapp-1-app-token-value",
                                      SMSBOT_CALLBACK_SECRET="callback-secret-0123456789"))
    shown = repr(settings)
    assert "smsoffice_username='acme'" in shown  # still useful
    for secret in (settings.slack_bot_token, settings.slack_signing_secret, settings.smsoffice_password,
                   settings.slack_app_token, settings.callback_secret):
        assert secret not in shown
