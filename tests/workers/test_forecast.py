"""The credit forecast (bot/workers/forecast.py): spend per day and days left, from the send log and balance checks."""

import datetime as dt
from decimal import Decimal

import pytest

from bot.workers.forecast import forecast

DAY = 86400.0
NOW = dt.datetime(2024, 5, 10, 12, 0).timestamp()  # local noon


def week(balance, sends, checks, observed_days=7):
    return forecast(
        balance, sends, checks, now=NOW, day_start=NOW - 12 * 3600, observed_since=NOW - observed_days * DAY
    )


def test_the_forecast_takes_the_larger_of_send_log_and_balance_decreases_and_skips_top_ups():
    checks = [
        (NOW - 6 * DAY, Decimal("200")),
        (NOW - 5 * DAY, Decimal("180")),  # −20
        (NOW - 4 * DAY, Decimal("500")),  # top-up: ignored
        (NOW - 1 * DAY, Decimal("470")),
    ]  # −30
    used_elsewhere = week(Decimal("470"), [(NOW - 3 * DAY, 30)], checks)
    assert used_elsewhere.spent_7d == 50
    assert used_elsewhere.per_day == (Decimal(50) / 7).quantize(Decimal("0.01"))
    assert used_elsewhere.days_left == pytest.approx(float(Decimal(470) / (Decimal(50) / 7)))
    hidden_by_top_up = week(Decimal("470"), [(NOW - 3 * DAY, 30), (NOW - 2 * DAY, 50)], checks)
    assert hidden_by_top_up.spent_7d == 80


def test_the_forecast_ignores_what_happened_before_the_last_seven_days():
    old = NOW - 8 * DAY
    result = week(
        Decimal("100"), [(old, 500), (NOW - DAY, 14)], [(old, Decimal("900")), (NOW - 2 * DAY, Decimal("300"))]
    )
    assert result.spent_7d == 14 and result.per_day == 2


def test_a_short_history_is_scaled_to_the_days_covered_but_never_less_than_a_day():
    two_days = week(Decimal("90"), [(NOW - DAY, 30)], [], observed_days=2)
    assert two_days.per_day == 15 and two_days.days_left == pytest.approx(6.0)
    first_hours = week(Decimal("90"), [(NOW - 3600, 5)], [], observed_days=2 / 24)
    assert first_hours.per_day == 5 and first_hours.days_left == pytest.approx(18.0)


def test_nothing_spent_means_no_forecast():
    quiet = week(Decimal("90"), [], [(NOW - 3 * DAY, Decimal("90")), (NOW - DAY, Decimal("95"))])
    assert (quiet.spent_7d, quiet.per_day, quiet.days_left) == (0, None, None)
    no_balance = week(None, [(NOW - DAY, 7)], [])
    assert no_balance.per_day == 1 and no_balance.days_left is None
