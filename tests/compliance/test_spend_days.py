"""Days of the spend limits in SMSBOT_TIMEZONE, including a daylight-saving change (23 or 25 hours)."""
import datetime as dt

from bot.spend import SpendLimits

UTC = dt.timezone.utc


def limits(db, tz):
    return SpendLimits(db, user_limit=5, bot_limit=None, timezone=tz)


def test_a_johannesburg_day_runs_from_22_00_to_22_00_utc(db):
    now = dt.datetime(2026, 5, 4, 21, 59, 59, tzinfo=UTC).timestamp()
    start, end = limits(db, "Africa/Johannesburg").day(now)
    assert dt.datetime.fromtimestamp(start, UTC) == dt.datetime(2026, 5, 3, 22, tzinfo=UTC)
    assert dt.datetime.fromtimestamp(end, UTC) == dt.datetime(2026, 5, 4, 22, tzinfo=UTC)


def test_the_day_clocks_go_forward_has_23_hours_and_back_25(db):
    spring = dt.datetime(2026, 3, 29, 12, tzinfo=UTC).timestamp()   # Europe/London, BST starts 01:00
    autumn = dt.datetime(2026, 10, 25, 12, tzinfo=UTC).timestamp()  # BST ends 02:00
    start, end = limits(db, "Europe/London").day(spring)
    assert end - start == 23 * 3600
    start, end = limits(db, "Europe/London").day(autumn)
    assert end - start == 25 * 3600


def test_with_no_limits_nothing_is_refused(db):
    assert SpendLimits(db, user_limit=None, bot_limit=None, timezone="UTC").check("U1", 10**6, 0.0) is None
