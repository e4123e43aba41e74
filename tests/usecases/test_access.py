"""Who may do what: the allow-lists and admins, their sentences, and what the bot does with them."""

from bot.config.settings import load_settings
from bot.usecases.access import Access
from tests.conftest import base_env, said


# -- through /sms ---------------------------------------------------------------------------------
def test_users_outside_the_list_are_refused_and_told_whom_to_ask(driver_with, simulator):
    d = driver_with(SMSBOT_ALLOWED_USERS="U0BOSS", SMSBOT_ADMIN_USERS="U0BOSS")
    text = said(d.command("send 27831234567 Hello"))
    assert "not allowed" in text and "<@U0BOSS>" in text and "U0USER" in text
    assert d.bot.queue.depth() == 0
    assert "queued" in said(d.command("send 27831234567 Hello", user_id="U0BOSS")).lower()


def test_channels_outside_the_list_are_refused(driver_with):
    d = driver_with(SMSBOT_ALLOWED_CHANNELS="C0OPS")
    text = said(d.command("send 27831234567 Hello", channel_id="C0GENERAL"))
    assert "can't be sent from this channel" in text and "<#C0OPS>" in text
    assert d.bot.queue.depth() == 0


def test_only_admins_change_groups_when_admins_are_set(driver_with):
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    assert "Only smsbot admins" in said(d.command("group add oncall 27831234567"))
    assert "Created group" in said(d.command("group add oncall 27831234567", user_id="U0BOSS"))
    assert "`oncall` · 1 number" in said(d.command("group list"))  # everyone may look


# -- the rules ------------------------------------------------------------------------------------
def access(tmp_path, **env) -> Access:
    return Access(load_settings(base_env(tmp_path, **env)))


def test_with_no_lists_everyone_may_do_everything(tmp_path):
    rules = access(tmp_path)
    assert rules.may_use("U0ANY") is None
    assert rules.may_send("U0ANY", "C0ANY") is None
    assert rules.may_change_groups("U0ANY") is None


def test_someone_not_listed_is_told_their_id_the_setting_and_whom_to_ask(tmp_path):
    rules = access(tmp_path, SMSBOT_ALLOWED_USERS="U0ANN,U0BEN", SMSBOT_ADMIN_USERS="U0BEN,U0ANN")
    assert rules.may_use("U0ANN") is None
    refusal = rules.may_use("U0EVE")
    assert "not allowed" in refusal and "(U0EVE)" in refusal and "SMSBOT_ALLOWED_USERS" in refusal
    assert "ask <@U0ANN> or <@U0BEN>" in refusal
    assert rules.may_send("U0EVE", "C0ANY") == refusal and rules.may_change_groups("U0EVE") is not None


def test_without_admins_the_refusal_still_says_whom_to_ask(tmp_path):
    refusal = access(tmp_path, SMSBOT_ALLOWED_USERS="U0ANN").may_use("U0EVE")
    assert "ask whoever runs smsbot" in refusal


def test_a_channel_not_listed_names_the_channels_that_are_and_the_setting(tmp_path):
    rules = access(tmp_path, SMSBOT_ALLOWED_CHANNELS="C0OPS,C0NOC")
    assert rules.may_send("U0ANY", "C0OPS") is None
    refusal = rules.may_send("U0ANY", "C0GENERAL")
    assert "can't be sent from this channel" in refusal and "Use <#C0NOC>, <#C0OPS>" in refusal
    assert "(C0GENERAL)" in refusal and "SMSBOT_ALLOWED_CHANNELS" in refusal
    assert rules.may_use("U0ANY") is None  # looking (balance, history) is not sending


def test_a_user_not_allowed_hears_about_themselves_before_the_channel(tmp_path):
    rules = access(tmp_path, SMSBOT_ALLOWED_USERS="U0ANN", SMSBOT_ALLOWED_CHANNELS="C0OPS")
    assert "SMSBOT_ALLOWED_USERS" in rules.may_send("U0EVE", "C0GENERAL")


def test_with_admins_only_they_change_groups(tmp_path):
    rules = access(tmp_path, SMSBOT_ADMIN_USERS="U0BOSS")
    assert rules.may_change_groups("U0BOSS") is None
    refusal = rules.may_change_groups("U0ANN")
    assert "Only smsbot admins can change groups" in refusal and "<@U0BOSS>" in refusal
    assert rules.may_send("U0ANN", "C0ANY") is None  # everyone still sends


def test_without_admins_whoever_may_use_the_bot_changes_groups(tmp_path):
    rules = access(tmp_path, SMSBOT_ALLOWED_USERS="U0ANN")
    assert rules.may_change_groups("U0ANN") is None
    assert "SMSBOT_ALLOWED_USERS" in rules.may_change_groups("U0EVE")
