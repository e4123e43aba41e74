"""When a scheduled send is due: ``--at WHEN`` read in the team's time zone. No I/O.

WHEN is ``HH:MM`` (the next such time), ``tomorrow HH:MM``, ``YYYY-MM-DD HH:MM``, ``in 90m`` or
``in 2h``. A local time skipped by a daylight-saving change is refused (``HH:MM`` skipped earlier
today has passed, so it is tomorrow's); one that occurs twice takes the earlier. Every refusal is a
ScheduleError whose text says how to fix it.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

MAX_AHEAD_DAYS = 90
FORMS = "`HH:MM`, `tomorrow HH:MM`, `YYYY-MM-DD HH:MM`, `in 90m` or `in 2h`"

_TIME = r"([01]?[0-9]|2[0-3]):([0-5][0-9])"
_PATTERNS = [  # (regex over the start of the arguments, kind)
    (re.compile(r"in\s+([0-9]{1,5})\s*(m|min|mins|minutes?|h|hours?)(?=\s|$)", re.I), "in"),
    (re.compile(rf"tomorrow\s+{_TIME}(?=\s|$)", re.I), "tomorrow"),
    (re.compile(rf"([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})[ T]{_TIME}(?=\s|$)"), "date"),
    (re.compile(rf"{_TIME}(?=\s|$)"), "time"),
]


class ScheduleError(ValueError):
    """WHEN cannot be used; str() says why and how to write it."""


def split_at(args: str) -> tuple[str, str] | None:
    """``--at WHEN rest`` → (WHEN, rest); None when the arguments do not start with ``--at``.
    ScheduleError when ``--at`` is followed by something that is not a WHEN."""
    match = re.match(r"\s*(?:--at|—at|–at)(?:\s+|$)", args)
    if match is None:
        return None
    rest = args[match.end() :]
    for pattern, _ in _PATTERNS:
        found = pattern.match(rest)
        if found:
            return found.group(0), rest[found.end() :].lstrip()
    word = rest.split(None, 1)[0] if rest.strip() else "nothing"
    raise ScheduleError(
        f"I can't read ‘{word[:30]}’ as a time after `--at`: use {FORMS}, "
        "e.g. `/sms send --at tomorrow 07:00 27831234567 Reminder`."
    )


_FIRST_WORD = re.compile(r"\s*([^ \t\r\n]+)[ \t\r\n]+(.*)", re.S)  # the recipients, then the rest


def take_at(args: str) -> tuple[str | None, str]:
    """``--at WHEN`` where it may stand, before the recipients or right after them (before the text):
    (WHEN, the arguments without it), or (None, args) when there is none. ScheduleError when WHEN is
    not a time or ``--at`` is given twice, so a text never goes out starting with ``--at``."""
    first = split_at(args)
    when, rest = first if first is not None else (None, args)
    found = _FIRST_WORD.match(rest)
    later = split_at(found.group(2)) if found else None
    if found is None or later is None:  # no later without found
        return when, rest
    if when is not None:
        raise ScheduleError(
            "`--at` is given twice: give one time, before the numbers or right after them, "
            "e.g. `/sms send 27831234567 --at 17:00 Meeting moved`."
        )
    return later[0], f"{found.group(1)} {later[1]}"


def due_time(when: str, now: float, zone_name: str) -> float:
    """The epoch time WHEN names, read in ``zone_name``; ScheduleError if it can't be used."""
    zone = zoneinfo.ZoneInfo(zone_name)
    read = next(((m, kind) for pattern, kind in _PATTERNS if (m := pattern.fullmatch(when.strip()))), None)
    if read is None:
        raise ScheduleError(f"I can't read ‘{when[:30]}’ as a time: use {FORMS}.")
    found, kind = read
    g = found.groups()
    if kind == "in":
        amount = int(g[0]) * (3600 if g[1].lower().startswith("h") else 60)
        return _bounded(now + amount, now, zone, when)
    today = dt.datetime.fromtimestamp(now, zone).date()
    if kind == "date":
        try:
            day = dt.date(int(g[0]), int(g[1]), int(g[2]))
        except ValueError:
            raise ScheduleError(f"{g[0]}-{g[1]}-{g[2]} is not a date: write it as YYYY-MM-DD.") from None
        hour, minute = int(g[3]), int(g[4])
    else:
        hour, minute = int(g[-2]), int(g[-1])
        day = today + dt.timedelta(days=1) if kind == "tomorrow" else today
    at = _next_time(today, hour, minute, now, zone) if kind == "time" else _local(day, hour, minute, zone)
    return _bounded(at, now, zone, when)


def _next_time(today: dt.date, hour: int, minute: int, now: float, zone: zoneinfo.ZoneInfo) -> float:
    """``HH:MM`` alone: today's if still to come, else tomorrow's. A time the clocks skipped earlier
    today has passed like any other, so it rolls to tomorrow rather than being refused."""
    wall_now = dt.datetime.fromtimestamp(now, zone).replace(tzinfo=None)
    if dt.datetime.combine(today, dt.time(hour, minute)) > wall_now:
        at = _local(today, hour, minute, zone)
        if at > now:  # else: the hour that repeats as the clocks go back, already past
            return at
    return _local(today + dt.timedelta(days=1), hour, minute, zone)


def _local(day: dt.date, hour: int, minute: int, zone: zoneinfo.ZoneInfo) -> float:
    """A wall-clock time in ``zone`` as epoch seconds: the earlier of two, none if the clocks skip it."""
    naive = dt.datetime(day.year, day.month, day.day, hour, minute)
    earlier = naive.replace(tzinfo=zone, fold=0)
    back = dt.datetime.fromtimestamp(earlier.timestamp(), zone).replace(tzinfo=None)
    if back != naive:
        raise ScheduleError(
            f"{day:%Y-%m-%d} {hour:02d}:{minute:02d} does not exist in {zone.key}: the clocks "
            "skip it for daylight saving. Choose a time an hour later or earlier."
        )
    return earlier.timestamp()


def _bounded(at: float, now: float, zone: zoneinfo.ZoneInfo, when: str) -> float:
    if at <= now:
        shown = dt.datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M")
        raise ScheduleError(f"‘{when}’ ({shown} {zone.key}) is in the past: give a time still to come.")
    if at - now > MAX_AHEAD_DAYS * 86400:
        raise ScheduleError(
            f"‘{when}’ is more than {MAX_AHEAD_DAYS} days ahead: smsbot schedules up to "
            f"{MAX_AHEAD_DAYS} days ahead. Schedule it later, nearer the time."
        )
    return at


def local_text(at: float, zone_name: str) -> str:
    """``2026-11-26 07:00 SAST`` in the team's zone (a fallback where Slack's date token isn't shown)."""
    return dt.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M %Z")
