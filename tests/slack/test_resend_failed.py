"""Resend for failed sends: curable failures (credits, login, unreachable) get the button; the others
say to send anew, and a Resend click on them queues nothing."""

import time

import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.slack.render import RESEND_ACTION
from bot.web.server import ServerThread
from tests.conftest import Clock, Driver, base_env, wait_for


def _failed_reply(driver, fake_slack, batch_id=1):
    batch = driver.bot.posts.batch(batch_id)
    replies = fake_slack.thread("C0GENERAL", batch["status_ts"])
    assert len(replies) == 1
    return batch, replies[0]


def _buttons(reply) -> list[dict]:
    return [e for block in reply["blocks"] if block["type"] == "actions" for e in block["elements"]]


def _click_resend(driver, batch, reply):
    [button] = _buttons(reply)
    assert button["action_id"] == RESEND_ACTION and button["text"]["text"] == "Resend to 27831234567"
    assert driver.click(RESEND_ACTION, button["value"], message_ts=batch["status_ts"]).status_code == 200
    assert wait_for(lambda: driver.bot.queue.messages_of(batch["id"])[0]["status"] == "queued")
    driver.pump()


def test_not_enough_credits_can_be_resent_after_a_top_up(slack_driver, simulator, fake_slack):
    simulator.balance = 0
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.pump()
    batch, reply = _failed_reply(slack_driver, fake_slack)
    assert "Not enough credits" in reply["text"] and "topped up, press Resend" in reply["text"]
    simulator.balance = 10
    _click_resend(slack_driver, batch, reply)
    assert [m.to for m in simulator.messages] == ["27831234567"]
    assert slack_driver.bot.queue.messages_of(1)[0]["status"] == "sent"


def test_a_refused_login_can_be_resent_once_the_credentials_are_fixed(slack_driver, simulator, fake_slack):
    right = simulator.password
    simulator.password = "changed-at-the-gateway"
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.pump()
    batch, reply = _failed_reply(slack_driver, fake_slack)
    assert "Login Failed" in reply["text"] and "SMSOFFICE_PASSWORD are fixed" in reply["text"]
    simulator.password = right
    _click_resend(slack_driver, batch, reply)
    assert slack_driver.bot.queue.messages_of(1)[0]["status"] == "sent"


def test_a_send_given_up_while_the_gateway_was_unreachable_can_be_resent(settings, simulator, fake_slack):
    clock = Clock(time.time())
    bot = Bot(settings, clock=clock)
    bot.server.start()
    try:
        driver = Driver(bot, fake_slack)
        driver.command("send 27831234567 Generator running")
        simulator.outage = 503
        clock.t += 25 * 3600  # still unreachable after SMSBOT_SEND_GIVE_UP_HOURS (24)
        driver.pump()
        batch, reply = _failed_reply(driver, fake_slack)
        assert "could not be reached for 24 hours" in reply["text"] and "press Resend" in reply["text"]
        simulator.outage = None
        _click_resend(driver, batch, reply)
        assert [m.to for m in simulator.messages] == ["27831234567"]
    finally:
        bot.stop()


@pytest.fixture
def refusing_gateway():
    """A gateway that refuses every number, as SMS Office does for one it cannot send to."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Error:Invalid [to] parameter"]

    server = ServerThread(app).start()
    yield server.url + "/sms/api/"
    server.stop()


def test_a_failure_a_resend_cannot_cure_gets_no_button_and_says_to_send_anew(tmp_path, fake_slack, refusing_gateway):
    bot = Bot(load_settings(base_env(tmp_path, SMSOFFICE_API_URL=refusing_gateway, SLACK_API_URL=fake_slack.api_url)))
    bot.server.start()
    try:
        driver = Driver(bot, fake_slack)
        driver.command("send 27831234567 Generator running")
        driver.pump()
        batch, reply = _failed_reply(driver, fake_slack)
        assert "Invalid [to] parameter" in reply["text"] and "send it anew with `/sms send`" in reply["text"]
        assert _buttons(reply) == []
        # an old or forged Resend click queues nothing and says why
        url = fake_slack.response_url("forged")
        message_id = str(bot.queue.messages_of(1)[0]["id"])
        assert (
            driver.click(RESEND_ACTION, message_id, message_ts=batch["status_ts"], response_url=url).status_code == 200
        )
        assert fake_slack.wait_for(lambda: any(key == "forged" for key, _ in fake_slack.responses))
        told = [body["text"] for key, body in fake_slack.responses if key == "forged"]
        assert "would fail again" in told[0] and "/sms send" in told[0]
        assert bot.queue.messages_of(1)[0]["status"] == "failed"
    finally:
        bot.stop()


def test_the_out_of_credits_alert_says_where_the_resend_buttons_are(tmp_path, simulator, fake_slack):
    fake_slack.add_channel("C0ALERTS", "sms-alerts")
    bot = Bot(
        load_settings(
            base_env(
                tmp_path,
                SMSOFFICE_API_URL=simulator.api_url,
                SLACK_API_URL=fake_slack.api_url,
                SMSBOT_ALERT_CHANNEL="C0ALERTS",
            )
        )
    )
    bot.server.start()
    try:
        simulator.balance = 0
        driver = Driver(bot, fake_slack)
        driver.command("send 27831234567 Generator running")
        driver.pump()
        [alert] = [m["text"] for m in fake_slack.messages["C0ALERTS"]]
        assert "not enough credits" in alert and "Resend" in alert and "thread under its status message" in alert
    finally:
        bot.stop()
