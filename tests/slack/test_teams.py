"""Teams: groups, who may send, confirmation before costly sends, history, the compose form, App Home."""
import json

import pytest

from bot.slack.render import CANCEL_ACTION, COMPOSE_VIEW, CONFIRM_ACTION, CONFIRM_VIEW
from tests.conftest import wait_for

NUMBERS = ["27831234567", "27821234567", "27841234567"]


def said(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["text"]


def sent_to(simulator):
    return sorted(m.to for m in simulator.messages)


# -- groups --------------------------------------------------------------------------------------
def test_group_commands_create_list_show_and_remove(slack_driver, bot):
    text = said(slack_driver.command("group add oncall +27831234567,0027821234567"))
    assert "Created group `oncall`" in text and "27831234567, 27821234567" in text
    assert "Already in it: 27831234567" in said(slack_driver.command("group add oncall 27831234567"))
    assert "`oncall` · 2 numbers" in said(slack_driver.command("group list"))
    shown = said(slack_driver.command("group show oncall"))
    assert shown.splitlines()[1:] == ["27831234567", "27821234567"]
    assert "Removed 27821234567" in said(slack_driver.command("group remove oncall 27821234567"))
    assert "Deleted group `oncall` (1 number)" in said(slack_driver.command("group remove oncall"))
    assert "no groups yet" in said(slack_driver.command("group list"))


@pytest.mark.parametrize("command,expect", [
    ("group add 0831234567 27831234567", "looks like a phone number"),
    ("group add on/call 27831234567", "can't be a group name"),
    ("group add oncall 27831234567,12", "‘12’"),
    ("group add oncall", "Group commands"),
    ("group show nope", "There is no group called ‘nope’"),
    ("group frobnicate", "Group commands"),
])
def test_group_mistakes_are_explained(slack_driver, bot, command, expect):
    assert expect in said(slack_driver.command(command))
    assert bot.groups.sizes() == []


def test_a_group_works_wherever_a_number_does_and_folds_duplicates(slack_driver, bot, simulator):
    slack_driver.command("group add oncall 27831234567,27821234567")
    text = said(slack_driver.command("send oncall,27831234567,27841234567 Generator running"))
    assert "Queued 3 SMS to 3 recipients" in text
    slack_driver.pump()
    assert sent_to(simulator) == sorted(NUMBERS)


def test_an_unknown_group_refuses_the_send_and_suggests_the_closest(slack_driver, bot):
    slack_driver.command("group add oncall 27831234567")
    text = said(slack_driver.command("send oncal,27821234567 Generator running"))
    assert "no group called ‘oncal’" in text and "Did you mean `oncall`?" in text
    assert bot.queue.depth() == 0


# -- who may send ----------------------------------------------------------------------------------
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


def test_every_send_records_who_asked(slack_driver, bot):
    slack_driver.command("send 27831234567 Hello", user_id="U0CAROL", user_name="carol")
    assert (bot.queue.batch(1)["user_id"], bot.queue.batch(1)["user_name"]) == ("U0CAROL", "carol")


# -- confirmation before costly sends ------------------------------------------------------------------
@pytest.fixture
def costly(driver_with):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="2")
    response = d.command("send 27831234567,27821234567,27841234567 Generator running")
    assert response.status_code == 200
    body = response.json()
    buttons = [b for b in body["blocks"] if b["type"] == "actions"][0]["elements"]
    return d, body, buttons[0]["value"]


def test_a_costly_send_shows_a_preview_and_queues_nothing(costly):
    d, body, pending_id = costly
    shown = json.dumps(body["blocks"])
    assert "3 recipients" in shown and "Credits:* 3" in shown and "GSM-7" in shown and "Balance after" in shown
    assert [e["action_id"] for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]] == \
        [CONFIRM_ACTION, CANCEL_ACTION]
    assert d.bot.queue.depth() == 0


def test_send_queues_once_even_on_a_double_click(costly, simulator, fake_slack):
    d, _, pending_id = costly
    for _ in range(2):
        assert d.click(CONFIRM_ACTION, pending_id).status_code == 200
    assert wait_for(lambda: d.bot.queue.depth() == 3)
    d.pump()
    assert sent_to(simulator) == sorted(NUMBERS)
    assert len(d.bot.queue.recent_batches(10)) == 1
    assert wait_for(lambda: any("Queued" in body.get("text", "") for _, body in fake_slack.responses))


def test_only_the_requesters_click_counts(costly, fake_slack):
    d, _, pending_id = costly
    d.click(CONFIRM_ACTION, pending_id, user_id="U0MALLORY")
    assert wait_for(lambda: any("Only <@U0USER>" in b.get("text", "") for _, b in fake_slack.responses))
    assert d.bot.queue.depth() == 0


def test_cancel_queues_nothing_and_a_later_send_click_does_nothing(costly, fake_slack):
    d, _, pending_id = costly
    d.click(CANCEL_ACTION, pending_id)
    assert wait_for(lambda: any("Cancelled" in b.get("text", "") for _, b in fake_slack.responses))
    d.click(CONFIRM_ACTION, pending_id)
    assert d.bot.queue.depth() == 0


def test_the_preview_expires_after_ten_minutes(costly, fake_slack):
    d, _, pending_id = costly
    d.bot.db.conn.execute("UPDATE pending_sends SET created_at = created_at - 601, expires_at = expires_at - 601")
    d.click(CONFIRM_ACTION, pending_id)
    assert wait_for(lambda: any("expired" in b.get("text", "") for _, b in fake_slack.responses))
    assert d.bot.queue.depth() == 0


# -- history -----------------------------------------------------------------------------------------
def test_history_lists_the_last_sends_newest_first(slack_driver, bot):
    slack_driver.command("send 27831234567 One", user_id="U0ANN")
    slack_driver.command("send 27821234567,27841234567 Two", user_id="U0BEN")
    slack_driver.pump()
    lines = said(slack_driver.command("history")).splitlines()
    assert lines[0] == "*Last 2 sends*"
    assert "<@U0BEN> → 2 recipients · 1 part · 2 pending" in lines[1]
    assert "<@U0ANN> → `27831234567` · 1 part" in lines[2] and "sent" in lines[2]
    assert len(said(slack_driver.command("history 1")).splitlines()) == 2
    assert "from 1 to 50" in said(slack_driver.command("history 500"))


# -- the compose form ---------------------------------------------------------------------------------
def test_send_without_arguments_opens_the_form(slack_driver, fake_slack):
    assert slack_driver.command("send").status_code == 200
    assert wait_for(lambda: fake_slack.calls_to("views.open"))
    view = fake_slack.calls_to("views.open")[0].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == COMPOSE_VIEW
    assert json.loads(view["private_metadata"])["channel_id"] == "C0GENERAL"


@pytest.mark.parametrize("values,field,words", [
    ({"recipients": "0831234567", "message": "Hi"}, "recipients", "SMS_DEFAULT_REGION"),
    ({"recipients": "oncal", "message": "Hi"}, "recipients", "no group called ‘oncal’"),
    ({"recipients": "27831234567", "message": "x" * 613}, "message", "Cut 1"),
    ({"recipients": "27831234567", "message": "   "}, "message", "empty"),
])
def test_form_errors_are_shown_on_the_field_at_fault(slack_driver, bot, values, field, words):
    meta = json.dumps({"channel_id": "C0GENERAL"})
    response = slack_driver.submit(COMPOSE_VIEW, values, private_metadata=meta)
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == [field]
    assert words in body["errors"][field]
    assert bot.queue.depth() == 0


def test_a_valid_form_queues_the_send_into_the_channel_it_came_from(slack_driver, bot, fake_slack, simulator):
    meta = json.dumps({"channel_id": "C0GENERAL", "channel_name": "general"})
    response = slack_driver.submit(COMPOSE_VIEW, {"recipients": "27831234567", "message": "From the form"},
                                   private_metadata=meta)
    assert response.status_code == 200 and response.text == ""  # closes the modal
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == ["From the form"]
    assert fake_slack.messages["C0GENERAL"][0]["text"].startswith("SMS from <@U0USER>")


def test_a_costly_form_asks_for_confirmation_first(driver_with, simulator):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="1")
    meta = json.dumps({"channel_id": "C0GENERAL"})
    body = d.submit(COMPOSE_VIEW, {"recipients": "27831234567,27821234567", "message": "Drill"},
                    private_metadata=meta).json()
    assert body["response_action"] == "update" and body["view"]["callback_id"] == CONFIRM_VIEW
    assert d.bot.queue.depth() == 0
    for _ in range(2):  # a double submit queues once
        d.submit(CONFIRM_VIEW, {}, private_metadata=body["view"]["private_metadata"])
    assert d.bot.queue.depth() == 2


# -- App Home -----------------------------------------------------------------------------------------
def test_app_home_shows_balance_sends_and_groups(slack_driver, bot, fake_slack):
    bot.watch.check()
    slack_driver.command("group add oncall 27831234567")
    slack_driver.command("send oncall Generator running")
    slack_driver.pump()
    assert slack_driver.event({"type": "app_home_opened", "user": "U0USER", "channel": "D0USER",
                               "tab": "home"}).status_code == 200
    assert wait_for(lambda: fake_slack.calls_to("views.publish"))
    call = fake_slack.calls_to("views.publish")[0].params
    view = json.loads(call["view"]) if isinstance(call["view"], str) else call["view"]
    shown = json.dumps(view, ensure_ascii=False)
    assert call["user_id"] == "U0USER" and view["type"] == "home"
    assert "1,000.00" in shown and "`oncall` · 1 number" in shown and "27831234567" in shown


def test_the_preview_expands_the_groups_so_a_typo_can_be_caught(driver_with):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="1")
    d.command("group add oncall 27831234567,27821234567")
    body = d.command("send oncall,27841234567 Generator running").json()
    shown = json.dumps(body["blocks"], ensure_ascii=False)
    assert "3 recipients" in shown and "`oncall` (2 numbers): 27831234567, 27821234567" in shown


def test_app_home_shows_nothing_private_to_someone_not_allowed(driver_with, fake_slack):
    d = driver_with(SMSBOT_ALLOWED_USERS="U0BOSS")
    d.command("group add oncall 27831234567", user_id="U0BOSS")
    d.event({"type": "app_home_opened", "user": "U0STRANGER", "channel": "D0STRANGER", "tab": "home"})
    assert wait_for(lambda: fake_slack.calls_to("views.publish"))
    view = fake_slack.calls_to("views.publish")[0].params["view"]
    shown = view if isinstance(view, str) else json.dumps(view)
    assert "not allowed" in shown and "27831234567" not in shown and "oncall" not in shown


def test_a_form_that_cannot_open_in_time_says_what_to_type_instead(slack_driver, fake_slack):
    fake_slack.fail("views.open", "expired_trigger_id")
    slack_driver.command("send")
    assert wait_for(lambda: any("/sms send 27831234567" in body.get("text", "")
                                for _, body in fake_slack.responses))
