"""Delivery reports land on the right SMS: adoption only by the exact rule, reports for another
number named, and reports for an attempt before a Resend matched to that attempt."""

import json

import pytest
import responses

from bot.runtime import Bot
from bot.slack.render import RESEND_ACTION
from tests.conftest import Clock, wait_for
from tests.storage.test_reports import applied, outcomes, report

HOUR = 3600.0
NUMBER = "27831234567"


@pytest.fixture
def clock():
    return Clock(1_800_000_000.0)


@pytest.fixture
def bot(settings, clock):
    """The real Bot on an injected clock (reports are stamped with it when they arrive)."""
    b = Bot(settings, clock=clock)
    b.server.start()
    yield b
    b.stop()


def send(slack_driver, bot, text=f"send {NUMBER} Generator running"):
    slack_driver.command(text)
    return bot.queue.recent_batches(1)[0]["id"]


def unconfirmed(slack_driver, bot, text=f"send {NUMBER} Generator running"):
    """A send whose SMS was in flight when smsbot died: unconfirmed after the restart."""
    batch_id = send(slack_driver, bot, text)
    bot.queue.claim(bot.clock())
    bot.sender.recover()
    slack_driver.pump()
    return batch_id


def message(bot, batch_id):
    return bot.queue.messages_of(batch_id)[0]


def thread(bot, fake_slack, batch_id):
    batch = bot.posts.batch(batch_id)
    return [r["text"] for r in fake_slack.thread(batch["status_channel"], batch["status_ts"])]


def test_two_unconfirmed_sms_to_one_number_adopt_nothing_and_each_thread_hears_of_the_report(
    slack_driver, bot, fake_slack, clock
):
    first = unconfirmed(slack_driver, bot)
    clock.t += 60
    second = unconfirmed(slack_driver, bot)
    clock.t += 60
    assert report(bot, "555777", 200).status_code == 200
    slack_driver.pump()
    assert outcomes(bot) == ["unmatched"]
    for batch_id in (first, second):
        row = message(bot, batch_id)
        assert (row["status"], row["dlr_status_id"], row["tracking_id"]) == ("unconfirmed", None, None)
        last = thread(bot, fake_slack, batch_id)[-1]
        assert "#555777" in last and "may be this" in last and "marked nothing" in last
        assert "delivered" not in json.dumps(fake_slack.messages["C0GENERAL"][batch_id - 1]["blocks"]).lower()


def test_a_report_racing_todays_send_never_lands_on_a_week_old_unconfirmed_sms(slack_driver, bot, fake_slack, clock):
    old = unconfirmed(slack_driver, bot)
    clock.t += 7 * 24 * HOUR
    today = send(slack_driver, bot)
    slack_driver.bot.notifier.run_once()
    report_url = bot.server.url

    def gateway_reports_before_answering(request):  # the report beats our own commit
        assert report(bot, "909090", 200).status_code == 200
        return 200, {}, "Success:909090"

    with responses.RequestsMock(passthru_prefixes=(report_url,)) as gateway:
        gateway.add_callback(
            responses.GET, bot.settings.smsoffice_api_url + "sendsms.asp", callback=gateway_reports_before_answering
        )
        assert bot.sender.run_once() is True
    slack_driver.pump()
    assert outcomes(bot) == ["applied"]  # matched to today's send once the sender recorded it
    assert (message(bot, today)["status"], message(bot, today)["dlr_status_id"]) == ("sent", 200)
    assert (message(bot, old)["status"], message(bot, old)["dlr_status_id"]) == ("unconfirmed", None)
    assert not any("may be this" in t for t in thread(bot, fake_slack, old))


def test_no_adoption_while_another_sms_to_that_number_is_being_sent(slack_driver, bot, fake_slack, clock):
    old = unconfirmed(slack_driver, bot)
    clock.t += HOUR
    send(slack_driver, bot)
    bot.queue.claim(clock())  # in flight now
    assert report(bot, "555777", 200).status_code == 200
    applied(bot)
    slack_driver.bot.notifier._last_write.clear()
    while slack_driver.bot.notifier.run_once():
        slack_driver.bot.notifier._last_write.clear()
    assert outcomes(bot) == ["unmatched"]
    assert message(bot, old)["status"] == "unconfirmed"
    assert "may be this" in thread(bot, fake_slack, old)[-1]


def test_no_adoption_when_another_sms_to_that_number_was_sent_after_it(slack_driver, bot, fake_slack, clock):
    old = unconfirmed(slack_driver, bot)
    clock.t += HOUR
    later = send(slack_driver, bot)
    slack_driver.pump()
    assert message(bot, later)["status"] == "sent"
    clock.t += HOUR
    assert report(bot, "555777", 200).status_code == 200
    slack_driver.pump()
    assert outcomes(bot) == ["unmatched"]
    assert message(bot, old)["status"] == "unconfirmed"
    assert "may be this" in thread(bot, fake_slack, old)[-1]


@pytest.mark.parametrize("hours,adopted", [(71.9, True), (72.1, False)])
def test_only_an_sms_attempted_in_the_72_hours_before_the_report_is_adopted(
    slack_driver, bot, fake_slack, clock, hours, adopted
):
    batch_id = unconfirmed(slack_driver, bot)
    clock.t += hours * HOUR
    assert report(bot, "555777", 200).status_code == 200
    slack_driver.pump()
    row = message(bot, batch_id)
    if adopted:
        assert outcomes(bot) == ["adopted"]
        assert (row["status"], row["tracking_id"], row["dlr_status_id"]) == ("sent", "555777", 200)
        assert "did go out" in thread(bot, fake_slack, batch_id)[-1]
    else:
        assert outcomes(bot) == ["unmatched"]
        assert (row["status"], row["tracking_id"]) == ("unconfirmed", None)
        assert not any("555777" in t for t in thread(bot, fake_slack, batch_id))


def test_a_report_that_arrived_while_the_sms_was_in_flight_is_adopted_once_it_is_unconfirmed(
    slack_driver, bot, fake_slack, clock
):
    batch_id = send(slack_driver, bot)
    slack_driver.bot.notifier.run_once()
    bot.queue.claim(clock())  # in flight: the report cannot be adopted yet
    clock.t += 5
    assert report(bot, "555777", 100).status_code == 200
    assert applied(bot) == ["unmatched"]
    bot.sender.recover()  # smsbot died mid-send: now it is unconfirmed, and the report is its
    slack_driver.pump()
    assert outcomes(bot) == ["adopted"]
    row = message(bot, batch_id)
    assert (row["status"], row["tracking_id"], row["dlr_status_id"]) == ("sent", "555777", 100)


# -- item 7: a report for another number --------------------------------------------------------
def test_a_report_for_another_number_is_applied_and_the_thread_names_both(slack_driver, bot, fake_slack, simulator):
    batch_id = send(slack_driver, bot)
    slack_driver.pump()
    tracking = simulator.messages[0].id
    assert report(bot, tracking, 200, to="27821234567").status_code == 200
    slack_driver.pump()
    assert message(bot, batch_id)["dlr_status_id"] == 200
    last = thread(bot, fake_slack, batch_id)[-1]
    assert "Delivered to 27831234567" in last
    assert "reported this for 27821234567, not for 27831234567" in last


@pytest.mark.parametrize("to", ["+27 83 123 4567", "0831234567", "0027831234567", ""])
def test_the_same_number_written_another_way_is_not_called_another_number(slack_driver, bot, fake_slack, simulator, to):
    batch_id = send(slack_driver, bot)
    slack_driver.pump()
    assert report(bot, simulator.messages[0].id, 200, to=to).status_code == 200
    slack_driver.pump()
    assert message(bot, batch_id)["dlr_status_id"] == 200
    assert not any("reported this for" in t for t in thread(bot, fake_slack, batch_id))


# -- item 8: every attempt keeps its tracking number ------------------------------------------
def resend(slack_driver, bot, batch_id):
    row = message(bot, batch_id)
    batch = bot.posts.batch(batch_id)
    assert slack_driver.click(RESEND_ACTION, str(row["id"]), message_ts=batch["status_ts"]).status_code == 200
    assert wait_for(lambda: message(bot, batch_id)["status"] == "queued")
    slack_driver.pump()
    return message(bot, batch_id)["tracking_id"]


def test_a_late_delivered_report_for_the_attempt_before_a_resend_says_the_recipient_got_it_twice(
    slack_driver, bot, fake_slack, clock
):
    batch_id = unconfirmed(slack_driver, bot)  # the first attempt did reach the gateway, as #555777
    clock.t += 600
    second = resend(slack_driver, bot, batch_id)
    clock.t += 30
    assert report(bot, second, 200).status_code == 200
    clock.t += HOUR
    assert report(bot, "555777", 100).status_code == 200  # the first attempt's reports, late
    assert report(bot, "555777", 200).status_code == 200
    slack_driver.pump()
    assert outcomes(bot) == ["applied", "earlier_attempt", "earlier_attempt"]
    row = message(bot, batch_id)
    assert (row["status"], row["tracking_id"], row["dlr_status_id"]) == ("sent", second, 200)
    replies = thread(bot, fake_slack, batch_id)
    assert f"{NUMBER} got this SMS twice" in replies[-1]
    assert "#555777" in replies[-1] and f"#{second}" in replies[-1]
    assert sum("got this SMS twice" in r for r in replies) == 1, replies
    status = slack_driver.command("status 555777").json()["text"]  # either tracking number finds the SMS
    assert NUMBER in status and "before a Resend" in status


def test_the_first_attempt_delivered_before_the_resend_is_says_it_will_probably_arrive_twice(
    slack_driver, bot, fake_slack, clock
):
    batch_id = unconfirmed(slack_driver, bot)
    clock.t += 600
    second = resend(slack_driver, bot, batch_id)
    clock.t += 30
    assert report(bot, "555777", 200).status_code == 200
    slack_driver.pump()
    assert f"#{second} went out too, so {NUMBER} will probably get it twice" in thread(bot, fake_slack, batch_id)[-1]
    assert message(bot, batch_id)["dlr_status_id"] is None  # the resend's own status is its own
    clock.t += 30
    assert report(bot, second, 200).status_code == 200
    slack_driver.pump()
    replies = thread(bot, fake_slack, batch_id)
    assert f"Delivered to {NUMBER}" in replies[-2] and f"{NUMBER} got this SMS twice" in replies[-1]


def test_on_a_long_list_a_report_for_another_number_is_still_told(driver_with, fake_slack, simulator):
    slack_driver = driver_with(SMSBOT_CONFIRM_ABOVE="100")
    bot = slack_driver.bot
    numbers = [f"2783123{i:04d}" for i in range(12)]
    slack_driver.command("send " + ",".join(numbers) + " Drill at 3pm")
    slack_driver.pump()
    ids = {m.to: m.id for m in simulator.messages}
    report(bot, ids[numbers[0]], 200, to=numbers[0])  # routine: only counted
    report(bot, ids[numbers[1]], 200, to="27829999999")  # delivered, but to another number
    slack_driver.pump()
    replies = thread(bot, fake_slack, 1)
    assert len(replies) == 1 and f"reported this for 27829999999, not for {numbers[1]}" in replies[0]
