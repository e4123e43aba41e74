"""The HTTP listener's own routes: health and metrics."""

import contextlib

import requests

from bot.web.routes import CALLBACK_PREFIX
from tests.conftest import Driver, wait_for


def metric(text: str, series: str) -> float:
    """The value of one series (name plus labels, as exposed) in Prometheus text."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == series:
            return float(value)
    raise AssertionError(f"{series} not in metrics")


@contextlib.contextmanager
def threads_running(bot):
    """The bot's background threads, as `smsbot run` starts them."""
    bot.sender.start()
    bot.notifier.start()
    bot.applier.start()
    if bot.settles_behind:  # PostgreSQL's
        bot.settler.start()
    bot.watch.start()
    try:
        yield
    finally:
        bot.watch.stop()
        bot.settler.stop()
        bot.applier.stop()
        bot.notifier.stop()
        bot.sender.stop()


def test_healthz_reports_queue_depth_and_the_age_of_the_oldest_sms(slack_driver, bot):
    body = requests.get(bot.server.url + "/healthz", timeout=5)
    # the threads are not running in this fixture: unhealthy, and it says which
    assert body.status_code == 503 and body.json()["database"] is True
    stopped = {"sender": False, "notifier": False, "reports": False, "scheduler": False}
    if bot.settles_behind:  # PostgreSQL's settler of sent SMS
        stopped["settler"] = False
    assert body.json()["threads"] == stopped
    with threads_running(bot):
        bot.sender.paused_until = bot.clock() + 60  # hold the queue so there is something to see
        slack_driver.command("send 27831234567,27821234567 Hello")
        health = requests.get(bot.server.url + "/healthz", timeout=5)
        assert health.status_code == 200
        data = health.json()
        assert data["status"] == "ok" and data["queue_depth"] == 2
        assert 0 <= data["oldest_queued_age_seconds"] < 5
        assert (data["database_state"], data["database_problem"], data["database_busy_seconds"]) == ("ok", None, None)


def test_healthz_is_503_naming_a_thread_that_died(bot):
    with threads_running(bot):
        assert requests.get(bot.server.url + "/healthz", timeout=5).status_code == 200
        bot.notifier.stop()  # as if it had crashed
        health = requests.get(bot.server.url + "/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["threads"]["notifier"] is False


def test_healthz_is_503_when_the_outbox_stalls_while_slack_answers_but_not_in_a_slack_outage(driver_with, fake_slack):
    bot = driver_with(SMSBOT_OUTBOX_STALL_SECONDS="600").bot
    with threads_running(bot):
        bot.notifier.paused_until = float("inf")  # the notifier is alive but nothing moves
        Driver(bot, fake_slack).command("send 27831234567 Hello")
        ten_minutes_ago = bot.clock() - 601
        bot.db.conn.execute("UPDATE outbox SET created_at = ?", (ten_minutes_ago,))
        bot.notifier.last_progress = ten_minutes_ago
        health = requests.get(bot.server.url + "/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json()["outbox_stalled"] is True and health.json()["oldest_outbox_age_seconds"] >= 601
        bot.notifier.slack_answering = False  # what the notifier records when Slack cannot be reached
        assert requests.get(bot.server.url + "/healthz", timeout=5).status_code == 200


def test_healthz_shows_reports_waiting_and_is_503_once_one_has_waited_too_long(driver_with):
    bot = driver_with(SMSBOT_OUTBOX_STALL_SECONDS="600").bot
    bot.applier.idle_poll = 3600.0  # alive, but it looks again only when woken
    looked = []
    first_look = bot.applier.run_once
    bot.applier.run_once = lambda now=None: (first_look(now), looked.append(now))[0]  # noted once it is over
    with threads_running(bot):
        assert wait_for(lambda: looked)  # its first look is over: from now on only a wake-up makes it look
        assert requests.get(bot.server.url + "/healthz", timeout=5).status_code == 200
        # a report taken in ten minutes ago that nothing woke the applier for (say, taken in while no process led)
        bot.db.conn.execute(
            "INSERT INTO reports (received_at, tracking_id, recipient, sender, status_id, status_message, raw, "
            "outcome) VALUES (?, '77', '', '', 200, '', '{}', 'pending')",
            (bot.clock() - 601,),
        )
        health = requests.get(bot.server.url + "/healthz", timeout=5)
        assert health.status_code == 503 and all(health.json()["threads"].values())
        assert health.json()["reports_waiting"] == 1 and health.json()["reports_stalled"] is True
        assert health.json()["oldest_report_waiting_seconds"] >= 601
        bot.applier.wake()
        assert wait_for(lambda: requests.get(bot.server.url + "/healthz", timeout=5).status_code == 200)
        health = requests.get(bot.server.url + "/healthz", timeout=5).json()
        assert (health["reports_waiting"], health["reports_stalled"]) == (0, False)


def test_healthz_is_503_once_the_database_is_closed(bot):
    with threads_running(bot):
        bot.db.close()  # as at shutdown: no thread opens a new connection
        response = requests.get(bot.server.url + "/healthz", timeout=5)
        assert response.status_code == 503 and response.json()["database"] is False
        assert response.json()["database_state"] == "closed"


def test_metrics_count_what_happened(slack_driver, bot, simulator):
    slack_driver.command("send 27831234567,27821234567 " + "x" * 200)  # 2 parts each
    simulator.balance = 3  # the second SMS cannot be paid for
    slack_driver.pump()
    url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
    tracking = simulator.messages[0].id
    requests.get(url, params={"messageid": tracking, "StatusID": "200"}, timeout=5)
    requests.get(url, params={"messageid": "1", "StatusID": "999"}, timeout=5)
    bot.applier.run_once()  # the leader's applier (its thread is not running in this fixture)
    bot.watch.check()
    text = requests.get(bot.server.url + "/metrics", timeout=5).text
    assert metric(text, 'smsbot_sms_total{result="sent"}') == 1
    assert metric(text, 'smsbot_sms_total{result="failed"}') == 1
    assert metric(text, "smsbot_sms_parts_sent_total") == 2
    assert metric(text, 'smsbot_delivery_reports_total{status="200"}') == 1
    assert metric(text, 'smsbot_delivery_reports_total{status="other"}') == 1
    assert metric(text, 'smsbot_slack_writes_total{kind="post",result="ok"}') == 1
    assert metric(text, "smsbot_queue_depth") == 0
    assert metric(text, "smsbot_balance_credits") == 1  # 3 - 2 parts
    assert 0 <= metric(text, "smsbot_gateway_seconds_since_success") < 5
    assert metric(text, "smsbot_slack_ack_seconds_count") >= 1
    assert metric(text, 'smsbot_gateway_request_seconds_count{op="send",outcome="ok"}') == 1
    assert metric(text, "smsbot_outbox_depth") == 2  # the delivered report's reply and status edit
