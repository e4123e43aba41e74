"""Buttons: Send/Cancel on a costly send's preview, and Resend on an unconfirmed SMS."""

from bot.slack.render import CANCEL_ACTION, CONFIRM_ACTION, RESEND_ACTION
from tests.conftest import wait_for

NUMBERS = ["27831234567", "27821234567", "27841234567"]


# -- Send / Cancel --------------------------------------------------------------------------------
def test_send_queues_once_even_on_a_double_click(costly, simulator, fake_slack):
    d, _, pending_id = costly
    for _ in range(2):
        assert d.click(CONFIRM_ACTION, pending_id).status_code == 200
    assert wait_for(lambda: d.bot.queue.depth() == 3)
    d.pump()
    assert sorted(m.to for m in simulator.messages) == sorted(NUMBERS)
    assert len(d.bot.queue.recent_batches(10)) == 1
    assert wait_for(lambda: any("Queued" in body.get("text", "") for _, body in fake_slack.responses))


def test_only_the_requesters_click_counts(costly, fake_slack):
    d, _, pending_id = costly
    d.click(CONFIRM_ACTION, pending_id, user_id="U0MALLORY")
    assert wait_for(lambda: any("Only <@U0USER>" in b.get("text", "") for _, b in fake_slack.responses))
    assert d.bot.queue.depth() == 0


def test_cancel_queues_nothing_and_a_later_send_click_does_nothing(costly, fake_slack):
    d, _, pending_id = costly
    d.click(CANCEL_ACTION, pending_id)
    assert wait_for(lambda: any("Cancelled" in b.get("text", "") for _, b in fake_slack.responses))
    d.click(CONFIRM_ACTION, pending_id)
    assert d.bot.queue.depth() == 0


def test_the_preview_expires_after_ten_minutes(costly, fake_slack):
    d, _, pending_id = costly
    d.bot.db.conn.execute("UPDATE pending_sends SET created_at = created_at - 601, expires_at = expires_at - 601")
    d.click(CONFIRM_ACTION, pending_id)
    assert wait_for(lambda: any("expired" in b.get("text", "") for _, b in fake_slack.responses))
    assert d.bot.queue.depth() == 0


# -- Resend -------------------------------------------------------------------------------------------
def unconfirmed(d) -> int:
    """A send whose process "died" mid-send: its SMS is unconfirmed, waiting for a person's decision."""
    d.command("send 27831234567 Generator running")
    d.bot.notifier.run_once()
    row = d.bot.queue.claim(d.bot.clock())
    d.bot.sender.recover()
    return row["id"]


def answered(fake_slack, words) -> bool:
    return wait_for(lambda: any(words in body.get("text", "") for _, body in fake_slack.responses))


def test_resend_from_someone_not_allowed_to_send_is_refused_and_changes_nothing(driver_with, fake_slack, simulator):
    d = driver_with(SMSBOT_ALLOWED_USERS="U0USER")
    message_id = unconfirmed(d)
    d.click(RESEND_ACTION, str(message_id), user_id="U0EVE")
    assert answered(fake_slack, "not allowed")
    d.pump()
    assert d.bot.queue.message(message_id)["status"] == "unconfirmed" and simulator.messages == []


def test_resend_of_an_sms_that_is_no_longer_waiting_says_so(slack_driver, bot, fake_slack, simulator):
    message_id = unconfirmed(slack_driver)
    slack_driver.click(RESEND_ACTION, str(message_id))
    assert wait_for(lambda: bot.queue.message(message_id)["status"] == "queued")
    slack_driver.pump()
    slack_driver.click(RESEND_ACTION, str(message_id))  # the button is still there in the thread
    assert answered(fake_slack, "no longer waiting for a decision")
    slack_driver.pump()
    assert [m.to for m in simulator.messages] == ["27831234567"]


def test_a_broken_resend_button_says_what_to_do_instead(slack_driver, fake_slack):
    slack_driver.click(RESEND_ACTION, "not-a-message-id")
    assert answered(fake_slack, "send the SMS again with `/sms send`")
