"""The balance watch: one check at a time with an injected clock, against a gateway stub
(responses) and a real migrated database."""

import datetime as dt
import json
import logging
import sqlite3
import threading
import time
from decimal import Decimal

import pytest
import requests
import responses

from bot.sms.gateway import SmsOfficeClient
from bot.workers.balancewatch import THREAD_NAME, BalanceWatch
from tests.conftest import GATEWAY_PASSWORD, Clock

API = "http://gw.test/sms/api/"
BALANCE_URL = API + "balance.asp"
DAY = 86400.0
NOW = dt.datetime(2024, 5, 10, 12, 0).timestamp()  # local noon
INTERVAL = 900
THRESHOLD = Decimal("100")


@pytest.fixture
def alerts():
    """What the watch raised, as (kind, data) after a JSON round trip (the outbox stores JSON)."""
    return []


@pytest.fixture
def record_alert(alerts):
    def record(conn, kind, data):
        assert conn.in_transaction, "an alert must be stored with the state that raised it"
        alerts.append((kind, json.loads(json.dumps(data))))

    return record


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def make_watch(db, clock, record_alert):
    def make(channel="C0ALERTS", alert=record_alert, interval=INTERVAL):
        client = SmsOfficeClient(API, "acme", GATEWAY_PASSWORD, read_timeout=2)
        return BalanceWatch(
            db, client, threshold=THRESHOLD, interval=interval, alert_channel=channel, alert=alert, clock=clock
        )

    return make


def check(watch, clock, body="500.00", status=200):
    """One scheduled run, one interval after the previous, with the gateway answering ``body``."""
    responses.upsert(responses.GET, BALANCE_URL, body=body, status=status)
    clock.t += INTERVAL
    watch.check()


def kinds(alerts):
    return [kind for kind, _ in alerts]


def history(db):
    return [
        dict(row)
        for row in db.conn.execute("SELECT checked_at, balance, outcome, error FROM balance_history ORDER BY id")
    ]


def sent_sms(queue, at, parts, recipients=1, status="sent"):
    """``recipients`` messages of ``parts`` parts each, sent (or failed) at ``at``."""
    batch = {"user_id": "U1", "origin": "test", "text": "Generator running", "encoding": "GSM-7", "parts": parts}
    with queue.db.transaction() as conn:
        queue.enqueue(conn, batch, [f"2783123{n:04d}" for n in range(recipients)], at)
    for _ in range(recipients):
        row = queue.claim(at)
        with queue.db.transaction() as conn:
            if status == "sent":
                queue.mark_sent(conn, row["id"], str(900000 + row["id"]), at)
            else:
                queue.mark_failed(conn, row["id"], "Not enough credits", at)


def refused_for_credits(watch, db, clock):
    """The sender's transaction after a send got "Error: Not enough credits"."""
    with db.transaction() as conn:
        watch.not_enough_credits(conn, clock())


# -- recording ------------------------------------------------------------------------------------------
@responses.activate
def test_every_check_is_recorded_with_its_time_outcome_and_a_log_line(db, make_watch, clock, caplog):
    watch = make_watch()
    caplog.set_level(logging.INFO, logger="bot.workers.balancewatch")
    answers = [
        ("1,234.50", 200),
        ("Error: Login Failed", 200),
        ("", 503),
        (requests.ConnectionError("connection reset"), 200),
        ("<html>maintenance</html>", 200),
    ]
    times = []
    for body, status in answers:
        check(watch, clock, body, status)
        times.append(clock.t)
    rows = history(db)
    assert [r["checked_at"] for r in rows] == times
    assert [r["outcome"] for r in rows] == ["ok", "login_failed", "unreachable", "unreachable", "error"]
    assert rows[0]["balance"] == 1234.5 and rows[0]["error"] is None
    assert all(r["balance"] is None for r in rows[1:])
    assert "SMSOFFICE_USERNAME" in rows[1]["error"] and "HTTP 503" in rows[2]["error"]
    assert "maintenance" in rows[4]["error"]
    assert not any(GATEWAY_PASSWORD in (r["error"] or "") for r in rows)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=balance_check ")]
    assert len(lines) == len(answers)
    assert "outcome=ok balance=1234.50" in lines[0] and "outcome=unreachable balance=-" in lines[2]


@responses.activate
def test_a_check_never_raises_into_the_scheduler_and_records_the_crash(db, make_watch, clock, monkeypatch):
    watch = make_watch()

    def broken():
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(watch.gateway, "balance", broken)
    watch.check()
    row = history(db)[0]
    assert row["outcome"] == "error" and row["error"] == "RuntimeError: parser exploded"


# -- low balance ----------------------------------------------------------------------------------------
@responses.activate
def test_several_low_checks_raise_one_alert_carrying_balance_threshold_and_forecast(
    db, queue, make_watch, clock, alerts
):
    watch = make_watch()
    responses.upsert(responses.GET, BALANCE_URL, body="127.00")
    watch.check(now=NOW - 7 * DAY)  # a week ago: fine, no alert
    sent_sms(queue, NOW - 2 * DAY, parts=2, recipients=35)
    responses.upsert(responses.GET, BALANCE_URL, body="57.00")
    watch.check(now=NOW)
    for body in ("55.00", "40.00", "12.00"):
        check(watch, clock, body)
    assert kinds(alerts) == ["low_balance"]
    data = alerts[0][1]
    per_day = Decimal(70) / 7  # 70 credits over the 7 days observed
    assert data["balance"] == "57.00" and Decimal(data["threshold"]) == THRESHOLD
    assert Decimal(data["per_day"]) == per_day
    assert data["days_left"] == pytest.approx(float(Decimal("57.00") / per_day))


@responses.activate
def test_a_top_up_rearms_with_a_notice_and_the_next_drop_alerts_again(db, make_watch, clock, alerts):
    watch = make_watch()
    for body in ("57.00", "500.00", "500.00", "80.00", "70.00"):
        check(watch, clock, body)
    assert kinds(alerts) == ["low_balance", "topped_up", "low_balance"]
    assert alerts[1][1] == {"balance": "500.00", "threshold": str(THRESHOLD)}
    assert alerts[2][1]["balance"] == "80.00"


@responses.activate
def test_a_balance_at_or_above_the_threshold_raises_nothing(db, make_watch, clock, alerts):
    watch = make_watch()
    for body in ("500.00", f"{THRESHOLD:.2f}", "250.00"):
        check(watch, clock, body)
    assert alerts == []  # no "topped up" without a low alert before it


@responses.activate
def test_a_restart_neither_repeats_nor_forgets_the_alert(db, make_watch, clock, alerts):
    check(make_watch(), clock, "57.00")
    assert kinds(alerts) == ["low_balance"]
    restarted = make_watch()  # a new process over the same database
    check(restarted, clock, "50.00")
    assert kinds(alerts) == ["low_balance"]
    check(make_watch(), clock, "300.00")
    assert kinds(alerts) == ["low_balance", "topped_up"]


@responses.activate
def test_an_alert_that_could_not_be_stored_is_raised_at_the_next_check(db, make_watch, clock, alerts, record_alert):
    failures = [RuntimeError("database is locked")]

    def flaky(conn, kind, data):
        if failures:
            raise failures.pop()
        record_alert(conn, kind, data)

    watch = make_watch(alert=flaky)
    check(watch, clock, "57.00")  # must not raise into the scheduler
    check(watch, clock, "56.00")
    assert kinds(alerts) == ["low_balance"] and alerts[0][1]["balance"] == "56.00"
    assert [r["outcome"] for r in history(db)] == ["error", "ok"]
    assert "database is locked" in history(db)[0]["error"]


# -- login and reachability ---------------------------------------------------------------------------
@responses.activate
def test_refused_credentials_alert_once_naming_the_settings_then_login_ok_rearms(db, make_watch, clock, alerts):
    watch = make_watch()
    for body in ("Error: Login Failed",) * 3:
        check(watch, clock, body)
    assert kinds(alerts) == ["login_failed"]
    data = alerts[0][1]
    assert data["settings"] == ["SMSOFFICE_USERNAME", "SMSOFFICE_PASSWORD"]
    assert "Login Failed" in data["error"]
    check(watch, clock, "500.00")
    check(watch, clock, "Error: Login Failed")
    assert kinds(alerts) == ["login_failed", "login_ok", "login_failed"]


@responses.activate
def test_an_unreachable_gateway_alerts_on_the_third_failed_check_once_then_reachable(db, make_watch, clock, alerts):
    watch = make_watch()
    check(watch, clock, "", status=503)
    check(watch, clock, requests.ConnectionError("connection refused"))
    assert alerts == []
    check(watch, clock, "<html>bad gateway page</html>")  # any non-login gateway error counts
    check(watch, clock, "", status=503)
    assert kinds(alerts) == ["unreachable"]
    assert alerts[0][1]["checks"] == 3 and "bad gateway page" in alerts[0][1]["error"]
    check(watch, clock, "500.00")
    check(watch, clock, "500.00")
    assert kinds(alerts) == ["unreachable", "reachable"]


@responses.activate
def test_a_good_check_in_between_breaks_the_unreachable_streak(db, make_watch, clock, alerts):
    watch = make_watch()
    for body, status in [("", 503), ("", 503), ("500.00", 200), ("", 503), ("", 503)]:
        check(watch, clock, body, status)
    assert alerts == []


# -- out of credits -------------------------------------------------------------------------------------
@responses.activate
def test_not_enough_credits_alerts_once_per_episode_until_a_top_up_is_seen(db, make_watch, clock, alerts):
    watch = make_watch()
    check(watch, clock, "0.50")
    refused_for_credits(watch, db, clock)
    refused_for_credits(watch, db, clock)
    check(watch, clock, "0.50")  # still empty: the same episode
    refused_for_credits(watch, db, clock)
    assert kinds(alerts) == ["low_balance", "out_of_credits"]
    assert alerts[1][1]["balance"] == "0.50"
    check(watch, clock, "40.00")  # topped up, though still below the threshold
    refused_for_credits(watch, db, clock)
    assert kinds(alerts) == ["low_balance", "out_of_credits", "out_of_credits"]
    assert alerts[2][1]["balance"] == "40.00"


@responses.activate
def test_a_balance_at_the_threshold_ends_an_out_of_credits_episode(db, make_watch, clock, alerts):
    watch = make_watch()
    refused_for_credits(watch, db, clock)  # before any check: no balance known yet
    assert alerts == [("out_of_credits", {"balance": None, "at": clock.t})]
    check(watch, clock, "150.00")
    refused_for_credits(watch, db, clock)
    assert kinds(alerts) == ["out_of_credits", "out_of_credits"]


# -- without an alert channel ---------------------------------------------------------------------------
@responses.activate
def test_without_an_alert_channel_history_is_kept_and_no_alerts_are_raised(db, make_watch, clock, alerts):
    watch = make_watch(channel=None)
    for body, status in [("57.00", 200), ("Error: Login Failed", 200), ("", 503), ("", 503), ("", 503)]:
        check(watch, clock, body, status)
    refused_for_credits(watch, db, clock)
    assert alerts == []
    assert [r["outcome"] for r in history(db)] == ["ok", "login_failed"] + ["unreachable"] * 3
    # configured later: the drop that is still going on is reported then
    check(make_watch(), clock, "50.00")
    assert kinds(alerts) == ["low_balance"]


# -- usage ----------------------------------------------------------------------------------------------
def test_usage_counts_sent_sms_since_local_midnight_and_over_the_week(db, queue, make_watch):
    midnight = dt.datetime(2024, 5, 10).timestamp()
    sent_sms(queue, midnight - 3600, parts=3)  # yesterday 23:00
    sent_sms(queue, midnight + 8 * 3600, parts=2)  # today 08:00
    sent_sms(queue, midnight + 9 * 3600, parts=4, status="failed")  # refused: cost nothing
    usage = make_watch().usage(now=NOW, balance=Decimal("40"))
    assert (usage.spent_today, usage.spent_7d) == (2, 5)
    assert usage.per_day == 5  # 13 hours observed count as a day
    assert usage.days_left == pytest.approx(8.0)


# -- the scheduler ----------------------------------------------------------------------------------------
def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        threading.Event().wait(0.01)


@responses.activate
def test_start_checks_once_at_start_up_and_stop_returns_without_waiting_for_a_slow_check(db, make_watch, caplog):
    caplog.set_level(logging.INFO, logger="bot.workers.balancewatch")
    started, release = threading.Event(), threading.Event()

    def slow_gateway(request):
        started.set()
        release.wait(5)
        return 200, {}, "500.00"

    responses.add_callback(responses.GET, BALANCE_URL, callback=slow_gateway)
    watch = make_watch(interval=3600)
    watch.start()
    try:
        assert started.wait(5), "no check at start-up"
        assert watch.is_alive() and THREAD_NAME in [t.name for t in threading.enumerate()]
        began = time.monotonic()
        watch.stop()
        assert time.monotonic() - began < 1.0
    finally:
        release.set()
    # the check cut off by stop() writes nothing: its answer came after the watch stopped
    wait_for(lambda: "event=balance_check_abandoned" in caplog.text)
    assert history(db) == [] and len(responses.calls) == 1


@responses.activate
def test_start_without_an_alert_channel_warns_once_and_still_checks(db, make_watch, caplog):
    responses.upsert(responses.GET, BALANCE_URL, body="57.00")
    watch = make_watch(channel=None, interval=3600)
    with caplog.at_level(logging.WARNING, logger="bot.workers.balancewatch"):
        watch.start()
        try:
            wait_for(lambda: history(db))
        finally:
            watch.stop()
    warnings = [r for r in caplog.records if r.name == "bot.workers.balancewatch" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "SMSBOT_ALERT_CHANNEL" in warnings[0].getMessage()
    assert history(db)[0]["balance"] == 57.0


@responses.activate
def test_with_a_zero_threshold_reaching_zero_is_no_top_up(db, clock, record_alert, alerts):
    client = SmsOfficeClient(API, "acme", GATEWAY_PASSWORD, read_timeout=2)
    watch = BalanceWatch(
        db, client, threshold=Decimal("0"), interval=INTERVAL, alert_channel="C0ALERTS", alert=record_alert, clock=clock
    )
    for body in ("-5.00", "0.00", "0.00"):
        check(watch, clock, body)
    assert kinds(alerts) == ["low_balance"]  # no "credits topped up: 0.00 left"
    check(watch, clock, "20.00")
    assert kinds(alerts) == ["low_balance", "topped_up"] and alerts[1][1]["balance"] == "20.00"


@responses.activate
def test_reaching_exactly_the_threshold_is_no_top_up_yet(db, make_watch, clock, alerts):
    watch = make_watch()
    for body in ("57.00", f"{THRESHOLD:.2f}", "101.00"):
        check(watch, clock, body)
    assert kinds(alerts) == ["low_balance", "topped_up"] and alerts[1][1]["balance"] == "101.00"


@responses.activate
def test_the_checks_go_on_when_the_system_clock_steps_back_an_hour(db, make_watch, clock):
    """The wall clock (which dates the checks) steps back 1 h after the first check: the next checks
    still come one interval apart, since they are timed on the monotonic clock."""
    responses.upsert(responses.GET, BALANCE_URL, body="500.00")
    watch = make_watch(interval=1)
    watch.start()
    try:
        wait_for(lambda: len(history(db)) == 1)
        clock.t -= 3600  # `date -s` an hour back, or an NTP step
        began = time.monotonic()
        wait_for(lambda: len(history(db)) == 3, seconds=4)
        assert 1.5 <= time.monotonic() - began <= 3.5  # two more, one interval apart
        assert [row["checked_at"] for row in history(db)] == [NOW, NOW - 3600, NOW - 3600]
        age, overdue = watch.overdue()
        assert age is not None and age < 1.5 and not overdue
    finally:
        watch.stop()
        assert watch.wait_idle(5)
    assert not watch.is_alive()


@responses.activate
def test_a_check_far_past_its_interval_is_overdue_on_the_monotonic_clock(db, clock, record_alert):
    """Three intervals and a minute without a check make the watch overdue (/healthz turns 503)."""
    responses.upsert(responses.GET, BALANCE_URL, body="500.00")
    monotonic = Clock(50.0)
    client = SmsOfficeClient(API, "acme", GATEWAY_PASSWORD, read_timeout=2)
    watch = BalanceWatch(
        db,
        client,
        threshold=THRESHOLD,
        interval=600,
        alert_channel=None,
        alert=record_alert,
        clock=clock,
        monotonic=monotonic,
    )
    assert watch.overdue() == (None, False)  # not started
    watch.start()
    try:
        wait_for(lambda: len(history(db)) == 1)
        assert watch.overdue() == (0.0, False)
        monotonic.t += 3 * 600 + 60
        assert watch.overdue() == (1860.0, False)
        clock.t -= 7200  # the wall clock plays no part
        monotonic.t += 1
        assert watch.overdue() == (1861.0, True)
    finally:
        watch.stop()
        watch.wait_idle(5)


@responses.activate
def test_a_locked_database_costs_one_line_per_check_and_no_traceback(db, make_watch, clock, caplog, tmp_path):

    responses.upsert(responses.GET, BALANCE_URL, body="500.00")
    watch = make_watch()
    holder = sqlite3.connect(str(tmp_path / "smsbot.db"), isolation_level=None, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the database
    try:
        with caplog.at_level(logging.WARNING, logger="bot.workers.balancewatch"), db.patience(0.2):
            watch.check()
    finally:
        holder.close()
    lines = [r for r in caplog.records if r.name == "bot.workers.balancewatch"]
    assert len(lines) == 1 and "event=balance_check_not_recorded" in lines[0].getMessage()
    assert "busy" in lines[0].getMessage() and not lines[0].exc_info
    assert history(db) == []


@responses.activate
def test_the_balance_a_send_is_held_against_is_read_at_most_every_two_seconds_and_own_checks_at_once(db, clock):
    ticks = Clock(100.0)
    client = SmsOfficeClient(API, "acme", GATEWAY_PASSWORD, read_timeout=2)
    quiet = {"alert_channel": None, "alert": lambda *args: None}
    watch = BalanceWatch(db, client, threshold=THRESHOLD, interval=INTERVAL, clock=clock, monotonic=ticks, **quiet)
    assert watch.recent_balance() is None
    check(watch, clock, "500.00")
    assert watch.recent_balance() == (Decimal("500.00"), clock.t)  # its own check: at once
    leader = BalanceWatch(db, client, threshold=THRESHOLD, interval=INTERVAL, clock=clock, **quiet)  # another one
    check(leader, clock, "20.00")
    assert watch.recent_balance()[0] == Decimal("500.00")  # read 0 s ago: not read again
    ticks.t += 2.0
    assert watch.recent_balance() == (Decimal("20.00"), clock.t)  # two seconds on: the leader's check
    assert watch.last_balance() == watch.recent_balance()  # what /sms balance shows is never remembered
