"""What the bot asks Slack to show (bot/slack/notices.py), as outbox jobs: a long list's failures become
one digest, an unconfirmed SMS always gets its own reply, routine reports on a long list only edit."""

import pytest

from bot.slack.notices import DIGEST_SECONDS, SlackNotices
from bot.slack.posts import SlackPosts
from bot.slack.render import LIST_EACH_UP_TO
from bot.sms import dlr

NOW = 1_700_000_000.0


@pytest.fixture
def woken():
    return []


@pytest.fixture
def notices(outbox, db, woken):
    return SlackNotices(outbox, SlackPosts(db), wake=lambda: woken.append("notifier"))


def send_to(db, queue, notices, count):
    recipients = [f"2783{i:07d}" for i in range(count)]
    with db.transaction() as conn:
        batch_id = queue.enqueue(conn, {"user_id": "U0ANN", "text": "Drill", "parts": 1}, recipients, NOW)
        notices.batch_created(conn, batch_id, {"channel_id": "C0OPS"}, NOW)
    return [row["id"] for row in queue.messages_of(batch_id)]


def jobs(db, kind=None):
    rows = db.conn.execute("SELECT kind, next_attempt_at, payload FROM outbox WHERE state = 'pending' ORDER BY id")
    return [row for row in rows if kind is None or row["kind"] == kind]


def fail(db, queue, notices, event="failed"):
    """The sender takes the next SMS and it fails (or its outcome is unknown); its id."""
    with db.transaction() as conn:
        claimed = queue.claim(NOW + 1, conn)
        mark = queue.mark_failed if event == "failed" else queue.mark_unconfirmed
        notices.send_event(conn, event, mark(conn, claimed["id"], "Error: refused", NOW + 1))
    return claimed["id"]


def test_a_new_send_gets_its_status_message_and_wakes_the_notifier_once_committed(db, queue, notices, woken):
    send_to(db, queue, notices, 1)
    assert [job["kind"] for job in jobs(db)] == ["post"] and woken == ["notifier"]


def test_on_a_long_list_failures_become_one_digest_not_one_reply_each(db, queue, notices):
    send_to(db, queue, notices, LIST_EACH_UP_TO + 5)
    for _ in range(3):
        fail(db, queue, notices)
    [digest] = jobs(db, "digest")
    assert digest["next_attempt_at"] == NOW + 1 + DIGEST_SECONDS  # told together, a little later
    assert jobs(db, "reply") == [] and len(jobs(db, "status")) == 1  # one coalesced edit


def test_on_a_short_list_each_failure_gets_its_own_reply(db, queue, notices):
    send_to(db, queue, notices, 2)
    fail(db, queue, notices)
    fail(db, queue, notices)
    assert len(jobs(db, "reply")) == 2 and jobs(db, "digest") == []


def test_an_unconfirmed_sms_always_gets_its_own_reply_even_on_a_long_list(db, queue, notices):
    send_to(db, queue, notices, LIST_EACH_UP_TO + 5)
    message_id = fail(db, queue, notices, event="unconfirmed")
    [reply] = jobs(db, "reply")
    assert f'"message_id": {message_id}' in reply["payload"] and '"unconfirmed"' in reply["payload"]


def report(db, queue, notices, message_id, status_id):
    with db.transaction() as conn:
        notices.report(conn, "applied", queue.message(message_id, conn), {"id": 1, "status_id": status_id})


def test_routine_reports_on_a_long_list_only_edit_the_status_message(db, queue, notices):
    ids = send_to(db, queue, notices, LIST_EACH_UP_TO + 5)
    report(db, queue, notices, ids[0], dlr.SUBMITTED)
    report(db, queue, notices, ids[1], dlr.DELIVERED)
    assert jobs(db, "reply") == [] and len(jobs(db, "status")) == 1
    report(db, queue, notices, ids[2], dlr.FAILED)  # a failure is news: in the digest
    assert len(jobs(db, "digest")) == 1


def test_on_a_short_list_a_delivery_report_is_told_in_the_thread(db, queue, notices):
    ids = send_to(db, queue, notices, 1)
    report(db, queue, notices, ids[0], dlr.DELIVERED)
    assert len(jobs(db, "reply")) == 1
