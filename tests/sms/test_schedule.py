"""`--at WHEN` read in the team's time zone: across midnight, daylight saving, bounds."""

import datetime as dt

import pytest

from bot.sms.schedule import ScheduleError, due_time, split_at

UTC = dt.timezone.utc


def utc(*args) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


def test_hh_mm_is_the_next_such_time_across_midnight_in_johannesburg():
    now = utc(2026, 11, 25, 21, 30)  # 23:30 SAST (UTC+2, no daylight saving)
    assert due_time("00:15", now, "Africa/Johannesburg") == utc(2026, 11, 25, 22, 15)  # 00:15 tomorrow
    assert due_time("23:45", now, "Africa/Johannesburg") == utc(2026, 11, 25, 21, 45)  # still today
    assert due_time("23:30", now, "Africa/Johannesburg") == utc(2026, 11, 26, 21, 30)  # now: tomorrow's
    assert due_time("tomorrow 07:00", now, "Africa/Johannesburg") == utc(2026, 11, 26, 5, 0)
    assert due_time("2026-12-01 07:00", now, "Africa/Johannesburg") == utc(2026, 12, 1, 5, 0)
    assert due_time("in 90m", now, "Africa/Johannesburg") == now + 5400
    assert due_time("in 2h", now, "Africa/Johannesburg") == now + 7200


def test_across_midnight_in_london_when_the_clocks_go_forward():
    now = utc(2026, 3, 28, 23, 30)  # 23:30 GMT; at 01:00 tonight the clocks jump to 02:00 BST
    assert due_time("00:30", now, "Europe/London") == utc(2026, 3, 29, 0, 30)
    assert due_time("tomorrow 09:00", now, "Europe/London") == utc(2026, 3, 29, 8, 0)  # BST now
    with pytest.raises(ScheduleError) as skipped:
        due_time("01:30", now, "Europe/London")
    assert "does not exist in Europe/London" in str(skipped.value) and "daylight saving" in str(skipped.value)


def test_hh_mm_skipped_earlier_today_by_the_clocks_is_tomorrows():
    now = utc(2027, 3, 28, 10, 0)  # 11:00 BST on the day the clocks went from 01:00 to 02:00
    assert due_time("01:30", now, "Europe/London") == utc(2027, 3, 29, 0, 30)  # 01:30 BST tomorrow


def test_a_time_that_occurs_twice_takes_the_earlier():
    now = utc(2026, 10, 24, 22, 0)  # 23:00 BST; at 02:00 BST tomorrow the clocks go back to 01:00 GMT
    assert due_time("2026-10-25 01:30", now, "Europe/London") == utc(2026, 10, 25, 0, 30)  # 01:30 BST


def test_past_and_more_than_90_days_ahead_are_refused_with_a_sentence():
    now = utc(2026, 11, 25, 10, 0)
    with pytest.raises(ScheduleError) as past:
        due_time("2026-11-24 09:00", now, "Africa/Johannesburg")
    assert "in the past" in str(past.value)
    with pytest.raises(ScheduleError) as far:
        due_time("2027-03-01 09:00", now, "Africa/Johannesburg")
    assert "90 days" in str(far.value)
    with pytest.raises(ScheduleError) as nonsense:
        due_time("2026-02-30 09:00", now, "Africa/Johannesburg")
    assert "not a date" in str(nonsense.value)


def test_split_at_reads_each_form_and_refuses_what_is_not_a_time():
    assert split_at("--at 07:00 27831234567 Hi") == ("07:00", "27831234567 Hi")
    assert split_at("--at tomorrow 07:00 oncall Hi there") == ("tomorrow 07:00", "oncall Hi there")
    assert split_at("--at 2026-12-01 07:00 27831234567 Hi") == ("2026-12-01 07:00", "27831234567 Hi")
    assert split_at("--at in 90m 27831234567 Hi") == ("in 90m", "27831234567 Hi")
    assert split_at("27831234567 Hi --at 07:00") is None
    with pytest.raises(ScheduleError) as bad:
        split_at("--at 7pm 27831234567 Hi")
    assert "`HH:MM`" in str(bad.value) and "‘7pm’" in str(bad.value)
