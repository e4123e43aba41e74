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
        assert healthy and details["threads"] == {"sender": True, "notifier": True, "reports": True, "scheduler": True}
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
        # asleep until its next check (else it would see the jump below, rightly check at once, and be on time)
        assert wait_for(lambda: bot.watch.sleeping_until == 100.0 + 900)
        monotonic.t += 3 * 900 + 61  # no check for three intervals and a minute
        healthy, details = bot.health()
        assert not healthy and details["balance_check_overdue"] is True
        assert details["balance_check_age_seconds"] == 2761.0 and details["scheduler"] is True
    finally:
        bot.stop()


def test_two_processes_on_one_database_one_leads_the_other_stands_by_and_sigterm_hands_over(settings, fake_slack):
    """Two Bots sharing the database as replicas would (exclusive=False): /healthz and /metrics say who
    leads, a standby answers /sms balance from the stored check, and stop() hands over at once."""
    import requests

    from tests.conftest import Driver, wait_for
    from tests.web.test_routes import metric

    first = Bot(settings, exclusive=False)
    second = Bot(settings, exclusive=False)
    try:
        first.start()
        assert wait_for(first.leadership.leading, timeout=5)
        assert wait_for(lambda: first.watch.last_reading is not None, timeout=5)  # its balance check, stored
        second.start()
        health = requests.get(second.server.url + "/healthz", timeout=5)
        assert health.status_code == 200, health.text
        body = health.json()
        assert (body["role"], body["leader"], body["threads"]) == ("standby", first.leadership.holder, {})
        assert 0 <= body["lease_age_seconds"] < settings.lease_seconds
        lead = requests.get(first.server.url + "/healthz", timeout=5).json()
        assert lead["role"] == "leader" and lead["threads"] == {
            "sender": True,
            "notifier": True,
            "reports": True,
            "scheduler": True,
        }
        standby_metrics = requests.get(second.server.url + "/metrics", timeout=5).text
        assert metric(standby_metrics, "smsbot_leader") == 0
        assert 'smsbot_thread_up{thread="sender"}' not in standby_metrics  # not expected on a standby
        assert metric(standby_metrics, 'smsbot_thread_up{thread="leadership"}') == 1
        assert metric(requests.get(first.server.url + "/metrics", timeout=5).text, "smsbot_leader") == 1

        Driver(second, fake_slack).command("balance", response_url=fake_slack.response_url("standby-balance"))
        assert wait_for(lambda: fake_slack.responses, timeout=5)
        answer = fake_slack.responses[0][1]["text"]
        assert "*1,000.00* credits" in answer and "as checked less than a minute ago" in answer

        first.stop()  # SIGTERM: the sender stops, then the lease is released
        assert wait_for(second.leadership.leading, timeout=5)  # within its next try (2 s), no waiting out
        assert requests.get(second.server.url + "/healthz", timeout=5).json()["role"] == "leader"
        changes = metric(requests.get(second.server.url + "/metrics", timeout=5).text, "smsbot_leader_changes_total")
        assert changes == 1
    finally:
        first.stop()
        second.stop()


def test_no_leader_for_longer_than_a_take_over_is_503_on_a_standby(settings):
    from tests.conftest import Clock

    clock = Clock(10_000.0)
    bot = Bot(settings, clock=clock, exclusive=False)  # never started: it never tries to lead
    try:
        bot.leadership.leases.acquire(bot.leadership.lease_name, "gone:1:x", 10_000.0, settings.lease_seconds)
        healthy, details = bot.health()
        assert healthy and (details["role"], details["leader"], details["no_leader_seconds"]) == (
            "standby",
            "gone:1:x",
            None,
        )
        clock.t += settings.lease_seconds + bot.takeover_seconds + 1  # its lease ran out more than a take-over ago
        healthy, details = bot.health()
        assert not healthy and details["leader"] is None and details["no_leader_seconds"] > bot.takeover_seconds
        assert "no process has led" in details["leadership_problem"]
    finally:
        bot.stop()
