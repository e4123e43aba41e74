"""The Slack outbox: posts survive outages, honour 429, coalesce, pace, and find another way in;
alerts reach the alert channel."""

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.slack import render
from bot.slack.notices import DIGEST_SECONDS
from bot.slack.render import RESEND_ACTION
from bot.storage.outbox import JobKind
from bot.web.routes import CALLBACK_PREFIX
from tests.conftest import Driver, base_env, wait_for


@pytest.fixture
def sent_once(slack_driver):
    assert slack_driver.command("send 27831234567 Generator running").status_code == 200
    return slack_driver


def test_slack_down_then_back_loses_nothing(sent_once, bot, fake_slack, simulator):
    fake_slack.down = True
    bot.sender.run_once()
    now = bot.clock()
    for _ in range(3):  # each try backs off further, the job stays
        now = max(now, bot.notifier.paused_until)
        assert bot.notifier.run_once(now) is True
    assert bot.notifier.paused_until - now >= 4
    assert bot.outbox.depth() >= 1 and fake_slack.messages.get("C0GENERAL", []) == []
    fake_slack.down = False
    later = bot.notifier.paused_until
    while bot.notifier.run_once(later):
        later += 1.0  # past the channel pacing
    status = fake_slack.messages["C0GENERAL"][0]
    assert "sent" in json.dumps(status["blocks"]) and bot.outbox.depth() == 0


def test_429_honours_retry_after(sent_once, bot, fake_slack):
    fake_slack.http_error("chat.postMessage", 429, retry_after=7)
    now = bot.clock()
    bot.notifier.run_once(now)
    assert bot.notifier.paused_until == pytest.approx(now + 7, abs=0.01)
    job = bot.db.conn.execute("SELECT * FROM outbox WHERE kind = 'post'").fetchone()
    assert job["state"] == "pending" and job["next_attempt_at"] == pytest.approx(now + 7, abs=0.01)
    assert bot.notifier.run_once(now + 6.9) is False
    assert bot.notifier.run_once(now + 7) is True
    assert len(fake_slack.messages["C0GENERAL"]) == 1


def test_several_changes_to_one_send_become_one_update(slack_driver, bot, fake_slack, simulator):
    slack_driver.command("send 27831234567,27821234567,27841234567 Drill")
    slack_driver.bot.notifier.run_once()  # the status message
    while bot.sender.run_once():
        pass
    bot.notifier._last_write.clear()
    slack_driver.pump()
    updates = fake_slack.calls_to("chat.update")
    assert len(updates) == 1
    assert json.dumps(updates[0].params).count("sent") >= 3


def test_posts_to_one_channel_are_paced(slack_driver, bot, fake_slack):
    slack_driver.command("send 27831234567 One")
    slack_driver.command("send 27821234567 Two")
    posts = lambda: len(fake_slack.calls_to("chat.postMessage"))  # noqa: E731
    now = bot.clock()
    bot.notifier.run_once(now)
    assert posts() == 1
    while bot.notifier.run_once(now + 0.5):  # edits may go; the second post must wait
        pass
    assert posts() == 1
    assert bot.notifier.run_once(now + 1.0) is True
    assert posts() == 2


def test_in_a_public_channel_it_is_not_in_the_bot_posts_without_joining(slack_driver, bot, fake_slack):
    fake_slack.add_channel("C0OPS", "ops", bot_member=False)  # chat:write.public covers it
    slack_driver.command("send 27831234567 Hello", channel_id="C0OPS", channel_name="ops")
    slack_driver.pump()
    assert fake_slack.calls_to("conversations.join") == []
    assert len(fake_slack.messages["C0OPS"]) == 1


def test_the_manifest_asks_for_no_join_scope():
    manifest = (Path(__file__).parents[2] / "manifest.yml").read_text()
    assert "chat:write.public" in manifest and "channels:join" not in manifest


def test_a_send_from_someone_elses_dm_gives_no_impossible_advice(slack_driver, bot, fake_slack):
    fake_slack.add_channel("D0OTHER", "directmessage", private=True, bot_member=False)
    slack_driver.command("send 27831234567 Hello", channel_id="D0OTHER", channel_name="directmessage")
    slack_driver.pump()
    assert bot.posts.batch(1)["posted_where"] == "dm"
    told = [body["text"] for _, body in fake_slack.responses]
    assert len(told) == 1 and "your DM with me" in told[0] and "/invite" not in told[0]


@pytest.mark.parametrize(
    "channel, name, code, advice, not_said",
    [
        ("C0MPDM", "mpdm-alice--bob-1", "channel_not_found", "group DM", "/invite"),
        ("C0OLD", "old-ops", "is_archived", "archived", "/invite"),
        ("C0ANN", "announcements", "restricted_action", "admin", "/invite"),
        ("C0PRIV", "secret-ops", "channel_not_found", "/invite @smsbot", "group DM"),
    ],
)
def test_dm_fallback_advice_fits_the_kind_of_conversation(channel, name, code, advice, not_said):
    text = render.moved_to_dm(channel, name, code)["text"]
    assert advice in text and not_said not in text


def test_a_private_channel_gets_the_status_in_the_dm_and_the_user_is_told(slack_driver, bot, fake_slack):
    slack_driver.command("send 27831234567 Hello", channel_id="G0SECRET", channel_name="secret")
    slack_driver.pump()
    batch = bot.posts.batch(1)
    assert batch["posted_where"] == "dm" and batch["status_channel"].startswith("D")
    dm = fake_slack.messages[batch["status_channel"]][0]
    assert "G0SECRET" in json.dumps(dm["blocks"])
    told = [body["text"] for _, body in fake_slack.responses]
    assert any("DM" in t and "/invite" in t for t in told)


def test_an_unconfirmed_send_is_announced_in_its_thread_and_can_be_resent_once(
    slack_driver, bot, fake_slack, simulator
):
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.bot.notifier.run_once()
    bot.queue.claim(bot.clock())  # the process "died" mid-send
    bot.sender.recover()
    slack_driver.pump()
    batch = bot.posts.batch(1)
    thread = fake_slack.thread("C0GENERAL", batch["status_ts"])
    assert len(thread) == 1 and "27831234567" in thread[0]["text"] and "<@U0USER>" in thread[0]["text"]
    button = thread[0]["blocks"][1]["elements"][0]
    assert button["action_id"] == RESEND_ACTION
    assert simulator.messages == []  # not blindly resent
    for _ in range(2):  # a double click resends once
        assert slack_driver.click(RESEND_ACTION, button["value"], message_ts=batch["status_ts"]).status_code == 200
    assert wait_until_queued(bot)
    slack_driver.pump()
    assert [m.to for m in simulator.messages] == ["27831234567"]
    assert bot.queue.messages_of(1)[0]["status"] == "sent"


def wait_until_queued(bot):
    from tests.conftest import wait_for

    return wait_for(lambda: bot.queue.messages_of(1)[0]["status"] == "queued")


def test_a_failed_send_tells_the_sender_in_the_thread(slack_driver, bot, fake_slack, simulator):
    simulator.balance = 0
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.pump()
    batch = bot.posts.batch(1)
    reply = fake_slack.thread("C0GENERAL", batch["status_ts"])[0]["text"]
    assert "failed" in reply and "Not enough credits" in reply and "top up" in reply.lower()


def test_a_restart_puts_interrupted_jobs_back(sent_once, bot, fake_slack):
    job = bot.outbox.due(bot.clock())[0]
    bot.outbox.start(job["id"])  # then the process died
    assert bot.outbox.due(bot.clock()) == []
    assert bot.outbox.recover() == 1
    sent_once.pump()
    assert len(fake_slack.messages["C0GENERAL"]) == 1


def test_finished_jobs_are_forgotten_after_a_week_pending_ones_never(sent_once, bot, fake_slack):
    sent_once.pump()
    done = bot.db.conn.execute("SELECT count(*) FROM outbox WHERE state = 'done'").fetchone()[0]
    assert done >= 1
    fake_slack.down = True
    sent_once.command("send 27821234567 Later")  # its post stays pending while Slack is down
    week_later = bot.clock() + 8 * 86400
    bot.notifier._last_purge = float("-inf")
    bot.notifier.run_once(week_later)
    states = [r[0] for r in bot.db.conn.execute("SELECT state FROM outbox")]
    assert "done" not in states and "pending" in states


def test_a_job_that_cannot_be_rendered_is_set_aside_and_the_rest_go_on(slack_driver, bot, fake_slack):
    slack_driver.command("send 27831234567 One")
    slack_driver.command("send 27821234567 Two")
    bot.db.conn.execute("UPDATE outbox SET payload = 'not json', kind = 'reply' WHERE batch_id = 1")
    bot.db.conn.execute("UPDATE slack_posts SET status_ts = '1.0', status_channel = 'C0GENERAL' WHERE batch_id = 1")
    slack_driver.pump()
    job = bot.db.conn.execute("SELECT state, last_error FROM outbox WHERE batch_id = 1").fetchone()
    assert tuple(job) == ("failed", "JSONDecodeError")
    assert len(fake_slack.messages["C0GENERAL"]) == 1  # the second send's status message was posted


# -- faults (issue #10, items 1-5) -----------------------------------------------------------------------
def _hold_write_lock(path):
    """Another process-like connection that takes SQLite's write lock and keeps it until released."""
    other = sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    def release():
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()

    return lambda: other.execute("BEGIN EXCLUSIVE"), release


@pytest.mark.sqlite_only("holds SQLite's write lock from another connection with a short busy_timeout")
def test_a_post_slack_accepted_but_the_database_could_not_store_is_never_posted_twice(slack_driver, bot, fake_slack):
    slack_driver.command("send 27831234567 Hello")
    take, release = _hold_write_lock(bot.settings.db_path)
    fake_slack.after("chat.postMessage", take)  # Slack answers, then the disk is busy elsewhere
    bot.db.conn.execute("PRAGMA busy_timeout = 50")
    try:
        assert bot.notifier.run_once() is True  # posted; storing its ts failed: kept, not lost
    finally:
        release()
    for step in range(1, 20):  # the database is back: it is stored, not posted again
        bot.notifier._last_write.clear()
        bot.notifier.run_once(bot.clock() + 600 * step)
    assert len(fake_slack.messages["C0GENERAL"]) == 1
    assert bot.posts.batch(1)["status_ts"] == fake_slack.messages["C0GENERAL"][0]["ts"]
    states = [r[0] for r in bot.db.conn.execute("SELECT state FROM outbox WHERE kind = 'post'")]
    assert states == ["done"]


def test_a_status_message_that_can_never_be_posted_drops_the_jobs_waiting_on_it(slack_driver, bot, fake_slack):
    fake_slack.add_channel("C0OPS", "ops", private=True, bot_member=False)
    fake_slack.fail("conversations.open", "user_disabled")  # not even the DM is possible
    slack_driver.command("send 27831234567 One", channel_id="C0OPS", channel_name="ops")
    slack_driver.pump()
    assert bot.posts.batch(1)["posted_where"] == "nowhere"
    with bot.db.transaction() as conn:  # a late change to that send: its edit is dropped, not kept forever
        bot.notices.changed(conn, 1, bot.clock())
    slack_driver.pump()
    waiting = bot.db.conn.execute("SELECT count(*) FROM outbox WHERE batch_id = 1 AND state = 'pending'").fetchone()
    assert waiting[0] == 0
    slack_driver.command("send 27821234567 Two")  # and the rest go on
    slack_driver.pump()
    assert len(fake_slack.messages["C0GENERAL"]) == 1


def test_jobs_waiting_for_their_status_message_never_take_the_due_window(slack_driver, bot, fake_slack):
    slack_driver.command("send 27831234567 One")
    bot.db.conn.execute("UPDATE outbox SET next_attempt_at = next_attempt_at + 3600 WHERE kind = 'post'")
    with bot.db.transaction() as conn:  # 150 replies for a send whose status message is not posted yet
        for _ in range(150):
            bot.outbox.add(conn, JobKind.REPLY, bot.clock(), batch_id=1, payload={"event": "resent"})
    slack_driver.command("send 27821234567 Two", channel_id="C0OPS2", channel_name="ops2")
    fake_slack.add_channel("C0OPS2", "ops2")
    assert bot.notifier.run_once() is True
    assert len(fake_slack.messages["C0OPS2"]) == 1


@pytest.mark.parametrize("status", [200, 404])
def test_an_html_page_in_front_of_slack_is_retried_not_final(slack_driver, bot, fake_slack, status):
    fake_slack.html_page("chat.postMessage", status=status)
    slack_driver.command("send 27831234567 Hello")
    bot.notifier.run_once()
    assert fake_slack.messages.get("C0GENERAL", []) == []
    assert bot.db.conn.execute("SELECT state FROM outbox WHERE kind = 'post'").fetchone()[0] == "pending"
    bot.notifier.run_once(bot.clock() + 60)
    assert len(fake_slack.messages["C0GENERAL"]) == 1


@pytest.mark.parametrize("refusal", ["restricted_action_read_only_channel", "restricted_action_thread_only_channel"])
def test_a_read_only_or_thread_only_channel_gets_the_status_in_the_dm(slack_driver, bot, fake_slack, refusal):
    fake_slack.fail("chat.postMessage", refusal)
    slack_driver.command("send 27831234567 Hello")
    slack_driver.pump()
    batch = bot.posts.batch(1)
    assert batch["posted_where"] == "dm" and batch["status_channel"].startswith("D")


def test_a_thousand_failures_in_one_channel_never_hold_up_another_channels_status(driver_with, fake_slack):
    driver = driver_with(SMSBOT_CONFIRM_ABOVE="5000")
    bot = driver.bot
    fake_slack.add_channel("C0OPS", "ops")
    # 1,000 on SQLite; 200 on PostgreSQL, where each SMS and report is a round-trip-bound transaction (1,000
    # took 54 s of CI's time). Either way, one reply each at Slack's pace would hold the channel for minutes.
    n = 1000 if bot.db.dialect == "sqlite" else 200
    numbers = [f"27831{i:06d}" for i in range(n)]
    driver.command("send " + ",".join(numbers) + " Drill at 3pm")
    driver.pump(rounds=3000)
    url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
    with requests.Session() as http:  # every SMS fails on the network: 1,000 bad news at once
        for row in bot.queue.messages_of(1):
            http.get(
                url, params={"messageid": row["tracking_id"], "to": row["recipient"], "StatusID": "300"}, timeout=5
            )
    while bot.applier.run_once():  # the leader applies what the callback took in
        pass
    bot.notifier.start()
    try:
        driver.command("send 27821234567 Other team's news", channel_id="C0OPS", channel_name="ops")
        assert wait_for(lambda: len(fake_slack.messages.get("C0OPS", [])) == 1, timeout=5)
        first = fake_slack.messages["C0GENERAL"][0]
        assert wait_for(lambda: f"{n} failed" in fake_slack.message("C0GENERAL", first["ts"])["text"], timeout=5)
    finally:
        bot.notifier.stop()
    replies = fake_slack.thread("C0GENERAL", first["ts"])
    assert len(replies) <= 2  # grouped into digests, not one reply per SMS
    bot.notifier.run_once(bot.clock() + DIGEST_SECONDS)
    told = fake_slack.thread("C0GENERAL", first["ts"])
    assert f"{n} more failed" in told[0]["text"] and f"… and {n - 7} more" in told[0]["text"]


# -- alerts in the alert channel --------------------------------------------------------------------
def alerts(fake_slack):
    return [m["text"] for m in fake_slack.messages.get("C0ALERTS", [])]


def test_a_low_balance_is_announced_once_with_threshold_and_forecast(alerting, simulator, fake_slack):
    bot = alerting.bot
    simulator.balance = Decimal("240")
    bot.watch.check()
    simulator.balance = Decimal("40")  # 200 credits spent today
    for _ in range(3):
        bot.watch.check()
    alerting.pump()
    [text] = alerts(fake_slack)
    assert "40.00 left" in text and "threshold of 100.00" in text
    assert "Less than a day left at this rate (200.00 credits a day)" in text
    simulator.balance = Decimal("500")
    bot.watch.check()
    alerting.pump()
    assert "topped up" in alerts(fake_slack)[-1] and len(alerts(fake_slack)) == 2


def test_not_enough_credits_on_a_send_alerts_once_per_episode(alerting, simulator, fake_slack):
    simulator.balance = Decimal("0")
    alerting.command("send 27831234567 One")
    alerting.command("send 27821234567 Two")
    alerting.pump()
    out = [t for t in alerts(fake_slack) if "not enough credits" in t]
    assert len(out) == 1
    batch = alerting.bot.posts.batch(1)
    reply = fake_slack.thread("C0GENERAL", batch["status_ts"])[0]["text"]
    assert "Not enough credits" in reply  # the sender hears it too


def test_refused_credentials_alert_names_the_settings(alerting, simulator, fake_slack):
    simulator.password = "changed-by-someone"
    alerting.bot.watch.check()
    alerting.pump()
    [text] = alerts(fake_slack)
    assert "SMSOFFICE_USERNAME and SMSOFFICE_PASSWORD" in text and "changed-by-someone" not in text
    assert json.dumps(fake_slack.messages["C0ALERTS"][0]["blocks"]).count("SMSOFFICE_PASSWORD") == 1


def _alerting_bot(tmp_path, simulator, fake_slack, **env):
    settings = load_settings(
        base_env(
            tmp_path,
            SMSOFFICE_API_URL=simulator.api_url,
            SLACK_API_URL=fake_slack.api_url,
            SMSBOT_ALERT_CHANNEL="G0PRIVATE",
            SMSBOT_LOW_BALANCE="100",
            **env,
        )
    )
    return Bot(settings)


def test_an_alert_the_channel_refuses_goes_to_the_admins_and_health_says_alerts_cannot_be_delivered(
    tmp_path, simulator, fake_slack
):
    fake_slack.add_channel("G0PRIVATE", "finance", private=True, bot_member=False)
    bot = _alerting_bot(tmp_path, simulator, fake_slack, SMSBOT_ADMIN_USERS="U0ADMIN,U0BOSS")
    bot.server.start()
    try:
        simulator.balance = Decimal("40")
        bot.watch.check()
        Driver(bot, fake_slack).pump()
        for admin in ("D0ADMIN", "D0BOSS"):
            [dm] = fake_slack.messages[admin]
            assert "SMS credits are low" in dm["text"] and "refused it: not_in_channel" in json.dumps(dm["blocks"])
        health = requests.get(bot.server.url + "/healthz", timeout=5).json()
        assert "G0PRIVATE refused the alert: not_in_channel" in health["alerts"]
        metrics = requests.get(bot.server.url + "/metrics", timeout=5).text
        assert "smsbot_alerts_undeliverable 1.0" in metrics
    finally:
        bot.stop()


def test_an_alert_that_reaches_nobody_is_not_counted_as_raised_and_comes_again(tmp_path, simulator, fake_slack):
    fake_slack.add_channel("G0PRIVATE", "finance", private=True, bot_member=False)
    bot = _alerting_bot(tmp_path, simulator, fake_slack)  # no admins to fall back on
    try:
        simulator.balance = Decimal("40")
        bot.watch.check()
        Driver(bot, fake_slack).pump()
        assert fake_slack.messages.get("G0PRIVATE", []) == []
        fake_slack.add_channel("G0PRIVATE", "finance", private=True, bot_member=True)  # someone invites the bot
        bot.watch.check()  # still low: the lost alert is raised again, not taken as already said
        Driver(bot, fake_slack).pump()
        [alert] = fake_slack.messages["G0PRIVATE"]
        assert "SMS credits are low" in alert["text"]
    finally:
        bot.stop()


# -- a post whose answer is lost ------------------------------------------------------------------
def drive_post(bot, until, tries=4):
    """Run the notifier's post job, one try after another past each backoff, until ``until()``."""
    now = bot.clock()
    for _ in range(tries):
        if until():
            return
        now = max(now + 1.0, bot.notifier.paused_until)
        bot.notifier.run_once(now)


def test_a_post_made_whose_answer_was_lost_is_found_in_the_history_and_not_posted_again(sent_once, bot, fake_slack):
    bot.slack.timeout = 0.5  # the client's wait for an answer (10 s when running)
    fake_slack.hang("chat.postMessage", 2.0)  # Slack posts it; its answer never reaches the bot
    bot.notifier.run_once()
    assert len(fake_slack.messages["C0GENERAL"]) == 1  # posted, but the bot could not know
    drive_post(bot, lambda: bot.posts.batch(1)["status_ts"] is not None)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1 and len(fake_slack.messages["C0GENERAL"]) == 1
    history = fake_slack.calls_to("conversations.history")
    assert len(history) == 1 and history[0].params["channel"] == "C0GENERAL"
    status = fake_slack.messages["C0GENERAL"][0]
    assert bot.posts.batch(1)["status_ts"] == status["ts"]
    assert status["metadata"]["event_type"] == "smsbot_status"


def test_without_the_history_scopes_a_lost_post_appears_at_most_twice(sent_once, bot, fake_slack, caplog):
    bot.slack.timeout = 0.5
    fake_slack.history_scopes = False  # an app installed without channels:history
    fake_slack.hang("chat.postMessage", 2.0, times=5)  # every answer is lost
    bot.notifier.run_once()
    drive_post(
        bot,
        lambda: bot.db.conn.execute("SELECT state FROM outbox WHERE kind = 'post'").fetchone()[0] == "failed",
        tries=6,
    )
    assert len(fake_slack.messages["C0GENERAL"]) == 2
    job = bot.db.conn.execute("SELECT state, last_error FROM outbox WHERE kind = 'post'").fetchone()
    assert job["state"] == "failed" and "lost 2 times" in job["last_error"] and "missing_scope" in job["last_error"]
    assert "event=status_post_lookup_failed" in caplog.text and "event=status_message_lost" in caplog.text
