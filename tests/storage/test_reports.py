"""Delivery reports through the real callback route, with the fake Slack showing the result."""

import json

import pytest
import requests

from bot.runtime import Bot
from bot.slack.notices import DIGEST_SECONDS
from bot.storage.errors import OperationalError
from bot.storage.reports import ReportIntake
from bot.web.routes import CALLBACK_PREFIX
from tests.conftest import inserts_refused, wait_for, writes_held


@pytest.fixture
def sent(slack_driver, bot, simulator):
    """One SMS sent to 27831234567, its status message posted; returns its tracking number."""
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.pump()
    return simulator.messages[0].id


def report(bot, tracking, status, *, to="27831234567", method="get", secret=None, **extra):
    params = {
        "messageid": tracking,
        "to": to,
        "from": "ACMEOPS",
        "StatusID": str(status),
        "statusMessage": {
            100: "Submitted to gateway",
            200: "Delivered to Mobile",
            300: "Delivery Failed",
            400: "Route not available",
        }.get(status, "Odd"),
        **extra,
    }
    url = bot.server.url + CALLBACK_PREFIX + (secret or bot.callback_secret)
    if method == "get":
        return requests.get(url, params=params, timeout=5)
    return requests.post(url, data=params, timeout=5)


def thread_texts(bot, fake_slack):
    batch = bot.posts.batch(1)
    return [r["text"] for r in fake_slack.thread(batch["status_channel"], batch["status_ts"])]


def outcomes(bot):
    return [r["outcome"] for r in bot.db.conn.execute("SELECT outcome FROM reports ORDER BY id")]


def applied(bot):
    """The outcomes once the leader's applier has applied every report taken in."""
    while bot.applier.run_once():
        pass
    return outcomes(bot)


def test_the_callback_answers_once_the_report_is_stored_and_the_leader_applies_it_after(
    sent, slack_driver, bot, fake_slack
):
    assert report(bot, sent, 200).status_code == 200
    assert outcomes(bot) == ["pending"]  # stored: the gateway need not send it again
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] is None and thread_texts(bot, fake_slack) == []
    assert bot.reports.pending()[0] == 1
    slack_driver.pump()  # the leader's applier, then its notifier
    assert outcomes(bot) == ["applied"] and bot.reports.pending() == (0, None)
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] == 200
    assert "Delivered to 27831234567" in thread_texts(bot, fake_slack)[0]


def test_reports_move_the_status_and_reply_in_the_thread(sent, slack_driver, bot, fake_slack):
    assert report(bot, sent, 100).status_code == 200
    assert report(bot, sent, 200, method="post").status_code == 200
    slack_driver.pump()
    replies = thread_texts(bot, fake_slack)
    assert len(replies) == 2
    assert "Submitted to the network for 27831234567" in replies[0]
    assert "Delivered to 27831234567" in replies[1]
    status = fake_slack.messages["C0GENERAL"][0]
    assert "delivered" in json.dumps(status["blocks"])
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] == 200


def test_parameter_names_match_case_insensitively(sent, slack_driver, bot):
    url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
    r = requests.get(url, params={"MESSAGEID": sent, "statusid": "200", "TO": "27831234567"}, timeout=5)
    assert r.status_code == 200 and applied(bot) == ["applied"]


def test_replays_and_duplicates_post_nothing_more(sent, slack_driver, bot, fake_slack):
    for _ in range(3):
        assert report(bot, sent, 200).status_code == 200
    slack_driver.pump()
    assert len(thread_texts(bot, fake_slack)) == 1
    assert outcomes(bot) == ["applied", "duplicate", "duplicate"]  # every report is kept


def test_a_late_submitted_after_delivered_is_recorded_but_changes_nothing(sent, slack_driver, bot, fake_slack):
    report(bot, sent, 200)
    report(bot, sent, 100)
    report(bot, sent, 300)  # a second final status does not overturn the first
    slack_driver.pump()
    assert outcomes(bot) == ["applied", "stale", "stale"]
    assert len(thread_texts(bot, fake_slack)) == 1
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] == 200


def test_failures_are_worded_so_a_person_knows_what_to_do(sent, slack_driver, bot, fake_slack):
    report(bot, sent, 300)
    slack_driver.pump()
    reply = thread_texts(bot, fake_slack)[0]
    assert "Delivery to 27831234567 failed" in reply and "check the number" in reply and "<@U0USER>" in reply
    assert "1 failed" in fake_slack.messages["C0GENERAL"][0]["text"] or "delivery failed" in json.dumps(
        fake_slack.messages["C0GENERAL"][0]["blocks"]
    )


def test_an_unknown_status_id_is_shown_with_its_raw_message(sent, slack_driver, bot, fake_slack):
    report(bot, sent, 150, statusMessage="Queued at SMSC")
    slack_driver.pump()
    assert "Queued at SMSC" in thread_texts(bot, fake_slack)[0]
    assert "Queued at SMSC" in json.dumps(fake_slack.messages["C0GENERAL"][0]["blocks"])


def test_an_unknown_id_gets_200_is_kept_and_logged_at_info_not_as_a_warning(bot, caplog):
    caplog.set_level("INFO")
    assert report(bot, "999999", 200).status_code == 200
    assert applied(bot) == ["unmatched"]
    [line] = [r for r in caplog.records if "event=report_unmatched tracking=999999" in r.getMessage()]
    assert line.levelname == "INFO"


def test_a_wrong_or_missing_secret_gets_404_and_stores_nothing(bot, caplog):
    assert report(bot, "1", 200, secret="not-the-secret-at-all").status_code == 404
    assert requests.get(bot.server.url + CALLBACK_PREFIX, timeout=5).status_code == 404
    assert requests.get(bot.server.url + "/sms/dlr", timeout=5).status_code == 404
    assert outcomes(bot) == []
    assert bot.callback_secret not in caplog.text


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"messageid": "123"},
        {"messageid": "123", "StatusID": "delivered"},
        {"messageid": "'; DROP TABLE reports; --", "StatusID": "200"},
        {"messageid": "123", "StatusID": "200", "statusMessage": "x" * 5000},
    ],
)
def test_garbage_gets_a_4xx_never_a_5xx(bot, params):
    url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
    assert 400 <= requests.get(url, params=params, timeout=5).status_code < 500
    assert 400 <= requests.post(url, data=params, timeout=5).status_code < 500
    assert outcomes(bot) == []


def test_an_oversized_body_is_refused(bot):
    url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
    assert requests.post(url, data=b"a=" + b"x" * 100_000, timeout=5).status_code == 413


def test_a_store_failure_answers_500_so_the_gateway_retries(sent, bot):
    with inserts_refused(bot.db, "reports", "database or disk is full"):
        assert report(bot, sent, 200).status_code == 500
    assert report(bot, sent, 200).status_code == 200  # the gateway's retry is then stored
    assert applied(bot) == ["applied"]


def test_slack_down_then_back_the_reply_still_arrives(sent, slack_driver, bot, fake_slack):
    fake_slack.down = True
    report(bot, sent, 200)
    applied(bot)
    now = bot.clock()
    bot.notifier.run_once(now)
    assert thread_texts(bot, fake_slack) == []
    fake_slack.down = False
    later = bot.notifier.paused_until
    while bot.notifier.run_once(later):
        later += 1
    assert any("Delivered to 27831234567" in t for t in thread_texts(bot, fake_slack))


def test_429_on_a_reply_is_retried_after_retry_after(sent, slack_driver, bot, fake_slack):
    report(bot, sent, 200)
    applied(bot)
    fake_slack.http_error("chat.postMessage", 429, retry_after=3)
    now = bot.clock() + 5  # past any pacing
    while bot.notifier.run_once(now) and bot.notifier.paused_until <= now:
        now += 1
    assert bot.notifier.paused_until == pytest.approx(now + 3, abs=0.01)
    assert thread_texts(bot, fake_slack) == []
    later = now + 3
    while bot.notifier.run_once(later):
        later += 1
    assert len(thread_texts(bot, fake_slack)) == 1


def test_a_restart_keeps_the_thread_mapping(sent, bot, settings, fake_slack):
    bot.server.stop()
    bot.db.close()
    again = Bot(settings)  # a new process over the same database
    again.server.start()
    try:
        assert report(again, sent, 200).status_code == 200
        applied(again)
        again.notifier.run_once(again.clock() + 5)
        again.notifier.run_once(again.clock() + 10)
        batch = again.posts.batch(1)
        replies = fake_slack.thread(batch["status_channel"], batch["status_ts"])
        assert any("Delivered to 27831234567" in r["text"] for r in replies)
    finally:
        again.server.stop()
        again.db.close()


def test_an_unconfirmed_send_is_adopted_when_its_report_arrives(slack_driver, bot, fake_slack, simulator):
    slack_driver.command("send 27831234567 Generator running")
    bot.notifier.run_once()
    bot.queue.claim(bot.clock())  # in flight when the process died...
    bot.sender.recover()  # ...so now unconfirmed
    slack_driver.pump()
    assert report(bot, "555777", 200).status_code == 200
    slack_driver.pump()
    row = bot.queue.messages_of(1)[0]
    assert (row["status"], row["tracking_id"], row["dlr_status_id"]) == ("sent", "555777", 200)
    assert outcomes(bot) == ["adopted"]
    last = thread_texts(bot, fake_slack)[-1]
    assert "did go out" in last and "#555777" in last and "Delivered to 27831234567" in last


def test_a_report_that_beats_our_own_commit_is_matched_when_the_send_is_recorded(
    slack_driver, bot, fake_slack, simulator
):
    slack_driver.command("send 27831234567 Generator running")
    bot.notifier.run_once()
    message = bot.queue.claim(bot.clock())
    tracking = "424242"
    assert report(bot, tracking, 100).status_code == 200  # arrives before we recorded the send
    assert applied(bot) == ["unmatched"]
    with bot.db.transaction() as conn:
        bot.queue.mark_sent(conn, message["id"], tracking, bot.clock())
        row = conn.execute("SELECT * FROM messages WHERE id = ?", (message["id"],)).fetchone()
        bot.sending.after_send(conn, "sent", row)
    assert outcomes(bot) == ["applied"]
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] == 100


def test_status_command_lists_every_status_with_its_time(sent, slack_driver, bot):
    report(bot, sent, 100)
    report(bot, sent, 200)
    applied(bot)
    text = slack_driver.command(f"status {sent}").json()["text"]
    assert "27831234567" in text and "Generator running" in text
    steps = [line for line in text.splitlines() if line.startswith("• ")]
    assert [step.split(" <!date^")[0] for step in steps] == [
        "• queued",
        "• sent",
        "• :satellite_antenna: submitted to the network",
        "• :white_check_mark: delivered",
    ]


@pytest.mark.parametrize(
    "mode,final,replies",
    [
        ("delivered", 200, 2),
        ("failed", 300, 2),
        ("route", 400, 1),
        ("duplicate", 200, 2),
        ("out_of_order", 200, 1),
    ],
)
def test_the_simulator_reports_reach_the_thread(slack_driver, bot, fake_slack, simulator, mode, final, replies):
    simulator.callback_url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
    simulator.dlr_mode, simulator.dlr_delay = mode, 0.01
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.pump()
    expected = {"delivered": 2, "failed": 2, "route": 1, "duplicate": 3, "out_of_order": 2}[mode]
    assert wait_for(lambda: len(outcomes(bot)) == expected)
    slack_driver.pump()
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] == final
    assert len(thread_texts(bot, fake_slack)) == replies


def test_a_long_list_counts_routine_reports_and_replies_only_for_problems(driver_with, fake_slack, simulator):
    slack_driver = driver_with(SMSBOT_CONFIRM_ABOVE="100")
    bot = slack_driver.bot
    numbers = [f"2783123{i:04d}" for i in range(12)]
    slack_driver.command("send " + ",".join(numbers) + " Drill at 3pm")
    slack_driver.pump()
    ids = {m.to: m.id for m in simulator.messages}
    for number in numbers[:11]:
        report(bot, ids[number], 100, to=number)
        report(bot, ids[number], 200, to=number)
    report(bot, ids[numbers[11]], 300, to=numbers[11])
    slack_driver.pump()
    assert thread_texts(bot, fake_slack) == []  # failures wait a few seconds, to be told together
    bot.notifier.run_once(bot.clock() + DIGEST_SECONDS)
    replies = thread_texts(bot, fake_slack)
    assert len(replies) == 1 and f"1 more failed: {numbers[11]}" in replies[0]
    status = fake_slack.messages["C0GENERAL"][0]
    assert "11 delivered · 1 failed" in status["text"]
    assert f"Failed: {numbers[11]}" in json.dumps(status["blocks"])


def test_pending_reports_are_applied_oldest_first_a_batch_at_a_time(sent, slack_driver, bot, fake_slack):
    for status in (100, 200, 100):
        assert report(bot, sent, status).status_code == 200
    assert bot.reports.apply_pending(bot.clock(), limit=2) == 2  # 100, then 200: both move it forward
    assert outcomes(bot) == ["applied", "applied", "pending"]
    assert bot.reports.apply_pending(bot.clock(), limit=2) == 1
    assert outcomes(bot) == ["applied", "applied", "stale"]  # the late 100 after the 200 changes nothing
    assert bot.reports.apply_pending(bot.clock()) == 0
    slack_driver.pump()
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] == 200
    assert len(thread_texts(bot, fake_slack)) == 2


def test_a_report_that_cannot_be_applied_is_kept_failed_and_stops_no_other(sent, bot, caplog):
    def notice(conn, kind, message, row):
        if row["status_id"] == 100:
            raise RuntimeError("a bug in the notice of a 100")
        bot.notices.report(conn, kind, message, row)

    intake = ReportIntake(bot.db, on_change=notice)
    for status in (100, 200):
        assert report(bot, sent, status).status_code == 200
    assert intake.apply_pending(bot.clock()) == 2
    assert outcomes(bot) == ["failed", "applied"]  # kept as it came, and never tried again
    assert bot.queue.messages_of(1)[0]["dlr_status_id"] == 200
    [line] = [r for r in caplog.records if "event=report_apply_failed" in r.getMessage()]
    assert line.levelname == "ERROR" and "a bug in the notice of a 100" in caplog.text
    assert intake.apply_pending(bot.clock()) == 0


def test_a_database_held_by_another_program_leaves_reports_pending_until_it_lets_go(sent, bot):
    assert report(bot, sent, 200).status_code == 200
    with writes_held(bot.db), bot.db.patience(0.2), pytest.raises(OperationalError):
        bot.reports.apply_pending(bot.clock())
    assert outcomes(bot) == ["pending"]  # nothing half applied; the worker tries again
    assert applied(bot) == ["applied"]
