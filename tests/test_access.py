"""Who may do what: the allow-lists and admins, their sentences, and what the bot does with them."""
from tests.conftest import said


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

