"""Metrics an operator alerts on: ages of waiting work, thread liveness, the balance from any read."""

import requests

from bot.runtime import Bot
from bot.web.routes import CALLBACK_PREFIX
from tests.conftest import Clock, Driver
from tests.web.test_routes import metric


def _scrape(bot) -> str:
    return requests.get(bot.server.url + "/metrics", timeout=5).text


def test_ages_of_the_oldest_queued_sms_and_slack_job(settings, fake_slack):
    clock = Clock(10_000.0)
    bot = Bot(settings, clock=clock)
    bot.server.start()
    try:
        text = _scrape(bot)
        assert metric(text, "smsbot_queue_oldest_age_seconds") == 0  # nothing waits
        assert metric(text, "smsbot_outbox_oldest_age_seconds") == 0
        Driver(bot, fake_slack).command("send 27831234567 Hello")  # queued; its status post waits too
        clock.t += 120
        text = _scrape(bot)
        assert metric(text, "smsbot_queue_oldest_age_seconds") == 120
        assert metric(text, "smsbot_outbox_oldest_age_seconds") == 120
        Driver(bot, fake_slack).pump()  # sent, and Slack told
        text = _scrape(bot)
        assert metric(text, "smsbot_queue_oldest_age_seconds") == 0
        assert metric(text, "smsbot_outbox_oldest_age_seconds") == 0
        assert metric(text, "smsbot_reports_oldest_age_seconds") == 0
        url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
        assert requests.get(url, params={"messageid": "404404", "StatusID": "200"}, timeout=5).status_code == 200
        clock.t += 30  # taken in, and not applied yet (the applier's thread is not running here)
        assert metric(_scrape(bot), "smsbot_reports_oldest_age_seconds") == 30
        Driver(bot, fake_slack).pump()
        assert metric(_scrape(bot), "smsbot_reports_oldest_age_seconds") == 0
    finally:
        bot.stop()


def test_thread_liveness(bot):
    text = _scrape(bot)
    assert metric(text, 'smsbot_thread_up{thread="http"}') == 1
    assert metric(text, 'smsbot_thread_up{thread="sender"}') == 0  # not started in this fixture
    bot.sender.start()
    try:
        assert metric(_scrape(bot), 'smsbot_thread_up{thread="sender"}') == 1
    finally:
        bot.sender.stop()
    assert metric(_scrape(bot), 'smsbot_thread_up{thread="sender"}') == 0


def test_every_balance_read_updates_the_gauge(slack_driver, bot, simulator, fake_slack):
    assert metric(_scrape(bot), "smsbot_balance_credits") != metric(_scrape(bot), "smsbot_balance_credits")  # NaN
    bot.watch.check()  # the scheduled check
    assert metric(_scrape(bot), "smsbot_balance_credits") == 1000
    simulator.balance = 640
    slack_driver.command("balance", response_url=fake_slack.response_url("bal"))  # a user's /sms balance
    assert fake_slack.wait_for(lambda: fake_slack.responses, timeout=5)
    assert metric(_scrape(bot), "smsbot_balance_credits") == 640
