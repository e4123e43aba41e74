"""The Slack outbox: posts survive outages, honour 429, coalesce, pace, and find another way in."""
import json
from pathlib import Path

import pytest

from bot.slack import render
from bot.slack.render import RESEND_ACTION


@pytest.fixture
def sent_once(slack_driver):
    assert slack_driver.command("send 27831234567 Generator running").status_code == 200
    return slack_driver


def test_slack_down_then_back_loses_nothing(sent_once, bot, fake_slack, simulator):
    fake_slack.down = True
    bot.sender.run_once()
    now = bot.clock()
    for attempt in range(3):  # each try backs off further, the job stays
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
    assert bot.queue.batch(1)["posted_where"] == "dm"
    told = [body["text"] for _, body in fake_slack.responses]
    assert len(told) == 1 and "your DM with me" in told[0] and "/invite" not in told[0]


@pytest.mark.parametrize("channel, name, code, advice, not_said", [
    ("C0MPDM", "mpdm-alice--bob-1", "channel_not_found", "group DM", "/invite"),
    ("C0OLD", "old-ops", "is_archived", "archived", "/invite"),
    ("C0ANN", "announcements", "restricted_action", "admin", "/invite"),
    ("C0PRIV", "secret-ops", "channel_not_found", "/invite @smsbot", "group DM"),
])
def test_dm_fallback_advice_fits_the_kind_of_conversation(channel, name, code, advice, not_said):
    text = render.moved_to_dm(channel, name, code)["text"]
    assert advice in text and not_said not in text


def test_a_private_channel_gets_the_status_in_the_dm_and_the_user_is_told(slack_driver, bot, fake_slack):
    slack_driver.command("send 27831234567 Hello", channel_id="G0SECRET", channel_name="secret")
    slack_driver.pump()
    batch = bot.queue.batch(1)
    assert batch["posted_where"] == "dm" and batch["status_channel"].startswith("D")
    dm = fake_slack.messages[batch["status_channel"]][0]
    assert "G0SECRET" in json.dumps(dm["blocks"])
    told = [body["text"] for _, body in fake_slack.responses]
    assert any("DM" in t and "/invite" in t for t in told)


def test_an_unconfirmed_send_is_announced_in_its_thread_and_can_be_resent_once(
        slack_driver, bot, fake_slack, simulator):
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.bot.notifier.run_once()
    bot.queue.claim(bot.clock())  # the process "died" mid-send
    bot.sender.recover()
    slack_driver.pump()
    batch = bot.queue.batch(1)
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
    batch = bot.queue.batch(1)
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
    bot.db.conn.execute("UPDATE batches SET status_ts = '1.0', status_channel = 'C0GENERAL' WHERE id = 1")
    slack_driver.pump()
    job = bot.db.conn.execute("SELECT state, last_error FROM outbox WHERE batch_id = 1").fetchone()
    assert tuple(job) == ("failed", "JSONDecodeError")
    assert len(fake_slack.messages["C0GENERAL"]) == 1  # the second send's status message was posted
