from decimal import Decimal
from pathlib import Path

import pytest

from bot.config.settings import (
    EXAMPLE_PLACEHOLDERS,
    ConfigError,
    load_log_settings,
    load_settings,
    public_url_warning,
)
from bot.redact import redact
from tests.conftest import GATEWAY_PASSWORD, base_env

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


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
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SMSOFFICE_USERNAME",
        "SMSOFFICE_PASSWORD",
        "SMS_SENDER_ID",
    ):
        assert f"{name} is not set" in named
    assert len(caught.value.problems) == 5


@pytest.mark.parametrize(
    "name,value,expect",
    [
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
    ],
)
def test_invalid_values_say_how_to_fix_them(tmp_path, name, value, expect):
    with pytest.raises(ConfigError) as caught:
        load_settings(base_env(tmp_path, **{name: value}))
    assert len(caught.value.problems) == 1
    assert name in caught.value.problems[0] and expect in caught.value.problems[0]


def test_base_urls_gain_a_trailing_slash_and_region_is_uppercased(tmp_path):
    s = load_settings(
        base_env(
            tmp_path,
            SMSOFFICE_API_URL="http://127.0.0.1:9/sms/api",
            SMS_DEFAULT_REGION="za",
            SMSBOT_ALLOWED_USERS="U01, U02",
        )
    )
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


def test_allowed_countries_are_iso_codes_and_empty_means_any(tmp_path):
    assert load_settings(base_env(tmp_path)).allowed_countries == frozenset()
    assert load_settings(base_env(tmp_path, SMSBOT_ALLOWED_COUNTRIES=" za, BW ")).allowed_countries == {"ZA", "BW"}
    with pytest.raises(ConfigError) as err:
        load_settings(base_env(tmp_path, SMSBOT_ALLOWED_COUNTRIES="ZA,RSA"))
    assert err.value.problems == [
        "SMSBOT_ALLOWED_COUNTRIES='ZA,RSA' is not valid: use comma-separated two-letter "
        "ISO country codes such as ZA,NA,BW, or leave it empty to allow any country."
    ]


def _problems(tmp_path, **env) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(base_env(tmp_path, **env))
    return caught.value.problems


def test_a_misspelt_name_is_refused_naming_the_known_one(tmp_path):
    # the example: missing its S, the allow-list was ignored and the bot open to everyone
    problems = _problems(tmp_path, SMSBOT_ALLOWED_USER="U0ADMIN")
    assert len(problems) == 1
    assert "SMSBOT_ALLOWED_USER " in problems[0] and "did you mean SMSBOT_ALLOWED_USERS?" in problems[0]


@pytest.mark.parametrize(
    "typo,known",
    [
        ("SLACK_SIGNIN_SECRET", "SLACK_SIGNING_SECRET"),
        ("SMSOFFICE_PASWORD", "SMSOFFICE_PASSWORD"),
        ("SMS_SENDRE_ID", "SMS_SENDER_ID"),  # two letters swapped
        ("SMSBOT_LOW_BALLANCE", "SMSBOT_LOW_BALANCE"),
    ],
)
def test_typos_under_every_prefix_are_refused(tmp_path, typo, known):
    problems = _problems(tmp_path, **{typo: "x"})
    assert problems == [p for p in problems if f"did you mean {known}?" in p] and len(problems) == 1


def test_other_unknown_names_with_our_prefixes_are_only_a_warning(tmp_path):
    s = load_settings(
        base_env(
            tmp_path, SMSBOT_SOMETHING_FROM_THE_FUTURE="1", SLACK_WEBHOOK_URL="https://x", OTHER_PROGRAM_SETTING="1"
        )
    )
    assert len(s.warnings) == 2
    assert any("SMSBOT_SOMETHING_FROM_THE_FUTURE" in w for w in s.warnings)
    assert any("SLACK_WEBHOOK_URL" in w for w in s.warnings)


def test_kubernetes_service_links_are_ignored(tmp_path):
    links = {
        "SMSBOT_SERVICE_HOST": "10.0.0.7",
        "SMSBOT_SERVICE_PORT": "3000",
        "SMSBOT_SERVICE_PORT_HTTP": "3000",
        "SMSBOT_PORT_3000_TCP": "tcp://10.0.0.7:3000",
        "SMSBOT_PORT_3000_TCP_PROTO": "tcp",
        "SMSBOT_PORT_3000_TCP_PORT": "3000",
        "SMSBOT_PORT_3000_TCP_ADDR": "10.0.0.7",
    }
    s = load_settings(base_env(tmp_path, **links))
    assert s.warnings == () and s.port == 0


def test_a_service_link_in_smsbot_port_is_explained(tmp_path):
    problems = _problems(tmp_path, SMSBOT_PORT="tcp://10.0.0.7:3000")
    assert len(problems) == 1
    assert "Kubernetes" in problems[0] and "enableServiceLinks: false" in problems[0]
    assert "Rename the Service" in problems[0]


@pytest.mark.parametrize(
    "name,value",
    [
        ("SMSBOT_PORT", '"3000"'),
        ("SMS_SENDER_ID", "'ACMEOPS'"),
        ("SMSOFFICE_PASSWORD", '"hunter2-secret"'),
    ],
)
def test_a_quoted_value_is_refused_with_the_docker_explanation(tmp_path, name, value):
    problems = _problems(tmp_path, **{name: value})
    assert len(problems) == 1
    assert name in problems[0] and "quotes" in problems[0] and "--env-file" in problems[0]
    assert "hunter2" not in problems[0]  # a quoted secret is not echoed


def test_a_host_that_does_not_resolve_is_refused(tmp_path):
    problems = _problems(tmp_path, SMSBOT_HOST="localhostt")
    assert len(problems) == 1 and "SMSBOT_HOST='localhostt'" in problems[0] and "127.0.0.1" in problems[0]
    assert load_settings(base_env(tmp_path, SMSBOT_HOST="localhost")).host == "localhost"
    assert load_settings(base_env(tmp_path, SMSBOT_HOST="::1")).host == "::1"


def test_backup_settings(tmp_path):
    s = load_settings(base_env(tmp_path, SMSBOT_BACKUP_DIR=str(tmp_path / "b")))
    assert (s.backup_dir, s.backup_keep) == (str(tmp_path / "b"), 7)
    (tmp_path / "file").write_text("")
    problems = _problems(tmp_path, SMSBOT_BACKUP_DIR=str(tmp_path / "file"), SMSBOT_BACKUP_KEEP="0")
    assert len(problems) == 2 and any("SMSBOT_BACKUP_KEEP" in p for p in problems)


def test_the_simulator_needs_no_gateway_credentials(tmp_path):
    env = base_env(tmp_path, SMSOFFICE_API_URL="simulator")
    for name in ("SMSOFFICE_USERNAME", "SMSOFFICE_PASSWORD", "SMS_SENDER_ID"):
        del env[name]
    s = load_settings(env)
    assert s.simulated and s.smsoffice_api_url == "simulator"
    assert (s.smsoffice_username, s.smsoffice_password, s.sms_sender_id) == ("demo", "demo", "SMSBOT")


@pytest.mark.parametrize(
    "name,value,expect",
    [
        ("SMSBOT_ALERT_CHANNEL", "general", "channel's ID"),
        ("SMSBOT_ALERT_CHANNEL", "#sms-alerts", "channel's ID"),
        ("SMSBOT_ALLOWED_USERS", "U0ADMIN,C0OPS", "start with U or W"),  # a channel among the users
        ("SMSBOT_ADMIN_USERS", "@alice", "start with U or W"),
        ("SMSBOT_ALLOWED_CHANNELS", "U0ADMIN", "start with C, G or D"),
    ],
)
def test_slack_ids_must_look_like_slack_ids(tmp_path, name, value, expect):
    problems = _problems(tmp_path, **{name: value})
    assert len(problems) == 1 and name in problems[0] and expect in problems[0]


def _example() -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(EXAMPLE).items() if v}


# The operator's own values in place of .env.example's placeholders.
FILLED_IN = {
    "SLACK_BOT_TOKEN": "xoxb-1-real",
    "SLACK_SIGNING_SECRET": "real-signing-secret",
    "SMSOFFICE_USERNAME": "acme",
    "SMSOFFICE_PASSWORD": "real-password",
    "SMS_SENDER_ID": "ACMEOPS",
}


def test_env_example_names_only_known_settings_and_leaves_defaults_commented(tmp_path):
    values = {**_example(), **FILLED_IN}
    s = load_settings({**values, "SMSBOT_DB": str(tmp_path / "x.db")})
    assert s.warnings == ()  # every name in it is one smsbot reads
    commented = {
        line[1:].split("=")[0]
        for line in EXAMPLE.read_text().splitlines()
        if line.startswith("#") and "=" in line and line[1:2].isupper()
    }
    assert {"SMSBOT_DB", "SMSBOT_HOST", "SMSBOT_PORT"} <= commented and not commented & set(values)
    defaults = dict(
        line[1:].split("=", 1) for line in EXAMPLE.read_text().splitlines() if line[1:].split("=")[0] in commented
    )
    uncommented = load_settings({**values, **defaults, "SMSBOT_DB": str(tmp_path / "x.db")})
    assert uncommented.warnings == () and uncommented.port == 3000  # the defaults shown are the defaults


def test_env_example_as_copied_is_refused_naming_each_placeholder(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_settings({**_example(), "SMSBOT_DB": str(tmp_path / "x.db")})
    named = sorted(problem.split()[0] for problem in refused.value.problems)
    assert named == sorted(EXAMPLE_PLACEHOLDERS) == sorted(FILLED_IN)  # every placeholder, each once
    assert all("is still the example value from .env.example" in p for p in refused.value.problems)
    assert _example().keys() >= EXAMPLE_PLACEHOLDERS.keys()
    assert all(_example()[name] == value for name, value in EXAMPLE_PLACEHOLDERS.items())


def test_with_the_simulator_the_unused_gateway_placeholders_are_fine(tmp_path):
    slack = {name: FILLED_IN[name] for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")}
    s = load_settings({**_example(), **slack, "SMSOFFICE_API_URL": "simulator", "SMSBOT_DB": str(tmp_path / "x.db")})
    assert (s.smsoffice_username, s.smsoffice_password, s.sms_sender_id) == ("demo", "demo", "SMSBOT")
    with pytest.raises(ConfigError) as refused:  # Slack's are used in every mode
        load_settings({**_example(), "SMSOFFICE_API_URL": "simulator", "SMSBOT_DB": str(tmp_path / "x.db")})
    assert sorted(p.split()[0] for p in refused.value.problems) == ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]


@pytest.mark.parametrize(
    "name,value,expect",
    [
        ("SLACK_BOT_TOKEN", "xoxb-…", "SLACK_BOT_TOKEN still holds the README's placeholder (xoxb-…)"),
        ("SLACK_APP_TOKEN", "xapp-…", "SLACK_APP_TOKEN still holds the README's placeholder (xapp-…)"),
        ("SLACK_SIGNING_SECRET", "…", "SLACK_SIGNING_SECRET still holds the README's placeholder (…)"),
        ("SLACK_BOT_TOKEN", "xoxb-1-2-abc…", "SLACK_BOT_TOKEN still holds the README's placeholder: the …"),
        ("SLACK_BOT_TOKEN", "xoxb-1-2-ab\u00e9cd", "'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)"),
        ("SLACK_SIGNING_SECRET", "abc\u200bdef0123", "(U+200B ZERO WIDTH SPACE)"),
        ("SLACK_APP_TOKEN", "xapp-1 A0 123", "SLACK_APP_TOKEN contains a space"),
        ("SMSOFFICE_PASSWORD", "pass\u2013word", "'–' (U+2013 EN DASH)"),
    ],
)
def test_a_token_or_secret_that_cannot_be_real_gets_a_sentence_without_its_value(tmp_path, name, value, expect):
    problems = _problems(tmp_path, **{name: value})
    assert len(problems) == 1 and expect in problems[0]
    assert "paste" in problems[0] or "copy" in problems[0] or "set it" in problems[0]
    if "…" not in value:
        assert value not in problems[0]  # a secret, even a damaged one, is never quoted


def test_a_space_is_allowed_in_the_gateway_password(tmp_path):
    assert load_settings(base_env(tmp_path)).smsoffice_password == GATEWAY_PASSWORD  # "s3cr3t&Pa ss"


@pytest.mark.parametrize(
    "name,value,expect",
    [
        ("SMSBOT_RETENTION_DAYS", "0", "use a whole number of days, at least 1 (e.g. 365)"),
        ("SMSBOT_BACKUP_KEEP", "0", "at least 1"),
        ("SMSBOT_MAX_LIST_ROWS", "0", "at least 1"),
        ("SMSBOT_OUTBOX_STALL_SECONDS", "0", "at least 1"),
        ("SMSBOT_CONFIRM_ABOVE", "-1", "0 or more"),
        ("SMSBOT_DAILY_LIMIT", "-5", "0 or more"),
        ("SMSBOT_SEND_GIVE_UP_HOURS", "0", "above 0"),
    ],
)
def test_a_number_out_of_range_is_told_the_allowed_range(tmp_path, name, value, expect):
    problems = _problems(tmp_path, **{name: value})
    assert len(problems) == 1 and f"{name}={value!r} is not valid" in problems[0] and expect in problems[0]


def test_a_public_url_on_plain_http_gets_a_warning(tmp_path):
    assert public_url_warning(load_settings(base_env(tmp_path, SMSBOT_PUBLIC_URL="https://sms.example.com"))) is None
    assert public_url_warning(load_settings(base_env(tmp_path))) is None
    warning = public_url_warning(load_settings(base_env(tmp_path, SMSBOT_PUBLIC_URL="http://sms.example.com")))
    assert warning and "SMSBOT_PUBLIC_URL=http://sms.example.com starts with http://" in warning
    assert "only to https request URLs" in warning and "https://" in warning
    socket_mode = load_settings(
        base_env(tmp_path, SMSBOT_PUBLIC_URL="http://sms.example.com", SLACK_APP_TOKEN="xapp-1-a")
    )
    assert "with Socket Mode Slack does not use it" in (public_url_warning(socket_mode) or "")


def test_log_settings_alone_are_read_and_checked_as_the_bot_does():
    assert load_log_settings({}) == ("INFO", "kv")
    assert load_log_settings({"SMSBOT_LOG_LEVEL": "debug", "SMSBOT_LOG_FORMAT": "JSON"}) == ("DEBUG", "json")
    with pytest.raises(ConfigError) as refused:
        load_log_settings({"SMSBOT_LOG_LEVEL": "LOUD", "SMSBOT_LOG_FORMAT": "xml"})
    assert len(refused.value.problems) == 2


def test_the_settings_repr_shows_no_secret(tmp_path):
    settings = load_settings(
        base_env(
            tmp_path, SLACK_APP_TOKEN="xapp-1-app-token-value", SMSBOT_CALLBACK_SECRET="callback-secret-0123456789"
        )
    )
    shown = repr(settings)
    assert "smsoffice_username='acme'" in shown  # still useful
    for secret in (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.smsoffice_password,
        settings.slack_app_token,
        settings.callback_secret,
    ):
        assert secret not in shown


def test_an_unknown_time_zone_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_settings(base_env(tmp_path, SMSBOT_TIMEZONE="Africa/Joburg"))
    assert any("SMSBOT_TIMEZONE" in p and "Africa/Johannesburg" in p for p in refused.value.problems)
    settings = load_settings(base_env(tmp_path, SMSBOT_TIMEZONE="Europe/London"))
    assert (settings.timezone, settings.schedule_grace_minutes, settings.max_list_rows) == ("Europe/London", 60, 5000)
