"""Daily spend limits through signed /sms requests, on an injected clock: the edges, midnight in
SMSBOT_TIMEZONE (Africa/Johannesburg, UTC+2), credits given back for refused SMS, and confirmation; and the
days themselves, including a daylight-saving change (23 or 25 hours)."""

import datetime as dt
import json

import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.usecases.spend import SpendLimits
from tests.conftest import Clock, Driver, base_env, said

UTC = dt.timezone.utc
BEFORE_MIDNIGHT = dt.datetime(2026, 5, 4, 21, 50, tzinfo=UTC).timestamp()  # 23:50 in Johannesburg
NUMBERS = ["27831000001", "27831000002", "27831000003", "27831000004", "27831000005", "27831000006"]


@pytest.fixture
def make(tmp_path, simulator, fake_slack, database_env):
    bots = []

    def build(clock, **env) -> Driver:
        settings = load_settings(
            base_env(
                tmp_path,
                SMSOFFICE_API_URL=simulator.api_url,
                SLACK_API_URL=fake_slack.api_url,
                SMSBOT_ADMIN_USERS="U0BOSS",
                **{**database_env, **env},
            )
        )
        bot = Bot(settings, clock=clock)
        bot.server.start()
        bots.append(bot)
        return Driver(bot, fake_slack)

    yield build
    for bot in bots:
        bot.stop()


def send(d, count, **kwargs):
    return d.command(f"send {','.join(NUMBERS[:count])} Drill", **kwargs)


def test_a_user_may_spend_up_to_the_limit_and_not_one_credit_more(make):
    clock = Clock(BEFORE_MIDNIGHT)
    d = make(clock, SMSBOT_DAILY_LIMIT_USER="5")
    assert "Queued 3 SMS" in said(send(d, 3))
    assert "Queued 2 SMS" in said(send(d, 2))  # exactly at the limit
    text = said(send(d, 1))
    assert "needs 1 credit, but you have 0 of your daily limit of 5 left today" in text
    assert "SMSBOT_DAILY_LIMIT_USER" in text and "resets at midnight, 2026-05-05 00:00 Africa/Johannesburg" in text
    assert "in 0 h 10 min" in text and "<@U0BOSS>" in text
    assert d.bot.queue.depth() == 5
    assert "Queued 1 SMS" in said(send(d, 1, user_id="U0OTHER"))  # another user has their own limit


def test_a_send_that_would_cross_the_limit_is_refused_whole_and_says_what_is_left(make):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="5")
    said(send(d, 3))
    text = said(send(d, 3))
    assert "needs 3 credits, but you have 2 of your daily limit of 5 left today" in text
    assert d.bot.queue.depth() == 3


def test_the_limit_starts_afresh_at_midnight_in_the_time_zone(make):
    clock = Clock(BEFORE_MIDNIGHT)
    d = make(clock, SMSBOT_DAILY_LIMIT_USER="5")
    said(send(d, 5))
    clock.t = BEFORE_MIDNIGHT + 9 * 60 + 59  # 23:59:59
    assert "0 of your daily limit" in said(send(d, 1))
    clock.t = BEFORE_MIDNIGHT + 10 * 60  # 00:00:00 in Johannesburg, still 4 May in UTC
    assert "Queued 5 SMS" in said(send(d, 5))


def test_another_time_zone_moves_midnight(make):
    clock = Clock(BEFORE_MIDNIGHT)  # 22:50 in London (BST)
    d = make(clock, SMSBOT_DAILY_LIMIT_USER="5", SMSBOT_TIMEZONE="Europe/London")
    said(send(d, 5))
    clock.t = BEFORE_MIDNIGHT + 30 * 60  # 00:20 in Johannesburg, 23:20 in London: same day
    text = said(send(d, 1))
    assert "0 of your daily limit" in text and "2026-05-05 00:00 Europe/London" in text and "in 0 h 40 min" in text


def test_the_whole_bot_limit_counts_every_user(make):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT="4")
    said(send(d, 3, user_id="U0ANN"))
    text = said(send(d, 2, user_id="U0BEN"))
    assert "smsbot as a whole has 1 of its daily limit of 4 left today (SMSBOT_DAILY_LIMIT)" in text
    assert "Queued 1 SMS" in said(send(d, 1, user_id="U0BOSS"))  # admins are not exempt…
    assert "0 of its daily limit" in said(send(d, 1, user_id="U0BOSS"))


def test_sms_the_gateway_refused_give_their_credits_back(make, simulator):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="5")
    simulator.balance = 0  # every send is refused: "Not enough credits", never charged
    said(send(d, 5))
    d.pump()
    assert {r["status"] for r in d.bot.queue.messages_of(1)} == {"failed"}
    assert "Queued 5 SMS" in said(send(d, 5))


def test_unconfirmed_sms_still_count(make):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="5")
    said(send(d, 5))
    for _ in range(5):
        d.bot.queue.claim(d.bot.clock())
    d.bot.sender.recover()  # as after a crash mid-send: unconfirmed
    assert "0 of your daily limit" in said(send(d, 1))


def test_the_limit_is_checked_again_when_a_held_send_is_confirmed(make, fake_slack):
    clock = Clock(BEFORE_MIDNIGHT + 5 * 60)  # 23:55
    d = make(clock, SMSBOT_DAILY_LIMIT_USER="5", SMSBOT_CONFIRM_ABOVE="2")
    preview = send(d, 3).json()
    pending_id = next(
        e["value"]
        for b in preview["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "confirm_send"
    )
    said(send(d, 2))  # queued at once (2 credits): now 2 are used
    assert d.bot.queue.depth() == 2
    said(send(d, 2))  # 4 used; the held send (3) no longer fits
    d.click("confirm_send", pending_id)
    assert fake_slack.wait_for(lambda: any("Not sent" in b.get("text", "") for _, b in fake_slack.responses))
    answer = next(b for _, b in fake_slack.responses if "Not sent" in b.get("text", ""))
    assert "you have 1 of your daily limit of 5 left today" in answer["text"]
    assert not answer.get("replace_original")  # the preview stays, to press after midnight
    assert d.bot.queue.depth() == 4
    clock.t = BEFORE_MIDNIGHT + 11 * 60  # 00:01, a new day: the same preview (6 min old) now sends
    d.click("confirm_send", pending_id)
    assert fake_slack.wait_for(lambda: d.bot.queue.depth() == 7)


def test_balance_shows_the_requesters_use_today_against_their_limit(make, fake_slack):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="5")
    said(send(d, 3))
    said(d.command("balance"))
    assert fake_slack.wait_for(lambda: len(fake_slack.responses) == 1)
    text = fake_slack.responses[0][1]["text"]
    assert "You used 3 of your 5 credits today (2 left)" in text and "midnight, Africa/Johannesburg time" in text


def test_balance_says_1_credit_not_1_credits(make, fake_slack):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="1")
    said(d.command("balance"))
    assert fake_slack.wait_for(lambda: len(fake_slack.responses) == 1)
    assert "You used 0 of your 1 credit today (1 left)" in fake_slack.responses[0][1]["text"]


def test_the_compose_form_shows_the_refusal_on_the_recipients_field(make):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="1")
    body = d.submit(
        "sms_compose",
        {"recipients": "27831234567,27821234567", "message": "Drill"},
        private_metadata=json.dumps({"channel_id": "C0GENERAL"}),
    ).json()
    assert body["response_action"] == "errors"
    assert "needs 2 credits, but you have 1 of your daily limit of 1 left today" in body["errors"]["recipients"]
    assert d.bot.queue.depth() == 0


def test_a_bad_limit_or_time_zone_is_refused_at_start(tmp_path):
    from bot.config.settings import ConfigError

    with pytest.raises(ConfigError) as error:
        load_settings(
            base_env(
                tmp_path,
                SMSBOT_DAILY_LIMIT_USER="lots",
                SMSBOT_TIMEZONE="Mars/Olympus",
                SMSBOT_DAILY_LIMIT="-5",
                SMSBOT_RETENTION_DAYS="0",
            )
        )
    text = str(error.value)
    assert "SMSBOT_DAILY_LIMIT_USER='lots'" in text and "SMSBOT_TIMEZONE='Mars/Olympus'" in text
    assert "SMSBOT_DAILY_LIMIT='-5'" in text and "SMSBOT_RETENTION_DAYS='0'" in text


def test_the_start_up_summary_names_the_limits_and_the_retention(make):
    from bot.cli.summary import startup_lines

    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="200")
    said(d.command("access allow U0ANN", user_id="U0BOSS"))
    lines = "\n".join(startup_lines(d.bot))
    assert "spend limits:   200 credits per user · no limit in all, per day (Africa/Johannesburg)" in lines
    assert "erased 365 days after a send ends" in lines and "allow-lists:    users 1 ·" in lines


def test_a_scheduled_send_counts_and_is_checked_on_the_day_it_goes_out(make):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="5")  # 23:50 in Johannesburg
    assert "Queued 4 SMS" in said(send(d, 4))  # today: 4 of 5
    text = said(d.command(f"send --at tomorrow 08:00 {','.join(NUMBERS[:5])} Drill"))
    assert "cheduled" in text  # tomorrow's 5 fit tomorrow's limit
    assert "Queued 1 SMS" in said(send(d, 1))  # and do not count today
    refused = said(d.command(f"send --at tomorrow 09:00 {NUMBERS[5]} Drill"))
    assert (
        "needs 1 credit, but you have 0 of your daily limit of 5 left on 2026-05-05, the day it is scheduled"
        " for" in refused
    )  # tomorrow is full, and the refusal names that day, not today
    assert "Schedule it for another day" in refused and "resets at midnight" not in refused


def limits(db, tz):
    return SpendLimits(db, user_limit=5, bot_limit=None, timezone=tz)


def test_a_johannesburg_day_runs_from_22_00_to_22_00_utc(db):
    now = dt.datetime(2026, 5, 4, 21, 59, 59, tzinfo=UTC).timestamp()
    start, end = limits(db, "Africa/Johannesburg").day(now)
    assert dt.datetime.fromtimestamp(start, UTC) == dt.datetime(2026, 5, 3, 22, tzinfo=UTC)
    assert dt.datetime.fromtimestamp(end, UTC) == dt.datetime(2026, 5, 4, 22, tzinfo=UTC)


def test_the_day_clocks_go_forward_has_23_hours_and_back_25(db):
    spring = dt.datetime(2026, 3, 29, 12, tzinfo=UTC).timestamp()  # Europe/London, BST starts 01:00
    autumn = dt.datetime(2026, 10, 25, 12, tzinfo=UTC).timestamp()  # BST ends 02:00
    start, end = limits(db, "Europe/London").day(spring)
    assert end - start == 23 * 3600
    start, end = limits(db, "Europe/London").day(autumn)
    assert end - start == 25 * 3600


def test_with_no_limits_nothing_is_refused(db):
    assert SpendLimits(db, user_limit=None, bot_limit=None, timezone="UTC").check("U1", 10**6, 0.0) is None


def test_a_scheduled_send_over_a_limit_lowered_since_is_not_sent_and_its_requester_is_told_once(
    make, simulator, fake_slack
):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="5")
    assert "cheduled" in said(d.command(f"send --at tomorrow 08:00 {','.join(NUMBERS[:3])} Drill"))
    d.pump()  # its status message: "scheduled for …"
    due = dt.datetime(2026, 5, 5, 6, 0, tzinfo=UTC).timestamp()  # 08:00 in Johannesburg
    later = make(Clock(due + 60), SMSBOT_DAILY_LIMIT_USER="2")  # restarted with a lower limit
    later.pump()
    assert simulator.messages == []  # nothing went out, nothing charged
    assert [r["status"] for r in later.bot.queue.messages_of(1)] == ["failed"] * 3
    status = fake_slack.messages["C0GENERAL"][0]
    replies = [r["text"] for r in fake_slack.thread("C0GENERAL", status["ts"])]
    assert len(replies) == 1  # told once, not once per SMS
    assert "over the daily limit of 2 (SMSBOT_DAILY_LIMIT_USER)" in replies[0]
    assert "the rest of this send was not sent either" in replies[0]
    shown = json.dumps(fake_slack.message("C0GENERAL", status["ts"])["blocks"])
    assert all(f"`{number}` :x: failed" in shown for number in NUMBERS[:3])  # the status message says so


def test_a_scheduled_send_within_its_days_limit_goes_at_its_time(make, simulator):
    d = make(Clock(BEFORE_MIDNIGHT), SMSBOT_DAILY_LIMIT_USER="5")
    said(d.command(f"send --at tomorrow 08:00 {','.join(NUMBERS[:5])} Drill"))  # exactly the day's limit
    d.bot.clock.t = dt.datetime(2026, 5, 5, 6, 1, tzinfo=UTC).timestamp()
    d.pump()
    assert sorted(m.to for m in simulator.messages) == sorted(NUMBERS[:5])
