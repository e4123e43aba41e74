"""/sms through signed requests to the real WSGI app, with the simulator and a fake Slack."""

import json
import time
import urllib.parse

from bot.slack.render import CANCEL_ACTION, CONFIRM_ACTION
from bot.testing.slack_requests import command_body, sign
from tests.conftest import GATEWAY_PASSWORD, SIGNING_SECRET, inserts_refused, said, wait_for


def test_send_is_queued_before_the_ack_and_reported_in_the_channel(slack_driver, bot, fake_slack, simulator):
    text = said(slack_driver.command("send 27831234567 Generator running"))
    assert "Queued 1 SMS to 27831234567" in text and "1 part" in text and "1 credit" in text
    assert bot.queue.depth() == 1  # committed before Slack got the ack
    slack_driver.pump()
    assert [m.to for m in simulator.messages] == ["27831234567"]
    post = fake_slack.calls_to("chat.postMessage")[0].params
    assert post["channel"] == "C0GENERAL"
    status = fake_slack.messages["C0GENERAL"][0]
    shown = json.dumps(status["blocks"])
    assert "U0USER" in shown and "Generator running" in shown
    assert f"#{simulator.messages[0].id}" in shown and "sent" in shown  # updated in place
    batch = bot.posts.batch(1)
    assert (batch["status_channel"], batch["status_ts"]) == ("C0GENERAL", status["ts"])


def test_several_recipients_each_get_their_own_sms_and_duplicates_fold(slack_driver, bot, simulator):
    text = said(slack_driver.command("send 27831234567,+27821234567,27831234567 Drill at 3pm"))
    assert "Queued 2 SMS to 2 recipients" in text and "2 credits" in text
    slack_driver.pump()
    assert sorted(m.to for m in simulator.messages) == ["27821234567", "27831234567"]
    assert len({m.id for m in simulator.messages}) == 2


def test_slack_escaping_is_undone_so_the_text_arrives_as_typed(slack_driver, simulator):
    said(slack_driver.command("send 27831234567 Tom &amp; Jerry &lt;3 50% #1 +more\nline two"))
    slack_driver.pump()
    assert simulator.messages[0].text == "Tom & Jerry <3 50% #1 +more\nline two"


def test_a_bad_recipient_refuses_the_whole_send_and_names_it(slack_driver, bot, simulator):
    text = said(slack_driver.command("send 27831234567,12ab Hello"))
    assert "12ab" in text
    assert bot.queue.depth() == 0 and simulator.messages == []


def test_a_local_number_without_a_default_region_says_what_to_do(slack_driver, bot):
    text = said(slack_driver.command("send 0831234567 Hello"))
    assert "SMS_DEFAULT_REGION" in text and "country code" in text
    assert bot.queue.depth() == 0


def test_a_too_long_message_names_encoding_parts_and_how_much_to_cut(slack_driver, bot):
    text = said(slack_driver.command("send 27831234567 " + "x" * 613))
    assert "GSM-7" in text and "5" in text and "Cut 1" in text
    assert bot.queue.depth() == 0


def test_a_missing_message_explains_the_syntax(slack_driver, bot):
    assert "/sms send 27831234567" in said(slack_driver.command("send 27831234567"))
    assert bot.queue.depth() == 0


def test_unknown_subcommand_and_help_show_the_help(slack_driver):
    assert "I don't know `/sms frobnicate`" in said(slack_driver.command("frobnicate now"))
    for text in ("help", ""):
        assert "/sms balance" in said(slack_driver.command(text))


def test_balance_acks_at_once_and_answers_through_respond(slack_driver, fake_slack, simulator):
    simulator.latency = 1.0  # a slow gateway must not hold the ack
    started = time.monotonic()
    text = said(slack_driver.command("balance"))
    assert time.monotonic() - started < 0.9 and "Asking SMS Office" in text
    assert wait_for(lambda: len(fake_slack.responses) == 1)
    key, body = fake_slack.responses[0]
    assert "1,000.00" in body["text"]


def test_balance_with_refused_credentials_names_the_settings_and_hides_the_password(
    slack_driver, fake_slack, simulator
):
    simulator.password = "something-else"
    said(slack_driver.command("balance"))
    assert wait_for(lambda: len(fake_slack.responses) == 1)
    shown = fake_slack.responses[0][1]["text"]
    assert "Login Failed" in shown and "SMSOFFICE_PASSWORD" in shown
    assert GATEWAY_PASSWORD not in shown and urllib.parse.quote_plus(GATEWAY_PASSWORD) not in shown


def test_send_acks_without_touching_the_gateway(slack_driver, bot, simulator):
    simulator.hold()  # a gateway that never answers must not delay the ack
    try:
        started = time.monotonic()
        said(slack_driver.command("send 27831234567 Hello"))
        assert time.monotonic() - started < 2.5
    finally:
        simulator.release()


def test_forged_and_replayed_requests_get_401_and_do_nothing(slack_driver, bot):
    body = command_body("send 27831234567 Hello", response_url="http://127.0.0.1:9/r")
    forged = sign("not-the-secret", body)
    assert slack_driver.post(body, forged).status_code == 401
    replayed = sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 600)
    assert slack_driver.post(body, replayed).status_code == 401
    assert slack_driver.post(body, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
    assert bot.queue.depth() == 0


def test_junk_bodies_never_produce_a_5xx(slack_driver):
    for body in (
        b"",
        b"\xff\xfe\x00junk",
        b"payload=%7Bnot-json",
        b"payload=" + b"x" * 5000,
        b'{"type": "event_callback"}',
        b"command=/sms&text=%ZZ",
    ):
        assert slack_driver.post(body).status_code < 500
        assert slack_driver.post(body, {"Content-Type": "text/plain"}).status_code < 500


def test_status_by_tracking_number(slack_driver, simulator):
    said(slack_driver.command("send 27831234567 Generator running"))
    slack_driver.pump()
    tracking = simulator.messages[0].id
    text = said(slack_driver.command(f"status {tracking}"))
    assert "27831234567" in text and "Generator running" in text and "sent" in text
    assert "No SMS with tracking number 999" in said(slack_driver.command("status 999"))


def test_a_send_that_cannot_be_stored_says_so_and_queues_nothing(slack_driver, bot, simulator):
    with inserts_refused(bot.db, "messages", "database or disk is full"):
        text = said(slack_driver.command("send 27831234567 Hello"))
    assert "couldn't store your send" in text and "nothing was queued" in text
    assert bot.queue.recent_batches(5) == []  # the batch row was rolled back with it


# -- who asked, history, balance ------------------------------------------------------------------
def test_every_send_records_who_asked(slack_driver, bot):
    slack_driver.command("send 27831234567 Hello", user_id="U0CAROL", user_name="carol")
    assert (bot.queue.batch(1)["user_id"], bot.queue.batch(1)["user_name"]) == ("U0CAROL", "carol")


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


def test_balance_command_shows_usage_forecast_and_threshold(alerting, simulator, fake_slack):
    alerting.command("send 27831234567,27821234567 Two credits")
    alerting.pump()
    alerting.command("balance")
    assert wait_for(lambda: len(fake_slack.responses) == 1)
    text = fake_slack.responses[0][1]["text"]
    assert "998.00" in text
    assert "Used today: 2.00" in text and "last 7 days: 2.00" in text
    assert "days left at this rate (2.00 credits a day)" in text
    assert "Alert threshold: 100.00" in text


# -- costly sends: a preview instead of a queue -----------------------------------------------------
def test_a_costly_send_shows_a_preview_and_queues_nothing(costly):
    d, body, pending_id = costly
    shown = json.dumps(body["blocks"])
    assert "3 recipients" in shown and "Credits:* 3" in shown and "GSM-7" in shown and "Balance after" in shown
    assert [e["action_id"] for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        CONFIRM_ACTION,
        CANCEL_ACTION,
    ]
    assert d.bot.queue.depth() == 0


def test_the_preview_expands_the_groups_so_a_typo_can_be_caught(driver_with):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="1")
    d.command("group add oncall 27831234567,27821234567")
    body = d.command("send oncall,27841234567 Generator running").json()
    shown = json.dumps(body["blocks"], ensure_ascii=False)
    assert "3 recipients" in shown and "`oncall` (2 numbers): 27831234567, 27821234567" in shown


# -- who sees what (README "Who sees what") ---------------------------------------------------------
ANN_IN_ONE = {"user_id": "U0ANN", "user_name": "ann", "channel_id": "C0ONE", "channel_name": "one"}


def ask_as(user_id: str, channel_id: str) -> dict:
    return {"user_id": user_id, "user_name": user_id[2:].lower(), "channel_id": channel_id, "channel_name": "x"}


def test_history_and_status_show_others_sends_only_in_their_channel_and_to_admins(driver_with, fake_slack, simulator):
    fake_slack.add_channel("C0ONE", "one")
    fake_slack.add_channel("C0TWO", "two")
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    said(d.command("send 27831234567 Payroll code 4471", **ANN_IN_ONE))
    d.pump()
    tracking = simulator.messages[0].id
    unknown = str(int(tracking) + 1000)

    def history(user_id, channel_id):
        return said(d.command("history", **ask_as(user_id, channel_id)))

    def status(number, user_id, channel_id):
        return d.command(f"status {number}", **ask_as(user_id, channel_id)).json()

    for where in ("C0TWO", "D0BOB"):  # bob elsewhere: as if ann's send did not exist
        assert "27831234567" not in history("U0BOB", where) and "U0ANN" not in history("U0BOB", where)
        assert history("U0BOB", where).startswith("No sends to show.")
        hidden = json.dumps(status(tracking, "U0BOB", where))
        assert hidden == json.dumps(status(unknown, "U0BOB", where)).replace(unknown, tracking)
        assert "Payroll" not in hidden and "27831234567" not in hidden
    for user_id, channel_id in (("U0BOB", "C0ONE"), ("U0ANN", "C0TWO"), ("U0BOSS", "C0TWO")):
        # in the channel it was requested in, to its requester anywhere, to an admin anywhere
        assert "<@U0ANN> → `27831234567`" in history(user_id, channel_id)
        assert "Payroll code 4471" in json.dumps(status(tracking, user_id, channel_id))
