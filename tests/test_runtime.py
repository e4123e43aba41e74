"""The composition root (bot/runtime.py): start() runs every worker, stop() leaves no thread and no
connection behind; /healthz's fields; the callback secret survives restarts."""

import threading

from bot.config.settings import load_settings
from bot.runtime import Bot
from tests.conftest import base_env


def test_start_runs_the_workers_and_stop_leaves_no_thread(settings):
    before = set(threading.enumerate())
    bot = Bot(settings)
    try:
        bot.start()
        healthy, details = bot.health()
        assert healthy and details["threads"] == {"sender": True, "notifier": True, "scheduler": True}
        assert len(set(threading.enumerate()) - before) >= 4  # http, sender, notifier, scheduler at least
    finally:
        bot.stop()
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


def test_health_reports_the_database_queue_and_outbox(bot, slack_driver):
    slack_driver.command("send 27831234567 Generator running")  # one queued SMS, one status message to post
    healthy, details = bot.health()
    assert details["database"] is True and details["database_state"] == "ok"
    assert (details["queue_depth"], details["outbox_depth"]) == (1, 1)
    assert details["oldest_queued_age_seconds"] >= 0 and details["outbox_stalled"] is False
    assert details["alerts"] == "ok"
    assert not healthy and details["sender"] is False  # workers not started: /healthz must say so


def test_the_callback_secret_is_generated_once_and_kept_across_restarts(tmp_path, simulator, fake_slack):
    env = base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url)
    secrets = []
    for _ in range(2):
        bot = Bot(load_settings(env))
        secrets.append((bot.callback_secret, bot.callback_secret_generated))
        bot.stop()
    assert secrets[0][1] is True and secrets[1] == (secrets[0][0], False)
    assert len(secrets[0][0]) >= 32


def test_a_configured_callback_secret_is_used_as_given(tmp_path, simulator, fake_slack):
    bot = Bot(
        load_settings(
            base_env(
                tmp_path,
                SMSOFFICE_API_URL=simulator.api_url,
                SLACK_API_URL=fake_slack.api_url,
                SMSBOT_CALLBACK_SECRET="our-own-callback-secret-42",
            )
        )
    )
    try:
        assert (bot.callback_secret, bot.callback_secret_generated) == ("our-own-callback-secret-42", False)
    finally:
        bot.stop()


def test_health_reports_the_balance_check_age_and_is_503_when_it_is_far_overdue(settings):
    from tests.conftest import Clock, wait_for

    bot = Bot(settings)
    monotonic = Clock(100.0)
    bot.watch.monotonic = monotonic  # the watch's monotonic clock, injected before it starts
    try:
        bot.start()
        assert wait_for(lambda: bot.watch.last_reading is not None)
        healthy, details = bot.health()
        assert healthy and details["balance_check_age_seconds"] == 0.0
        assert details["balance_check_interval_seconds"] == settings.balance_check_seconds == 900
        assert details["balance_check_overdue"] is False
        monotonic.t += 3 * 900 + 61  # no check for three intervals and a minute
        healthy, details = bot.health()
        assert not healthy and details["balance_check_overdue"] is True
        assert details["balance_check_age_seconds"] == 2761.0 and details["scheduler"] is True
    finally:
        bot.stop()
