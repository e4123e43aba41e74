"""Issue #9 end to end: parts as encoders split them, numbers that can get the SMS, skipped group
members, and sends the balance cannot cover — through signed requests to the real app."""

import json
from decimal import Decimal

import phonenumbers

from bot.slack.render import COMPOSE_VIEW, CONFIRM_ACTION
from tests.conftest import wait_for


def said(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["text"]


def status_text(fake_slack, channel="C0GENERAL") -> str:
    return json.dumps(fake_slack.messages[channel][0]["blocks"], ensure_ascii=False)


# -- parts ---------------------------------------------------------------------------------------
def test_a_euro_on_the_part_boundary_costs_three_parts_everywhere(slack_driver, bot, simulator, fake_slack):
    text = "a" * 152 + "€" + "a" * 152  # 306 septets, but the € cannot straddle parts 1 and 2
    ack = said(slack_driver.command("send 27831234567 " + text))
    assert "3 parts each (GSM-7), 3 credits in all" in ack
    slack_driver.pump()
    assert [(m.text, m.parts) for m in simulator.messages] == [(text, 3)]
    assert simulator.balance == Decimal("997")
    assert "3 parts (GSM-7) · 3 credits" in status_text(fake_slack)


def test_134_emoji_are_refused_as_5_parts_before_anything_is_queued(slack_driver, bot, simulator):
    ack = said(slack_driver.command("send 27831234567 " + "😀" * 134))
    assert "134 UCS-2 characters need 5 SMS parts; the limit is 4 parts" in ack
    assert "so a part holds at most 33 emoji" in ack and "Cut 2 characters" in ack
    assert bot.queue.depth() == 0 and simulator.messages == []


# -- the compose form ----------------------------------------------------------------------------
def test_the_form_takes_one_recipient_per_line_with_spaces_and_groups(driver_with, simulator, fake_slack):
    d = driver_with(SMS_DEFAULT_REGION="ZA")
    said(d.command("group add oncall 27841234567"))
    recipients = "083 123 4567\n+27 82 123 4567, oncall\n\n"
    response = d.submit(
        COMPOSE_VIEW,
        {"recipients": recipients, "message": "From the form"},
        private_metadata=json.dumps({"channel_id": "C0GENERAL"}),
    )
    assert response.status_code == 200 and response.text == ""
    d.pump()
    assert sorted(m.to for m in simulator.messages) == ["27821234567", "27831234567", "27841234567"]


def test_the_form_shows_a_bad_line_on_the_recipients_field(driver_with):
    d = driver_with(SMS_DEFAULT_REGION="ZA")
    body = d.submit(
        COMPOSE_VIEW,
        {"recipients": "083 123 4567\n021 555 1234", "message": "Hi"},
        private_metadata=json.dumps({"channel_id": "C0GENERAL"}),
    ).json()
    assert body["response_action"] == "errors"
    assert body["errors"]["recipients"].startswith(
        "‘021 555 1234’ is a landline in South Africa and cannot receive SMS"
    )
    assert d.bot.queue.depth() == 0


# -- numbers ---------------------------------------------------------------------------------------
def test_a_landline_typed_directly_refuses_the_send(driver_with, simulator):
    d = driver_with(SMS_DEFAULT_REGION="ZA")
    ack = said(d.command("send 0831234567,0215551234 Hello"))
    assert "‘0215551234’ is a landline in South Africa and cannot receive SMS" in ack
    assert d.bot.queue.depth() == 0


def test_group_members_failing_a_rule_are_skipped_and_said_so(driver_with, simulator, fake_slack):
    d = driver_with(SMS_DEFAULT_REGION="ZA", SMSBOT_ALLOWED_COUNTRIES="ZA")
    # Stored before these rules existed (or before the setting changed).
    d.bot.groups.add("oncall", ["27831234567", "27215551234", "687949853"], "U0ADMIN", 1.0)
    ack = said(d.command("send oncall Drill at 3pm"))
    assert "Queued 1 SMS to 27831234567" in ack and "1 credit in all" in ack
    assert "Skipped 2 group members, not charged" in ack
    assert "a landline in South Africa, which cannot receive SMS: 27215551234 (`oncall`)" in ack
    assert "in New Caledonia, not in SMSBOT_ALLOWED_COUNTRIES: 687949853 (`oncall`)" in ack
    d.pump()
    assert [m.to for m in simulator.messages] == ["27831234567"]
    assert "Skipped 2 group members" in status_text(fake_slack)


def test_group_add_uses_the_same_rules(driver_with):
    d = driver_with(SMS_DEFAULT_REGION="ZA", SMSBOT_ALLOWED_COUNTRIES="ZA")
    assert "is a landline in South Africa" in said(d.command("group add oncall 0215551234"))
    assert "SMSBOT_ALLOWED_COUNTRIES" in said(d.command("group add oncall +687949853"))
    assert "added 27831234567" in said(d.command("group add oncall 831234567"))


def test_voip_abroad_and_read_in_region_are_shown_in_ack_and_status(driver_with, simulator, fake_slack):
    d = driver_with(SMS_DEFAULT_REGION="ZA")
    ack = said(d.command("send 831234567,0871234567,+687949853 Test"))
    assert "Read ‘831234567’ as 27831234567 (in SMS_DEFAULT_REGION)" in ack
    assert "27871234567 is a VoIP number; it may not receive SMS" in ack
    assert "Abroad: 687949853 (New Caledonia)" in ack
    d.pump()
    shown = status_text(fake_slack)
    assert "Abroad: 687949853 (New Caledonia)" in shown and "27871234567 is a VoIP number" in shown


def test_ambiguous_digits_are_refused_showing_both_ways_to_write_them(driver_with):
    d = driver_with(SMS_DEFAULT_REGION="ZA")
    ack = said(d.command("send 687949853 Hi"))
    assert "Write +687949853 for New Caledonia, or 0687949853 for South Africa." in ack
    assert d.bot.queue.depth() == 0


def test_digits_whose_local_reading_is_a_landline_are_refused_not_sent_abroad(driver_with, simulator):
    fmt = phonenumbers.PhoneNumberFormat
    local, abroad = phonenumbers.parse("0358469686", "ZA"), phonenumbers.parse("+358469686")
    assert phonenumbers.number_type(local) == phonenumbers.PhoneNumberType.FIXED_LINE  # the numbering plan says
    assert phonenumbers.is_valid_number(abroad) and phonenumbers.region_code_for_number(abroad) == "FI"
    d = driver_with(SMS_DEFAULT_REGION="ZA")
    text = said(d.command("send 358469686 Meeting moved"))
    assert "can be read two ways" in text
    assert f"{phonenumbers.format_number(abroad, fmt.INTERNATIONAL)} in Finland" in text
    assert f"{phonenumbers.format_number(local, fmt.NATIONAL)} in South Africa (a landline)" in text
    assert "Write +358469686 for Finland, or 0358469686 for South Africa" in text
    d.pump()
    assert d.bot.queue.depth() == 0 and simulator.messages == []


# -- a send the balance cannot cover ---------------------------------------------------------------
def test_a_send_the_last_balance_cannot_cover_is_held_and_the_gateway_decides(driver_with, simulator):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="10")
    simulator.balance = Decimal("2")
    d.bot.watch.check()
    body = d.command("send 27831234567,27821234567,27841234567 Generator running").json()
    shown = json.dumps(body["blocks"], ensure_ascii=False)
    assert "The balance may not cover this send" in shown
    assert "The last balance check (just now) showed 2.00 credits, less than the 3 this send needs" in shown
    assert "Balance after:* about -1.00 credits" in shown
    button = [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]][0]
    assert button["text"]["text"] == "Send anyway" and button["action_id"] == CONFIRM_ACTION
    assert d.bot.queue.depth() == 0  # 3 credits is under SMSBOT_CONFIRM_ABOVE, yet held
    simulator.balance = Decimal("3")  # topped up since the check: the gateway decides
    d.click(CONFIRM_ACTION, button["value"])
    assert wait_for(lambda: d.bot.queue.depth() == 3)
    d.pump()
    assert len(simulator.messages) == 3


def test_a_one_credit_send_held_above_a_confirm_threshold_of_0_says_1_credit(driver_with):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="0")
    shown = json.dumps(d.command("send 27831234567 Drill").json(), ensure_ascii=False)
    assert "this send costs 1 credit." in shown and "1 credits" not in shown
    assert d.bot.queue.depth() == 0


def test_a_covered_cheap_send_is_not_held(driver_with, simulator):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="10")
    d.bot.watch.check()
    assert "Queued 3 SMS" in said(d.command("send 27831234567,27821234567,27841234567 Hi"))


def test_a_skipped_member_can_be_removed_as_the_notice_suggests(driver_with):
    d = driver_with(SMS_DEFAULT_REGION="ZA", SMSBOT_ALLOWED_COUNTRIES="ZA")
    d.bot.groups.add("oncall", ["27831234567", "27215551234", "687949853", "2783123"], "U0ADMIN", 1.0)
    removed = said(d.command("group remove oncall 27215551234,021-555-1235,+687949853,2783123"))
    assert "Removed 27215551234, 687949853, 2783123 from `oncall`" in removed
    assert d.bot.groups.members("oncall") == ["27831234567"]


def test_the_form_holds_a_send_the_balance_cannot_cover_with_send_anyway(driver_with, simulator):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="10")
    simulator.balance = Decimal("1")
    d.bot.watch.check()
    body = d.submit(
        COMPOSE_VIEW,
        {"recipients": "27831234567\n27821234567", "message": "Drill"},
        private_metadata=json.dumps({"channel_id": "C0GENERAL"}),
    ).json()
    assert body["response_action"] == "update" and body["view"]["submit"]["text"] == "Send anyway"
    assert "showed 1.00 credits, less than the 2 this send needs" in json.dumps(body["view"], ensure_ascii=False)
    assert d.bot.queue.depth() == 0


def test_group_show_marks_the_members_a_send_would_skip(driver_with):
    d = driver_with(SMSBOT_ALLOWED_COUNTRIES="ZA")
    d.bot.groups.add("oncall", ["27831234567", "27215551234"], "U0ADMIN", 1.0)
    shown = said(d.command("group show oncall"))
    assert shown.splitlines()[1:] == [
        "27831234567",
        "27215551234 — :no_entry_sign: skipped when sent to: a landline in South Africa, which cannot receive SMS",
    ]
