"""The spending forecast (pure): credits spent today and in 7 days, the rate, the days left.

Forecast (``forecast()``, pure): credits spent in a window is the larger of two lower
bounds: the send log (``batches.parts`` of each message sent in the window) and the
balance history (the sum of decreases between consecutive successful checks in the
window; increases are top-ups and are left out). The send log misses use of the account
outside the bot; the history misses spending hidden by a top-up between two checks and
anything before the first check. ``per_day`` divides the 7-day spend by the days
actually observed (since the earliest history row or batch), clamped to 1..7 days: a
young install is not diluted over days it did not see, and a burst in its first hour is
not extrapolated to a whole day's rate. ``per_day`` and ``days_left`` are None when
nothing was spent in the window; ``days_left`` is also None without a balance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

DAY = 86400.0
WINDOW_DAYS = 7
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Forecast:
    spent_7d: Decimal
    spent_today: Decimal
    per_day: Decimal | None  # rounded to cents; None when nothing was spent in 7 days
    days_left: float | None  # balance / per_day; None when nothing was spent or no balance


def forecast(
    balance: Decimal | None,
    sends: Iterable[tuple[float, int]],
    checks: Iterable[tuple[float, Decimal]],
    *,
    now: float,
    day_start: float,
    observed_since: float | None,
) -> Forecast:
    """The spending forecast from ``sends`` ((sent_at, parts) of sent messages) and
    ``checks`` ((checked_at, balance) of successful checks, oldest first)."""
    sends, checks = list(sends), list(checks)
    spent_7d = _spent(sends, checks, since=now - WINDOW_DAYS * DAY)
    spent_today = _spent(sends, checks, since=day_start)
    if not spent_7d:
        return Forecast(spent_7d, spent_today, None, None)
    observed = now - observed_since if observed_since is not None else 0.0
    days = Decimal(min(WINDOW_DAYS * DAY, max(DAY, observed))) / Decimal(DAY)
    rate = spent_7d / days
    days_left = None if balance is None else float(max(balance, Decimal(0)) / rate)
    return Forecast(spent_7d, spent_today, rate.quantize(CENTS), days_left)


def _spent(sends: list[tuple[float, int]], checks: list[tuple[float, Decimal]], *, since: float) -> Decimal:
    """Credits spent since ``since``: the larger of the send log and the balance decreases."""
    by_bot = sum((Decimal(parts) for at, parts in sends if at >= since), Decimal(0))
    seen = [balance for at, balance in checks if at >= since]
    by_balance = sum((max(Decimal(0), before - after) for before, after in pairwise(seen)), Decimal(0))
    return max(by_bot, by_balance)


def local_midnight(now: float) -> float:
    """The start of ``now``'s day in the server's local time zone."""
    return dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
