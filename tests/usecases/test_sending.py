"""The use cases (bot/usecases/sending.py) on a real Bot, its gateway the simulator: submit queues or holds,
confirm queues once, resend refuses what would fail again, history and tracking read it back."""

import pytest

from bot.sms.gateway import InvalidRecipient
from bot.sms.plan import plan_send
from bot.usecases.sending import NeedsConfirmation, Queued, Resent, WouldFailAgain

ANN = {"user_id": "U0ANN", "user_name": "ann", "channel_id": "C0GENERAL", "channel_name": "general"}


def plan(count=1, text="Generator running"):
    return plan_send(",".join(f"2783{i:07d}" for i in range(count)) + " " + text, None)


def statuses(bot):
    return [row["status"] for row in bot.db.conn.execute("SELECT status FROM messages ORDER BY id")]


def test_a_small_send_is_queued_at_once(bot):
    outcome = bot.sending.submit(plan(2), ANN)
    assert isinstance(outcome, Queued)
    assert statuses(bot) == ["queued", "queued"]
    assert bot.posts.batch(outcome.batch_id)["channel_id"] == "C0GENERAL"  # its status message goes there


def test_a_send_over_the_confirm_limit_is_held_and_nothing_is_queued(bot):
    outcome = bot.sending.submit(plan(bot.settings.confirm_above + 1), ANN)
    assert isinstance(outcome, NeedsConfirmation) and not outcome.hold.short
    assert "SMSBOT_CONFIRM_ABOVE" in outcome.hold.sentence
    assert statuses(bot) == []


def test_a_send_the_last_balance_cannot_cover_is_held_even_below_the_limit(bot, simulator):
    simulator.balance = "1.00"
    bot.watch.check(now=bot.clock())
    outcome = bot.sending.submit(plan(2), ANN)
    assert isinstance(outcome, NeedsConfirmation) and outcome.hold.short and outcome.last_balance[0] == 1
    assert statuses(bot) == []


def test_confirm_queues_once_and_only_for_the_requester(bot):
    held = bot.sending.submit(plan(bot.settings.confirm_above + 1), ANN)
    assert bot.sending.confirm(held.pending_id, "U0BOB", send=True).verdict == "not_yours"
    first = bot.sending.confirm(held.pending_id, "U0ANN", send=True)
    again = bot.sending.confirm(held.pending_id, "U0ANN", send=True)  # a double click
    assert first.verdict == "ok" and first.batch_id is not None
    assert again.verdict == "sent" and again.batch_id is None
    assert statuses(bot) == ["queued"] * (bot.settings.confirm_above + 1)


def test_cancel_queues_nothing(bot):
    held = bot.sending.submit(plan(bot.settings.confirm_above + 1), ANN)
    assert bot.sending.confirm(held.pending_id, "U0ANN", send=False).verdict == "ok"
    assert statuses(bot) == []


def fail_next(bot, error):
    """The sender takes the next SMS and the gateway refuses it with ``error``."""
    with bot.db.transaction() as conn:
        claimed = bot.queue.claim(bot.clock(), conn)
        row = bot.queue.mark_failed(conn, claimed["id"], str(error), bot.clock())
        bot.sending.after_send(conn, "failed", row, error)
    return claimed["id"]


def test_resend_refuses_a_failure_that_would_happen_again(bot):
    bot.sending.submit(plan(1), ANN)
    message_id = fail_next(bot, InvalidRecipient("Error: Invalid number"))
    with pytest.raises(WouldFailAgain) as refused:
        bot.sending.resend(message_id, "U0ANN")
    assert refused.value.recipient == "27830000000" and statuses(bot) == ["failed"]


def test_resend_after_running_out_of_credits_queues_it_again(bot, simulator):
    simulator.balance = 0
    bot.sending.submit(plan(1), ANN)
    bot.sender.run_once()
    assert statuses(bot) == ["failed"]
    [message] = bot.queue.messages_of(1)
    assert bot.sending.resend(message["id"], "U0ANN") == Resent("27830000000")
    assert statuses(bot) == ["queued"]
    assert bot.sending.resend(message["id"], "U0ANN") is None  # already waiting: nothing to do


def test_history_is_newest_first_and_tracking_finds_the_sms(bot, simulator):
    bot.sending.submit(plan(1, "First"), ANN)
    bot.sending.submit(plan(2, "Second"), ANN)
    while bot.sender.run_once():
        pass
    ann = bot.access.viewer("U0ANN", "C0GENERAL")
    history = bot.reading.history(ann, limit=10)
    assert [(batch["text"], len(messages)) for batch, messages in history] == [("Second", 2), ("First", 1)]
    sent = history[1][1][0]
    assert sent["status"] == "sent" and sent["tracking_id"]
    batch, row, reports = bot.reading.tracking(ann, sent["tracking_id"])
    assert (batch["text"], row["recipient"]) == ("First", "27830000000")
    assert list(reports) == []  # no delivery report yet
    assert bot.reading.tracking(ann, "no-such-tracking-number") is None


def test_parts_are_counted_per_send_when_sends_of_different_lengths_follow_each_other(bot):
    bot.sending.submit(plan(2, "short"), ANN)  # 1 part each
    bot.sending.submit(plan_send("27839000001,27839000002 " + "x" * 200, None), ANN)  # 2 parts each
    bot.sending.submit(plan(1, "short again"), ANN)
    while bot.sender.run_once():
        pass
    assert statuses(bot) == ["sent"] * 5
    assert bot.metrics.parts._value.get() == 2 * 1 + 2 * 2 + 1
