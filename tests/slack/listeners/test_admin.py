"""The do-not-contact list through signed /sms requests: changes by admins only, typed numbers refused,
group members skipped (and said so), and an SMS queued before the opt-out never sent."""

import json

import pytest

from tests.conftest import said

ADMIN = "U0BOSS"


@pytest.fixture
def d(driver_with):
    return driver_with(SMSBOT_ADMIN_USERS=ADMIN)


def test_an_admin_adds_numbers_with_a_reason_and_anyone_allowed_can_list_and_check(d):
    text = said(d.command("optout add +27831234567,0027821234567 asked by phone on 3 May", user_id=ADMIN))
    assert "Added 2 numbers" in text and "27831234567, 27821234567" in text and "asked by phone on 3 May" in text
    listed = said(d.command("optout list"))
    assert "27831234567 — asked by phone on 3 May" in listed and "27821234567" in listed
    assert "is on the do-not-contact list" in said(d.command("optout check +27831234567"))
    assert "is not on the do-not-contact list" in said(d.command("optout check 27841234567"))
    again = said(d.command("optout add 27831234567", user_id=ADMIN))
    assert "Already on the list: 27831234567" in again


def test_someone_not_an_admin_may_not_change_the_list(d):
    text = said(d.command("optout add 27831234567 spam", user_id="U0EVE"))
    assert "Only smsbot admins" in text and f"<@{ADMIN}>" in text
    assert said(d.command("optout list")).startswith("The do-not-contact list is empty")


def test_with_no_admins_the_changes_are_refused_naming_the_setting(slack_driver):
    for words in ("optout add 27831234567", "optout remove 27831234567"):
        assert "SMSBOT_ADMIN_USERS" in said(slack_driver.command(words))
    assert "empty" in said(slack_driver.command("optout list"))


def test_a_bad_number_and_a_bad_subcommand_say_how_to_fix_them(d):
    assert "12ab" in said(d.command("optout add 12ab", user_id=ADMIN))
    assert "/sms optout list" in said(d.command("optout frobnicate", user_id=ADMIN))
    assert "/sms optout add NUMBERS" in said(d.command("optout add", user_id=ADMIN))


def test_removing_a_number_lets_it_get_sms_again(d, simulator):
    said(d.command("optout add 27831234567", user_id=ADMIN))
    text = said(d.command("optout remove 27831234567,27849999999", user_id=ADMIN))
    assert "Removed 1 number" in text and "Not on the list, so nothing changed for: 27849999999" in text
    assert "Queued 1 SMS" in said(d.command("send 27831234567 Back on"))


def test_a_typed_number_that_opted_out_refuses_the_whole_send_naming_it(d, simulator):
    said(d.command("optout add 27831234567", user_id=ADMIN))
    text = said(d.command("send 27821234567,+27831234567 Hello"))
    assert "27831234567 is on the do-not-contact list" in text and "nothing was sent" in text
    assert d.bot.queue.depth() == 0
    d.pump()
    assert simulator.messages == []


def test_opted_out_group_members_are_skipped_and_left_out_of_the_credits(d, simulator, fake_slack):
    said(d.command("group add team 27831234567,27821234567,27841234567", user_id=ADMIN))
    said(d.command("optout add 27821234567 unsubscribed", user_id=ADMIN))
    text = said(d.command("send team Drill at 3"))
    assert "Queued 2 SMS to 2 recipients" in text and "2 credits" in text
    assert "skipped" in text.lower() and "27821234567" in text and "opted out" in text
    d.pump()
    assert sorted(m.to for m in simulator.messages) == ["27831234567", "27841234567"]
    shown = said(d.command("group show team"))
    assert "27821234567 — :no_entry_sign: skipped when sent to: opted out" in shown
    status = json.dumps(fake_slack.messages["C0GENERAL"][0]["blocks"])
    assert "27821234567" in status and "opted out" in status


def test_the_preview_of_a_costly_send_counts_without_the_opted_out(driver_with):
    d = driver_with(SMSBOT_ADMIN_USERS=ADMIN, SMSBOT_CONFIRM_ABOVE="1")
    said(d.command("group add team 27831234567,27821234567", user_id=ADMIN))
    said(d.command("optout add 27821234567", user_id=ADMIN))
    preview = d.command("send team,27841234567 Drill at 3").json()
    shown = json.dumps(preview)
    assert "*Credits:* 2" in shown and "27821234567" in shown and "opted out" in shown


def test_a_number_opted_out_after_queueing_is_not_sent_and_the_thread_says_so(d, simulator, fake_slack):
    said(d.command("send 27831234567,27821234567 Hello"))
    said(d.command("optout add 27831234567", user_id=ADMIN))
    d.pump()
    assert [m.to for m in simulator.messages] == ["27821234567"]
    rows = {r["recipient"]: r for r in d.bot.queue.messages_of(1)}
    assert rows["27831234567"]["status"] == "failed" and rows["27831234567"]["last_error"].startswith("opted out")
    status = fake_slack.messages["C0GENERAL"][0]
    replies = [m["text"] for m in fake_slack.thread("C0GENERAL", status["ts"])]
    assert any("27831234567 failed: opted out" in r for r in replies)
    assert not any(
        "Resend" in json.dumps(m.get("blocks"))
        for m in fake_slack.thread("C0GENERAL", status["ts"])
        if "27831234567" in m["text"]
    )


def test_opt_out_and_group_changes_are_in_the_audit_log(d):
    said(d.command("group add team 27831234567", user_id=ADMIN))
    said(d.command("optout add 27821234567 asked", user_id=ADMIN))
    said(d.command("optout remove 27821234567", user_id=ADMIN))
    said(d.command("group remove team", user_id=ADMIN))
    text = said(d.command("audit", user_id=ADMIN))
    lines = text.splitlines()[1:]
    assert "`group remove` team 27831234567" in lines[0]
    assert "`optout remove` 27821234567" in lines[1] and "`optout add` 27821234567 asked" in lines[2]
    assert "`group add` team 27831234567" in lines[3] and all(f"<@{ADMIN}>" in line for line in lines)
