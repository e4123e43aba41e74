"""Where each send shows in Slack (bot/slack/posts.py): its origin, status message and the failures a
digest has already told."""

import pytest

from bot.slack.posts import PostedWhere, SlackPosts, origin_of

NOW = 1_700_000_000.0
ORIGIN = {
    "user_id": "U0ANN",
    "user_name": "ann",
    "team_id": "T0",
    "channel_id": "C0OPS",
    "channel_name": "ops",
    "response_url": "https://hooks.slack.test/r1",
    "trigger_id": "not kept",
}


@pytest.fixture
def posts(db):
    return SlackPosts(db)


def new_send(db, queue, posts, recipients=("27831234567",)):
    with db.transaction() as conn:
        batch_id = queue.enqueue(
            conn, {"user_id": "U0ANN", "user_name": "ann", "text": "Drill", "parts": 1}, recipients, NOW
        )
        posts.create(conn, batch_id, origin_of(ORIGIN))
    return batch_id


def test_the_origin_keeps_who_asked_and_where_and_nothing_else():
    origin = origin_of(ORIGIN)
    assert "trigger_id" not in origin
    assert origin_of({"user_id": "U0BOB"})["channel_id"] is None  # a missing field is kept as unknown


def test_a_send_remembers_where_it_was_asked_and_where_its_status_message_went(db, queue, posts):
    batch_id = new_send(db, queue, posts)
    row = posts.batch(batch_id)
    assert (row["text"], row["channel_id"], row["response_url"]) == ("Drill", "C0OPS", ORIGIN["response_url"])
    assert row["status_ts"] is None  # not posted yet
    with db.transaction() as conn:
        posts.posted(conn, batch_id, "D0ANN", "1700000000.000100", PostedWhere.DM)
    row = posts.batch(batch_id)
    assert (row["status_channel"], row["status_ts"], row["posted_where"]) == ("D0ANN", "1700000000.000100", "dm")
    with db.transaction() as conn:
        posts.nowhere(conn, batch_id)
    assert posts.batch(batch_id)["posted_where"] == "nowhere"


def test_each_failure_is_told_in_one_digest_only(db, queue, posts):
    batch_id = new_send(db, queue, posts, ["27831234567", "27821234567", "27841234567"])
    failed = []
    with db.transaction() as conn:
        for _ in range(2):
            claimed = queue.claim(NOW, conn)
            failed.append(queue.mark_failed(conn, claimed["id"], "Error: refused", NOW)["id"])
    assert [row["id"] for row in posts.undigested_failures(batch_id)] == failed
    with db.transaction() as conn:
        posts.mark_digested(conn, batch_id, failed[:1])
    assert [row["id"] for row in posts.undigested_failures(batch_id)] == failed[1:]
