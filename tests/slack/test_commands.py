"""/sms through signed requests to the real WSGI app, with the simulator and a fake Slack."""
import json
import time
import urllib.parse

from tests.conftest import GATEWAY_PASSWORD, SIGNING_SECRET, wait_for
from bot.testing.fake_slack import command_body, sign


def ack_text(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["text"]


def test_send_is_queued_before_the_ack_and_reported_in_the_channel(slack_driver, bot, fake_slack, simulator):
    text = ack_text(slack_driver.command("send 27831234567 Generator running"))
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
    text = ack_text(slack_driver.command("send 27831234567,+27821234567,27831234567 Drill at 3pm"))
    assert "Queued 2 SMS to 2 recipients" in text and "2 credits" in text
    slack_driver.pump()
    assert sorted(m.to for m in simulator.messages) == ["27821234567", "27831234567"]
    assert len({m.id for m in simulator.messages}) == 2


def test_slack_escaping_is_undone_so_the_text_arrives_as_typed(slack_driver, simulator):
    ack_text(slack_driver.command("send 27831234567 Tom &amp; Jerry &lt;3 50% #1 +more\nline two"))
    slack_driver.pump()
    assert simulator.messages[0].text == "Tom & Jerry <3 50% #1 +more\nline two"


def test_a_bad_recipient_refuses_the_whole_send_and_names_it(slack_driver, bot, simulator):
    text = ack_text(slack_driver.command("send 27831234567,12ab Hello"))
    assert "12ab" in text
    assert bot.queue.depth() == 0 and simulator.messages == []


def test_a_local_number_without_a_default_region_says_what_to_do(slack_driver, bot):
    text = ack_text(slack_driver.command("send 0831234567 Hello"))
    assert "SMS_DEFAULT_REGION" in text and "country code" in text
    assert bot.queue.depth() == 0


def test_a_too_long_message_names_encoding_parts_and_how_much_to_cut(slack_driver, bot):
    text = ack_text(slack_driver.command("send 27831234567 " + "x" * 613))
    assert "GSM-7" in text and "5" in text and "Cut 1" in text
    assert bot.queue.depth() == 0


def test_a_missing_message_explains_the_syntax(slack_driver, bot):
    assert "/sms send 27831234567" in ack_text(slack_driver.command("send 27831234567"))
    assert bot.queue.depth() == 0


def test_unknown_subcommand_and_help_show_the_help(slack_driver):
    assert "I don't know `/sms frobnicate`" in ack_text(slack_driver.command("frobnicate now"))
    for text in ("help", ""):
        assert "/sms balance" in ack_text(slack_driver.command(text))


def test_balance_acks_at_once_and_answers_through_respond(slack_driver, fake_slack, simulator):
    simulator.latency = 1.0  # a slow gateway must not hold the ack
    started = time.monotonic()
    text = ack_text(slack_driver.command("balance"))
    assert time.monotonic() - started < 0.9 and "Asking SMS Office" in text
    assert wait_for(lambda: len(fake_slack.responses) == 1)
    key, body = fake_slack.responses[0]
    assert "1,000.00" in body["text"]


def test_balance_with_refused_credentials_names_the_settings_and_hides_the_password(
        slack_driver, fake_slack, simulator):
    simulator.password = "something-else"
    ack_text(slack_driver.command("balance"))
    assert wait_for(lambda: len(fake_slack.responses) == 1)
    shown = fake_slack.responses[0][1]["text"]
    assert "Login Failed" in shown and "SMSOFFICE_PASSWORD" in shown
    assert GATEWAY_PASSWORD not in shown and urllib.parse.quote_plus(GATEWAY_PASSWORD) not in shown


def test_send_acks_without_touching_the_gateway(slack_driver, bot, simulator):
    simulator.hold()  # a gateway that never answers must not delay the ack
    try:
        started = time.monotonic()
        ack_text(slack_driver.command("send 27831234567 Hello"))
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
    for body in (b"", b"\xff\xfe\x00junk", b"payload=%7Bnot-json", b"payload=" + b"x" * 5000,
                 b'{"type": "event_callback"}', b"command=/sms&text=%ZZ"):
        assert slack_driver.post(body).status_code < 500
        assert slack_driver.post(body, {"Content-Type": "text/plain"}).status_code < 500


def test_status_by_tracking_number(slack_driver, simulator):
    ack_text(slack_driver.command("send 27831234567 Generator running"))
    slack_driver.pump()
    tracking = simulator.messages[0].id
    text = ack_text(slack_driver.command(f"status {tracking}"))
    assert "27831234567" in text and "Generator running" in text and "sent" in text
    assert "No SMS with tracking number 999" in ack_text(slack_driver.command("status 999"))


def test_a_send_that_cannot_be_stored_says_so_and_queues_nothing(slack_driver, bot, simulator):
    bot.db.conn.execute("CREATE TRIGGER full BEFORE INSERT ON messages "
                        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    text = ack_text(slack_driver.command("send 27831234567 Hello"))
    assert "couldn't store your send" in text and "nothing was queued" in text
    assert bot.queue.recent_batches(5) == []  # the batch row was rolled back with it
