"""Costly sends waiting for their requester: decided once, only by the requester, only within
ten minutes (README, Confirmation), and kept across a restart."""

import pytest

from bot.sms.plan import SendPlan, build_plan
from bot.storage.confirmations import PendingSends
from bot.storage.db import Database

TEN_MINUTES = 10 * 60
CREATED = 5_000.0
ORIGIN = {"user_id": "U0ANN", "user_name": "ann", "channel_id": "C0OPS", "channel_name": "ops"}


@pytest.fixture
def pending(db):
    return PendingSends(db)


@pytest.fixture
def plan():
    return build_plan("27831234567,27821234567", "Generator running", None)


def decide(pending, pending_id, user_id="U0ANN", now=CREATED + 1, send=True):
    with pending.db.transaction() as conn:
        verdict, row = pending.decide(conn, pending_id, user_id, now, send)
    return verdict, row


def test_the_requesters_send_is_accepted_once_with_the_plan_and_origin_as_held(pending, plan):
    pending_id = pending.create(plan, ORIGIN, CREATED)
    verdict, row = decide(pending, pending_id)
    assert verdict == "ok"
    kept = SendPlan.from_json(row["plan"])
    assert (kept.recipients, kept.text, kept.credits) == (plan.recipients, plan.text, plan.credits)
    assert (row["user_id"], row["channel_id"]) == (ORIGIN["user_id"], ORIGIN["channel_id"])
    assert decide(pending, pending_id)[0] == "sent"  # a double click: already done, nothing more
    assert decide(pending, pending_id, send=False)[0] == "sent"  # too late to cancel


def test_a_cancel_is_final(pending, plan):
    pending_id = pending.create(plan, ORIGIN, CREATED)
    assert decide(pending, pending_id, send=False)[0] == "ok"
    assert decide(pending, pending_id)[0] == "cancelled"


def test_someone_elses_click_changes_nothing(pending, plan):
    pending_id = pending.create(plan, ORIGIN, CREATED)
    verdict, row = decide(pending, pending_id, user_id="U0MALLORY")
    assert verdict == "not_yours" and row["user_id"] == ORIGIN["user_id"]
    assert decide(pending, pending_id, user_id="U0MALLORY", send=False)[0] == "not_yours"
    assert decide(pending, pending_id)[0] == "ok"  # the requester still decides


def test_the_preview_lasts_ten_minutes(pending, plan):
    in_time = pending.create(plan, ORIGIN, CREATED)
    assert decide(pending, in_time, now=CREATED + TEN_MINUTES - 0.001)[0] == "ok"
    too_late = pending.create(plan, ORIGIN, CREATED)
    assert decide(pending, too_late, now=CREATED + TEN_MINUTES)[0] == "expired"
    assert decide(pending, too_late, now=CREATED + 1)[0] == "expired"  # expiry sticks


def test_an_unknown_id_is_refused(pending, plan):
    pending.create(plan, ORIGIN, CREATED)
    assert decide(pending, "not-a-pending-send") == ("unknown", None)


def test_ids_cannot_be_guessed_from_one_another(pending, plan):
    ids = {pending.create(plan, ORIGIN, CREATED) for _ in range(50)}
    assert len(ids) == 50 and min(len(i) for i in ids) >= 16


def test_the_batch_it_became_is_recorded(pending, plan, db):
    pending_id = pending.create(plan, ORIGIN, CREATED)
    with db.transaction() as conn:
        pending.decide(conn, pending_id, "U0ANN", CREATED + 1, True)
        pending.attach(conn, pending_id, 42)
    assert db.conn.execute("SELECT batch_id FROM pending_sends WHERE id = ?", (pending_id,)).fetchone()[0] == 42


def test_a_restart_keeps_the_preview_valid(tmp_path, plan):
    path = str(tmp_path / "pending.db")
    first = Database(path)
    first.migrate()
    pending_id = PendingSends(first).create(plan, ORIGIN, CREATED)
    first.close()
    second = Database(path)
    try:
        assert decide(PendingSends(second), pending_id)[0] == "ok"
    finally:
        second.close()
