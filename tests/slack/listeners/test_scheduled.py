"""Scheduled sends through signed requests, with an injected clock: `--at`, the status message and its
Cancel button, `/sms scheduled`, `/sms cancel`, and the grace window when smsbot was down."""

import datetime as dt
import json

import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.slack.render import CANCEL_SCHEDULED_ACTION, CONFIRM_ACTION
from tests.conftest import Clock, Driver, base_env, said, wait_for
from tests.process import free_port

SAST_2330 = dt.datetime(2026, 11, 25, 21, 30, tzinfo=dt.timezone.utc).timestamp()  # 23:30 in Johannesburg


@pytest.fixture
def timed(tmp_path, simulator, fake_slack):
    """A factory: (Driver, Clock) for a bot whose clock starts at ``t``; stops every bot it made."""
    bots = []

    def make(t: float = SAST_2330, **env):
        settings = load_settings(
            base_env(tmp_path, **{"SMSOFFICE_API_URL": simulator.api_url, "SLACK_API_URL": fake_slack.api_url, **env})
        )
        clock = Clock(t)
        b = Bot(settings, clock=clock)
        b.server.start()
        bots.append(b)
        return Driver(b, fake_slack), clock

    yield make
    for b in bots:
        b.stop()


def _status(fake_slack) -> dict:
    return fake_slack.messages["C0GENERAL"][0]


def _buttons(message: dict) -> list[dict]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_a_send_at_00_15_waits_past_midnight_then_goes(timed, fake_slack, simulator):
    d, clock = timed()
    ack = said(d.command("send --at 00:15 27831234567 Maintenance starts at 07:00"))
    assert "Scheduled 1 SMS to 27831234567 for 2026-11-26 00:15 SAST" in ack and "Africa/Johannesburg" in ack
    due = SAST_2330 + 45 * 60
    d.pump()
    assert simulator.messages == []
    status = _status(fake_slack)
    assert f"scheduled for <!date^{int(due)}^" in json.dumps(status["blocks"])
    assert [b["action_id"] for b in _buttons(status)] == [CANCEL_SCHEDULED_ACTION]
    clock.t = due - 1
    d.pump()
    assert simulator.messages == []
    clock.t = due + 5
    d.pump()
    assert [m.text for m in simulator.messages] == ["Maintenance starts at 07:00"]
    status = _status(fake_slack)
    assert _buttons(status) == [] and "sent" in json.dumps(status["blocks"])


def test_in_london_a_time_the_clocks_skip_is_refused(timed):
    d, _ = timed(dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.timezone.utc).timestamp(), SMSBOT_TIMEZONE="Europe/London")
    refused = said(d.command("send --at 01:30 27831234567 Hello"))
    assert "does not exist in Europe/London" in refused
    ack = said(d.command("send --at 00:30 27831234567 Hello"))
    assert "2026-03-29 00:30 GMT" in ack and "Europe/London" in ack
    assert d.bot.queue.batch(1)["scheduled_for"] == dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.timezone.utc).timestamp()


def test_in_london_at_11_00_on_the_day_the_clocks_go_forward_01_30_is_tomorrows(timed):
    d, _ = timed(
        dt.datetime(2027, 3, 28, 10, 0, tzinfo=dt.timezone.utc).timestamp(),  # 11:00 BST
        SMSBOT_TIMEZONE="Europe/London",
    )
    ack = said(d.command("send --at 01:30 27831234567 Night shift starts"))
    assert "Scheduled 1 SMS to 27831234567 for 2027-03-29 01:30 BST" in ack
    assert d.bot.queue.batch(1)["scheduled_for"] == dt.datetime(2027, 3, 29, 0, 30, tzinfo=dt.timezone.utc).timestamp()


def test_at_after_the_number_schedules_the_send_and_the_text_does_not_start_with_it(timed, simulator):
    d, clock = timed()
    ack = said(d.command("send 27831000003 --at 17:00 Meeting moved to 17:30"))
    assert "Scheduled 1 SMS to 27831000003 for 2026-11-26 17:00 SAST" in ack
    assert d.bot.queue.batch(1)["text"] == "Meeting moved to 17:30"
    clock.t = dt.datetime(2026, 11, 26, 15, 0, 5, tzinfo=dt.timezone.utc).timestamp()
    d.pump()
    assert [m.text for m in simulator.messages] == ["Meeting moved to 17:30"]


def test_at_after_the_number_that_is_not_a_time_or_given_twice_is_refused_and_nothing_goes(timed, simulator):
    d, _ = timed()
    bad = said(d.command("send 27831000003 --at 5pm Meeting moved"))
    assert "I can't read ‘5pm’ as a time after `--at`" in bad and "`HH:MM`" in bad
    twice = said(d.command("send --at 16:00 27831000003 --at 17:00 Meeting moved"))
    assert "`--at` is given twice" in twice and "/sms send 27831234567 --at 17:00" in twice
    d.pump()
    assert d.bot.queue.depth() == 0 and simulator.messages == []


def test_past_and_far_future_times_are_refused_and_nothing_is_queued(timed):
    d, _ = timed()
    assert "in the past" in said(d.command("send --at 2026-11-24 09:00 27831234567 Hi"))
    assert "90 days" in said(d.command("send --at 2027-06-01 09:00 27831234567 Hi"))
    assert d.bot.queue.depth() == 0


def test_the_requester_cancels_with_the_button_and_someone_else_cannot(timed, fake_slack, simulator):
    d, clock = timed()
    said(d.command("send --at tomorrow 07:00 27831234567,27821234567 Drill"))
    d.pump()
    ts = _status(fake_slack)["ts"]
    d.click(CANCEL_SCHEDULED_ACTION, "1", user_id="U0OTHER", message_ts=ts)
    assert wait_for(lambda: any("Only <@U0USER>" in body["text"] for _, body in fake_slack.responses))
    assert d.bot.queue.scheduled()[0]["waiting"] == 2
    d.click(CANCEL_SCHEDULED_ACTION, "1", user_id="U0USER", message_ts=ts)
    assert wait_for(lambda: any("Cancelled send #1: 2 SMS" in body["text"] for _, body in fake_slack.responses))
    clock.t += 86400
    d.pump()
    assert simulator.messages == []
    status = _status(fake_slack)
    assert "2 cancelled" in status["text"] and _buttons(status) == []


def test_an_admin_may_cancel_anothers_send_and_a_started_list_says_how_many_went(timed, fake_slack, simulator):
    d, clock = timed(SMSBOT_ADMIN_USERS="U0ADMIN")
    said(d.command("send --at in 1h 27831234567,27821234567,27841234567 Drill"))
    assert "Only <@U0USER> or an smsbot admin" in said(d.command("cancel 1", user_id="U0OTHER"))
    clock.t += 3600
    assert d.bot.sender.run_once()  # the first recipient goes, and the sender has claimed the second
    answer = said(d.command("cancel #1", user_id="U0ADMIN"))
    assert "Cancelled send #1: 1 SMS will not go; 2 had already gone or were going" in answer
    d.pump()
    assert [m.to for m in simulator.messages] == ["27831234567", "27821234567"]
    assert "nothing left to cancel" in said(d.command("cancel 1"))
    assert "There is no send #9" in said(d.command("cancel 9"))


def test_scheduled_lists_when_who_to_and_parts(timed):
    d, _ = timed()
    said(d.command("send --at tomorrow 07:00 27831234567,27821234567 Drill at nine"))
    said(d.command("send 27831234567 Now"))  # not scheduled: not listed
    listed = said(d.command("scheduled"))
    assert "*#1*" in listed and "<@U0USER>" in listed and "2 recipients" in listed and "1 part" in listed
    assert "#2" not in listed
    said(d.command("cancel 1"))
    assert "No scheduled sends" in said(d.command("scheduled"))


def test_scheduled_names_the_number_or_the_groups_and_their_sizes(timed):
    d, _ = timed()
    said(d.command("group add oncall 27841234567,27851234567,27721234567"))
    said(d.command("group add site-a 27711234567"))
    said(d.command("send --at tomorrow 07:00 27831000003 Meeting moved"))
    said(d.command("send --at tomorrow 08:00 oncall,site-a,27821234567 Drill at nine"))
    lines = said(d.command("scheduled")).split("\n")
    assert "to 27831000003 ·" in lines[1] and "recipient" not in lines[1]
    assert any("to `oncall` (3 numbers), `site-a` (1 number) and 1 other number ·" in line for line in lines), lines


def test_a_costly_scheduled_send_is_confirmed_when_scheduled(timed, fake_slack):
    d, _ = timed(SMSBOT_CONFIRM_ABOVE="1")
    body = d.command("send --at tomorrow 07:00 27831234567,27821234567 Drill").json()
    assert "(scheduled)" in json.dumps(body["blocks"]) and d.bot.queue.depth() == 0
    pending = [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    d.click(CONFIRM_ACTION, pending)
    assert wait_for(lambda: d.bot.queue.depth() == 2)
    assert d.bot.queue.batch(1)["scheduled_for"] == SAST_2330 + 7.5 * 3600


def test_after_a_restart_rows_within_the_grace_go_and_later_ones_are_missed(timed, fake_slack, simulator):
    d, clock = timed()
    said(d.command("send --at in 10m 27831234567,27821234567 Meeting in 5 minutes"))
    due = SAST_2330 + 600
    d.pump()
    d.bot.stop()  # smsbot is down at the time
    d, clock = timed(due + 59 * 60)  # back up 59 minutes late: within SMSBOT_SCHEDULE_GRACE_MINUTES (60)
    d.bot.sender.recover()
    assert d.bot.sender.run_once()
    assert [m.to for m in simulator.messages] == ["27831234567"]
    clock.t = due + 61 * 60  # a long list ahead: the next recipient is reached too late
    d.pump()
    assert [m.to for m in simulator.messages] == ["27831234567"]
    row = d.bot.queue.messages_of(1)[1]
    assert row["status"] == "missed" and "SMSBOT_SCHEDULE_GRACE_MINUTES (60)" in row["last_error"]
    thread = fake_slack.thread("C0GENERAL", _status(fake_slack)["ts"])
    assert any("<@U0USER> The scheduled SMS to 27821234567 was not sent" in m["text"] for m in thread)
    assert "1 missed" in _status(fake_slack)["text"]


def test_rules_are_checked_again_when_it_is_sent(timed, fake_slack, simulator):
    d, _ = timed()
    said(d.command("send --at in 1h 27831234567,264811234567 Drill"))  # one in Namibia, allowed today
    d.pump()
    d.bot.stop()
    d, _ = timed(SAST_2330 + 3600, SMSBOT_ALLOWED_COUNTRIES="ZA")  # the rule changed before it was due
    d.bot.sender.recover()
    d.pump()
    assert [m.to for m in simulator.messages] == ["27831234567"]
    namibia = d.bot.queue.messages_of(1)[1]
    assert namibia["status"] == "failed" and "SMSBOT_ALLOWED_COUNTRIES" in namibia["last_error"]
    thread = fake_slack.thread("C0GENERAL", _status(fake_slack)["ts"])
    assert any("264811234567 failed" in m["text"] for m in thread)


def test_a_gateway_down_at_the_due_time_is_retried_not_failed_for_the_days_it_waited(timed):
    d, clock = timed(SMSOFFICE_API_URL=f"http://127.0.0.1:{free_port()}/")  # nothing listens: refused
    said(d.command("send --at 2026-11-28 09:00 27831234567 Site visit today"))  # 2.5 days ahead
    clock.t = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.timezone.utc).timestamp()
    assert d.bot.sender.run_once()
    row = d.bot.queue.messages_of(1)[0]
    assert row["status"] == "queued" and row["last_error"]  # retrying, within SMSBOT_SEND_GIVE_UP_HOURS


def test_scheduled_lists_others_sends_only_in_their_channel_and_to_admins(timed, fake_slack):
    fake_slack.add_channel("C0ONE", "one")
    d, _ = timed(SMSBOT_ADMIN_USERS="U0BOSS")
    said(d.command("send --at tomorrow 07:00 27831234567 Drill at nine", user_id="U0ANN", channel_id="C0ONE"))

    def listed(user_id, channel_id):
        return said(d.command("scheduled", user_id=user_id, channel_id=channel_id))

    assert listed("U0BOB", "C0TWO") == "No scheduled sends are waiting."
    for user_id, channel_id in (("U0BOB", "C0ONE"), ("U0ANN", "C0TWO"), ("U0BOSS", "C0TWO")):
        assert "*#1*" in listed(user_id, channel_id) and "<@U0ANN>" in listed(user_id, channel_id)
