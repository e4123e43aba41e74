"""The routine-send use cases on a real Bot's storage, called directly with an injected clock:
templates checked when saved and filled when sent, the form's time picker bounds (issue #15: not in
the past, at most 90 days ahead), cancelling by requester or admin, and the sender's country re-check."""

import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.sms.errors import TextError
from bot.sms.names import GroupError
from bot.sms.schedule import ScheduleError
from bot.usecases.routine import allowed_countries_recheck
from tests.conftest import Clock, Driver, base_env, said

T0 = 1_780_000_000.0
DAY = 86400.0
ADMIN = "U0BOSS"


@pytest.fixture
def d(tmp_path, simulator, fake_slack, database_env):
    settings = load_settings(
        base_env(
            tmp_path,
            SMSOFFICE_API_URL=simulator.api_url,
            SLACK_API_URL=fake_slack.api_url,
            SMSBOT_ADMIN_USERS=ADMIN,
            **database_env,
        )
    )
    bot = Bot(settings, clock=Clock(T0))
    bot.server.start()
    yield Driver(bot, fake_slack)
    bot.stop()


def test_a_template_is_checked_when_saved_and_says_whether_it_is_new(d):
    routine = d.bot.routine
    assert routine.add_template("outage", "Outage at {site}: we are on it.", ADMIN) is True
    assert routine.add_template("outage", "Outage at {site}: fixed soon.", ADMIN) is False
    assert routine.template("outage")["text"] == "Outage at {site}: fixed soon."
    with pytest.raises(TextError) as empty:
        routine.add_template("blank", "   ", ADMIN)
    assert "/sms template add blank" in str(empty.value)
    with pytest.raises(TextError):
        routine.add_template("stray", "Outage at {site", ADMIN)
    with pytest.raises(GroupError) as unknown:
        routine.template("outgae")
    assert "outage" in str(unknown.value)
    assert [row["name"] for row in routine.templates.all()] == ["outage"]


def test_a_plan_from_a_template_carries_the_filled_text_and_the_template_name(d):
    d.bot.routine.add_template("outage", "Outage at {site}: we are on it.", ADMIN)
    plan = d.bot.routine.plan('27831234567 :outage site="Durban North"')
    assert plan.recipients == ["27831234567"] and plan.text == "Outage at Durban North: we are on it."
    assert plan.template == "outage" and plan.due is None and plan.credits == 1


def test_the_time_picker_refuses_the_past_and_more_than_90_days_ahead(d):
    plan = d.bot.routine.plan("27831234567 Drill at 3")
    assert d.bot.routine.timed(plan, None).due is None
    assert d.bot.routine.timed(plan, T0 + 3600).due == T0 + 3600
    assert d.bot.routine.timed(plan, T0 + 90 * DAY).due == T0 + 90 * DAY
    with pytest.raises(ScheduleError) as past:
        d.bot.routine.timed(plan, T0 - 60)
    assert "in the past" in str(past.value)
    with pytest.raises(ScheduleError) as far:
        d.bot.routine.timed(plan, T0 + 91 * DAY)
    assert "90 days" in str(far.value)


def scheduled_batch(d, user_id) -> int:
    assert "cheduled" in said(d.command("send --at tomorrow 09:00 27831234567,27821234567 Drill", user_id=user_id))
    return d.bot.routine.scheduled(d.bot.access.viewer(ADMIN))[-1]["id"]


def test_only_the_requester_or_an_admin_cancels_and_only_what_still_waits(d, simulator):
    mine = scheduled_batch(d, "U0ANN")
    unseen = d.bot.routine.cancel(mine, d.bot.access.viewer("U0EVE", "C0OTHER"))  # not even told it exists
    assert (unseen.verdict, unseen.requester) == ("unknown", None)
    refused = d.bot.routine.cancel(mine, d.bot.access.viewer("U0EVE", "C0GENERAL"))
    assert refused.verdict == "not_yours" and refused.requester == "U0ANN"
    done = d.bot.routine.cancel(mine, d.bot.access.viewer("U0ANN"))
    assert (done.verdict, done.cancelled, done.went) == ("ok", 2, 0)
    assert d.bot.routine.cancel(mine, d.bot.access.viewer("U0ANN")).verdict == "nothing_waiting"
    theirs = scheduled_batch(d, "U0BEN")
    assert d.bot.routine.cancel(theirs, d.bot.access.viewer(ADMIN)).verdict == "ok"
    assert d.bot.routine.cancel(theirs + 100, d.bot.access.viewer(ADMIN)).verdict == "unknown"
    d.bot.clock.t = T0 + 2 * DAY
    d.pump()
    assert simulator.messages == [] and d.bot.routine.scheduled(d.bot.access.viewer(ADMIN)) == []


def test_the_sender_recheck_refuses_a_country_no_longer_allowed(tmp_path):
    open_countries = load_settings(base_env(tmp_path))
    za_only = load_settings(base_env(tmp_path, SMSBOT_ALLOWED_COUNTRIES="ZA"))
    assert allowed_countries_recheck(open_countries)({"recipient": "26771234567"}) is None
    assert allowed_countries_recheck(za_only)({"recipient": "27831234567"}) is None
    reason = allowed_countries_recheck(za_only)({"recipient": "26771234567"})
    assert reason.startswith("not sent:") and "Botswana" in reason
