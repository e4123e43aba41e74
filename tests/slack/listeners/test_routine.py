"""/sms template … and sending one with `/sms send NUMBERS :NAME key=value`, through signed requests; and the
compose form's routine parts: the template picker and the date and time picker."""

import json

from bot.slack.render import COMPOSE_VIEW, TEMPLATE_PICK_ACTION
from bot.testing.slack_requests import view_action_body
from tests.conftest import said, wait_for


def test_a_template_is_added_listed_shown_and_sent_with_its_values_filled(slack_driver, bot, simulator):
    added = said(slack_driver.command("template add outage Outage at {site} since {since}. We are on it."))
    assert "Saved the template `outage`" in added and "`{site}`, `{since}`" in added
    assert "`outage`" in said(slack_driver.command("template list"))
    shown = said(slack_driver.command("template show outage"))
    assert "1 part (GSM-7)" in shown and "near" not in shown
    ack = said(slack_driver.command('send 27831234567 :outage site="Cape Town" since=07:00'))
    assert "Queued 1 SMS to 27831234567" in ack and "Outage at Cape Town since 07:00. We are on it." in ack
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == ["Outage at Cape Town since 07:00. We are on it."]
    assert bot.queue.batch(1)["template"] == "outage"


def test_curly_quotes_from_a_slack_client_count_as_quotes(slack_driver, simulator):
    said(slack_driver.command("template add ready Hi {name}, order {order} is ready"))
    said(slack_driver.command("send 27831234567 :ready name=“Thandi Mokoena” order=1234"))
    slack_driver.pump()
    assert simulator.messages[0].text == "Hi Thandi Mokoena, order 1234 is ready"


def test_a_missing_value_or_unknown_key_refuses_the_send_and_says_what_to_fix(slack_driver, bot):
    said(slack_driver.command("template add outage Outage at {site} since {since}"))
    missing = said(slack_driver.command("send 27831234567 :outage site=A"))
    assert "Missing key `since`" in missing
    unknown = said(slack_driver.command("send 27831234567 :outage site=A since=1 place=B"))
    assert "no key `place`" in unknown and "`site`, `since`" in unknown
    assert bot.queue.depth() == 0


def test_the_filled_text_is_checked_like_a_typed_one(slack_driver, bot):
    said(slack_driver.command("template add long Notice: {body}"))
    refused = said(slack_driver.command(f"send 27831234567 :long body={'x' * 700}"))
    assert "GSM-7" in refused and bot.queue.depth() == 0


def test_a_bad_placeholder_is_refused_when_added_naming_its_position(slack_driver):
    refused = said(slack_driver.command("template add ready Hi {Name}, your order is ready"))
    assert "`{Name}`" in refused and "position 4" in refused
    assert "No templates yet" in said(slack_driver.command("template list"))


def test_show_warns_when_the_fixed_text_alone_is_near_the_four_part_limit(slack_driver):
    said(slack_driver.command("template add essay " + "word " * 100 + "{x}"))
    shown = said(slack_driver.command("template show essay"))
    assert "4 parts" in shown  # 500 GSM-7 characters: 4 parts of 153
    assert "of the 4 allowed" in shown


def test_only_admins_change_templates_when_there_are_admins(driver_with):
    d = driver_with(SMSBOT_ADMIN_USERS="U0ADMIN")
    assert "Only smsbot admins" in said(d.command("template add a Hi", user_id="U0USER"))
    assert "Saved" in said(d.command("template add a Hi", user_id="U0ADMIN"))
    assert "Only smsbot admins" in said(d.command("template remove a", user_id="U0USER"))
    assert "Removed the template `a`" in said(d.command("template remove a", user_id="U0ADMIN"))


def test_an_unknown_template_names_the_closest(slack_driver, bot):
    said(slack_driver.command("template add outage Down at {site}"))
    text = said(slack_driver.command("send 27831234567 :outag site=A"))
    assert "no template ‘outag’" in text and "`outage`" in text
    assert bot.queue.depth() == 0


def test_a_text_that_starts_with_a_colon_word_no_template_has_goes_as_typed_and_the_ack_says_so(
    slack_driver, simulator
):
    said(slack_driver.command("template add outage Down at {site}"))
    ack = said(slack_driver.command("send 27831234567 :D see you at 5"))
    assert "Queued 1 SMS to 27831234567" in ack and "No template is called ‘D’, so the text went as typed" in ack
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == [":D see you at 5"]


def test_a_template_name_refused_says_template_name_not_group_name(slack_driver):
    odd = said(slack_driver.command("template add on/call Call {name}"))
    assert "‘on/call’ can't be a template name" in odd and "group" not in odd
    digits = said(slack_driver.command("template add 0831234567 Call {name}"))
    assert "looks like a phone number, so it can't be a template name" in digits and "group" not in digits


def test_each_template_change_goes_to_the_audit_hook(slack_driver, bot):
    changes = []
    bot.routine.audit = lambda user, action, args: changes.append((user, action, args))
    said(slack_driver.command("template add a Hi"))
    said(slack_driver.command("template add a Hello"))
    said(slack_driver.command("template remove a"))
    assert changes == [
        ("U0USER", "template_add", {"name": "a"}),
        ("U0USER", "template_replace", {"name": "a"}),
        ("U0USER", "template_remove", {"name": "a"}),
    ]


def _view(call) -> dict:
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def test_picking_a_template_fills_the_message_field_with_its_placeholders(slack_driver, fake_slack, simulator):
    said(slack_driver.command("template add outage Outage at {site}: crews are on it."))
    slack_driver.command("send")
    assert wait_for(lambda: fake_slack.calls_to("views.open"))
    opened = _view(fake_slack.calls_to("views.open")[0])
    menu = [b for b in opened["blocks"] if b.get("block_id") == "template"][0]["elements"][0]
    assert [o["value"] for o in menu["options"]] == ["outage"]
    opened |= {
        "id": "V0000001",
        "state": {"values": {"recipients": {"value": {"type": "plain_text_input", "value": "27831234567"}}}},
    }
    assert slack_driver.post(view_action_body(TEMPLATE_PICK_ACTION, "outage", opened)).status_code == 200
    assert wait_for(lambda: fake_slack.calls_to("views.update"))
    updated = _view(fake_slack.calls_to("views.update")[0])
    fields = {b["block_id"]: b["element"].get("initial_value") for b in updated["blocks"] if b["type"] == "input"}
    assert fields["message-1"] == "Outage at {site}: crews are on it."  # placeholders visible, to edit
    assert fields["recipients"] == "27831234567"  # what was typed is kept
    meta = opened["private_metadata"]
    response = slack_driver.submit(
        COMPOSE_VIEW,
        {"recipients": "27831234567", "message-1": "Outage at Bellville: crews are on it."},
        private_metadata=meta,
    )
    assert response.status_code == 200 and not response.content.strip()
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == ["Outage at Bellville: crews are on it."]


def test_the_form_says_when_there_are_more_templates_than_the_menu_shows_and_how_to_reach_them(
    slack_driver, fake_slack
):
    for i in range(130):
        said(slack_driver.command(f"template add t{i:03d} Notice {i}"))
    slack_driver.command("send")
    assert wait_for(lambda: fake_slack.calls_to("views.open"))
    opened = _view(fake_slack.calls_to("views.open")[0])
    menu = [b for b in opened["blocks"] if b.get("block_id") == "template"][0]["elements"][0]
    assert len(menu["options"]) == 100 and menu["options"][-1]["value"] == "t099"
    shown = json.dumps(opened)
    assert "first 100 of 130 templates" in shown and "/sms send NUMBERS :NAME" in shown
    assert "/sms template list" in shown


def test_the_forms_date_and_time_schedules_the_send(slack_driver, bot, simulator):
    meta = json.dumps({"channel_id": "C0GENERAL"})
    at = int(bot.clock()) + 3600
    response = slack_driver.submit(
        COMPOSE_VIEW,
        {
            "recipients": "27831234567",
            "message": "Drill soon",
            "when": {"type": "datetimepicker", "selected_date_time": at},
        },
        private_metadata=meta,
    )
    assert response.status_code == 200
    slack_driver.pump()
    assert simulator.messages == [] and bot.queue.batch(1)["scheduled_for"] == at
    past = slack_driver.submit(
        COMPOSE_VIEW,
        {
            "recipients": "27831234567",
            "message": "Drill",
            "when": {"type": "datetimepicker", "selected_date_time": at - 7200},
        },
        private_metadata=meta,
    ).json()
    assert past["response_action"] == "errors" and "in the past" in past["errors"]["when"]
