"""Daily spend limits: SMSBOT_DAILY_LIMIT_USER (per user) and SMSBOT_DAILY_LIMIT (the whole bot),
with days in SMSBOT_TIMEZONE.

What counts is the ledger of charges (``charges``, written by bot/storage/queue.py): every SMS queued,
being sent, sent or unconfirmed, parts x recipients, against its requester on the day it goes out
(the day it was queued or confirmed, or its scheduled day); a Resend against whoever pressed it, on
the day it was pressed. SMS that failed, were cancelled or missed give their credits back. ``check``
is the one rule: every door (bot/usecases/gate.py) asks it, inside the transaction that queues the send.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from bot.storage.db import Database
from bot.wording import plural


@dataclass(frozen=True)
class SpendToday:
    """One user's and the bot's credits counted today, against the limits (None: no limit)."""

    user_used: int
    user_limit: int | None
    bot_used: int
    bot_limit: int | None
    resets_at: float
    timezone: str = "UTC"


class SpendLimits:
    def __init__(
        self,
        db: Database,
        *,
        user_limit: int | None,
        bot_limit: int | None,
        timezone: str,
        ask: Callable[[], str] = lambda: "ask whoever runs smsbot",
    ) -> None:
        self.db, self.user_limit, self.bot_limit = db, user_limit, bot_limit
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.ask = ask

    def day(self, now: float) -> tuple[float, float]:
        """(start, end) of the day ``now`` is in, in SMSBOT_TIMEZONE (23 or 25 hours on a DST change)."""
        local = dt.datetime.fromtimestamp(now, self.tz)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start + dt.timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=self.tz)
        return start.timestamp(), end.timestamp()

    def used(self, start: float, end: float, user_id: str | None = None, conn: sqlite3.Connection | None = None) -> int:
        """Credits counted between the two times, for one user or (None) everyone."""
        # Only the rows of those times are read (the partial indexes charges_user_day and charges_day).
        sql = (
            "SELECT coalesce(sum(credits), 0) FROM charges "
            "WHERE released_at IS NULL AND counted_at >= ? AND counted_at < ?"
        )
        params: tuple = (start, end)
        if user_id is not None:
            sql, params = sql + " AND user_id = ?", params + (user_id,)
        return int((conn or self.db.conn).execute(sql, params).fetchone()[0])

    def today(self, user_id: str, now: float, conn: sqlite3.Connection | None = None) -> SpendToday:
        start, end = self.day(now)
        return SpendToday(
            self.used(start, end, user_id, conn),
            self.user_limit,
            self.used(start, end, None, conn) if self.bot_limit is not None else 0,
            self.bot_limit,
            end,
            self.tz.key,
        )

    def exceeded(self, user_id: str, at: float, conn: sqlite3.Connection | None = None) -> str | None:
        """For a send already counted on the day of ``at`` (a scheduled one, reaching its time): None
        while that day stays within the limits, else why it may not go (a limit was lowered since)."""
        if self.user_limit is None and self.bot_limit is None:
            return None
        spend = self.today(user_id, at, conn)
        if spend.user_limit is not None and spend.user_used > spend.user_limit:
            return (
                f"not sent: its requester's credits for that day ({spend.user_used}) are over the daily limit "
                f"of {spend.user_limit} (SMSBOT_DAILY_LIMIT_USER), which was lowered after it was scheduled"
            )
        if spend.bot_limit is not None and spend.bot_used > spend.bot_limit:
            return (
                f"not sent: smsbot's credits for that day ({spend.bot_used}) are over the daily limit of "
                f"{spend.bot_limit} (SMSBOT_DAILY_LIMIT), which was lowered after it was scheduled"
            )
        return None

    def check(
        self, user_id: str, credits: int, now: float, conn: sqlite3.Connection | None = None, *, scheduled: bool = False
    ) -> str | None:
        """None when a send of ``credits`` fits the limits of the day of ``now``; else the sentence refusing
        it: how many credits are left that day, when the limit resets and whom to ask. ``scheduled``: ``now``
        is the send's scheduled time, a day of its own (not today)."""
        if self.user_limit is None and self.bot_limit is None:
            return None
        spend = self.today(user_id, now, conn)
        if scheduled:
            day = f"on {dt.datetime.fromtimestamp(now, self.tz):%Y-%m-%d}, the day it is scheduled for"
            after = "Schedule it for another day, or send to fewer people or a shorter text"
        else:
            day, after = "today", f"{self._reset(spend.resets_at, now)} Send to fewer people or a shorter text"
        if spend.user_limit is not None and spend.user_used + credits > spend.user_limit:
            left = max(0, spend.user_limit - spend.user_used)
            return (
                f"This send needs {plural(credits, 'credit')}, but you have {left} of your daily limit of "
                f"{spend.user_limit} left {day} (SMSBOT_DAILY_LIMIT_USER). {after}, or {self.ask()} to "
                "raise the limit."
            )
        if spend.bot_limit is not None and spend.bot_used + credits > spend.bot_limit:
            left = max(0, spend.bot_limit - spend.bot_used)
            return (
                f"This send needs {plural(credits, 'credit')}, but smsbot as a whole has {left} of its daily "
                f"limit of {spend.bot_limit} left {day} (SMSBOT_DAILY_LIMIT). {after}, or {self.ask()} to "
                "raise the limit."
            )
        return None

    def _reset(self, resets_at: float, now: float) -> str:
        local = dt.datetime.fromtimestamp(resets_at, self.tz)
        minutes = max(1, int((resets_at - now + 59) // 60))
        return (
            f"The limit resets at midnight, {local:%Y-%m-%d %H:%M} {self.tz.key} time "
            f"(in {minutes // 60} h {minutes % 60} min)."
        )
