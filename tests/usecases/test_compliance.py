"""/sms access allow|deny|list by admins, through signed requests: mentions arrive as IDs (the manifest
escapes them), environment entries cannot be denied from Slack, admins are always allowed."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import said

ADMIN = "U0BOSS"


@pytest.fixture
def d(driver_with):
    return driver_with(SMSBOT_ADMIN_USERS=ADMIN)


def test_the_manifest_escapes_mentions_and_asks_for_the_upload_scope():
    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/sms" and command["should_escape"] is True
    assert "files:write" in manifest["oauth_config"]["scopes"]["bot"]


def test_the_first_allow_says_that_only_the_listed_and_admins_may_now_send(d):
    assert "Everyone in the workspace may send now." in said(d.command("access list", user_id=ADMIN))
    assert "Queued" in said(d.command("send 27831234567 Hi", user_id="U0EVE"))
    text = said(d.command("access allow <@U0ANN|ann>", user_id=ADMIN))
    assert "<@U0ANN> is now allowed. Only the listed person and the admins may send now." in text
    assert "not allowed to use smsbot" in said(d.command("send 27831234567 Hi", user_id="U0EVE"))
    assert "Queued" in said(d.command("send 27831234567 Hi", user_id="U0ANN"))
    assert "Queued" in said(d.command("send 27831234567 Hi", user_id=ADMIN))  # admins always may
    second = said(d.command("access allow U0BEN", user_id=ADMIN))  # a raw ID works too
    assert "<@U0BEN> is now allowed. Only the 2 listed people and the admins may send now." in second


def test_deny_removes_an_entry_added_in_slack(d):
    said(d.command("access allow <@U0ANN|ann>", user_id=ADMIN))
    said(d.command("access allow <@U0BEN|ben>", user_id=ADMIN))
    assert "<@U0ANN> is no longer allowed" in said(d.command("access deny <@U0ANN|ann>", user_id=ADMIN))
    assert "not allowed" in said(d.command("history", user_id="U0ANN"))
    assert "was not on the list" in said(d.command("access deny <@U0ANN|ann>", user_id=ADMIN))


def test_channels_are_allowed_by_mention_and_listed_with_their_origin(driver_with):
    d = driver_with(SMSBOT_ADMIN_USERS=ADMIN, SMSBOT_ALLOWED_CHANNELS="C0OPS", SMSBOT_ALLOWED_USERS="U0ANN")
    said(d.command("access allow <#C0NOC|noc>", user_id=ADMIN))
    assert "Queued" in said(d.command("send 27831234567 Hi", user_id="U0ANN", channel_id="C0NOC"))
    assert "can't be sent from this channel" in said(d.command("send 27831234567 Hi", user_id="U0ANN"))
    listed = said(d.command("access list", user_id=ADMIN))
    assert "<@U0ANN> (U0ANN) — SMSBOT_ALLOWED_USERS" in listed
    assert "<#C0OPS> (C0OPS) — SMSBOT_ALLOWED_CHANNELS" in listed
    assert f"<#C0NOC> (C0NOC) — added in Slack by <@{ADMIN}>" in listed
    assert f"<@{ADMIN}> (SMSBOT_ADMIN_USERS, always allowed)" in listed


def test_deny_of_an_environment_entry_is_refused_saying_where_to_remove_it(driver_with):
    d = driver_with(SMSBOT_ADMIN_USERS=ADMIN, SMSBOT_ALLOWED_USERS="U0ANN")
    text = said(d.command("access deny <@U0ANN|ann>", user_id=ADMIN))
    assert "SMSBOT_ALLOWED_USERS" in text and "remove it there" in text
    assert "Queued" in said(d.command("send 27831234567 Hi", user_id="U0ANN"))


def test_a_name_without_an_id_is_refused_with_how_to_fix_it(d):
    text = said(d.command("access allow @bob", user_id=ADMIN))
    assert "‘@bob’" in text and "should_escape: true" in text and "U…" in text


def test_access_and_audit_are_refused_to_people_who_are_not_admins(d):
    for words in ("access allow <@U0EVE|eve>", "access list", "audit"):
        text = said(d.command(words, user_id="U0EVE"))
        assert "Only smsbot admins" in text and f"<@{ADMIN}>" in text
    assert "Everyone" in said(d.command("access list", user_id=ADMIN))  # nothing changed


def test_with_no_admins_access_and_audit_are_refused_naming_the_setting(slack_driver):
    for words in ("access allow <@U0EVE|eve>", "access list", "audit", "audit 5"):
        assert "SMSBOT_ADMIN_USERS" in said(slack_driver.command(words))


def test_the_audit_log_shows_who_changed_access_when_and_how(d):
    said(d.command("access allow <@U0ANN|ann>", user_id=ADMIN))
    said(d.command("access deny <@U0ANN|ann>", user_id=ADMIN))
    said(d.command("access allow <#C0NOC|noc>", user_id=ADMIN))
    lines = said(d.command("audit 2", user_id=ADMIN)).splitlines()
    assert lines[0].startswith("*Last 2 admin actions*")
    assert "`access allow` <#C0NOC>" in lines[1] and "`access deny` <@U0ANN>" in lines[2] and len(lines) == 3
    assert f"<@{ADMIN}>" in lines[1] and "<!date^" in lines[1]
    assert "from 1 to 100" in said(d.command("audit 0", user_id=ADMIN))
