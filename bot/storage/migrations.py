"""The schema's history: each function moves it one version forward.

Append only. ``Database.migrate()`` runs the missing steps at start, one transaction each (SQLite keeps
the version in ``PRAGMA user_version``; PostgreSQL in a one-row table, see bot/storage/postgres.py).

Steps 1 to ``BASELINE`` (13) are SQLite's own, written with sqlite-utils (``db.table(name)``, always a
``Table``, rather than ``db[name]``); a new PostgreSQL database starts at ``BASELINE`` from the schema
defined in bot/storage/schema.py instead. Every step after ``BASELINE`` runs on both backends: it is
given a :class:`Steps` (``execute(sql, params)``, nothing else) and writes SQL both read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlite_utils

__all__ = ["BASELINE", "MIGRATIONS", "Steps"]

BASELINE = 13  # where a new PostgreSQL database starts (bot/storage/schema.py): SQLite's user_version after 13 steps


class Steps:
    """What a step after BASELINE is given, on either backend: one connection inside the step's transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)


def _v1(db: sqlite_utils.Database) -> None:
    db.table("kv").create({"key": str, "value": str}, pk="key")
    db.table("batches").create(
        {
            "id": int,
            "created_at": float,
            "team_id": str,
            "user_id": str,
            "user_name": str,
            "channel_id": str,
            "channel_name": str,
            "text": str,
            "encoding": str,
            "parts": int,
            "recipients": int,
            "response_url": str,
            "status_channel": str,
            "status_ts": str,
            "posted_where": str,
        },
        pk="id",
    )
    db.table("messages").create(
        {
            "id": int,
            "batch_id": int,
            "recipient": str,
            "status": str,
            "tracking_id": str,
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "queued_at": float,
            "sending_at": float,
            "sent_at": float,
            "failed_at": float,
            "unconfirmed_at": float,
            "updated_at": float,
            "dlr_status_id": int,
            "dlr_status": str,
            "dlr_at": float,
        },
        pk="id",
        foreign_keys=[("batch_id", "batches", "id")],
        defaults={"attempts": 0},
        not_null={"batch_id", "recipient", "status"},
    )
    db.table("messages").create_index(["status", "next_attempt_at", "id"], index_name="messages_due")
    db.table("messages").create_index(["batch_id"], index_name="messages_batch")
    db.table("messages").create_index(["tracking_id"], index_name="messages_tracking")
    db.table("outbox").create(
        {
            "id": int,
            "kind": str,
            "key": str,
            "batch_id": int,
            "channel": str,
            "payload": str,
            "state": str,
            "created_at": float,
            "next_attempt_at": float,
            "attempts": int,
            "last_error": str,
            "done_at": float,
        },
        pk="id",
        defaults={"attempts": 0, "state": "pending"},
        not_null={"kind", "state"},
    )
    db.table("outbox").create_index(["state", "next_attempt_at", "id"], index_name="outbox_due")
    # At most one pending row per (kind, key): later changes coalesce into it.
    db.execute("CREATE UNIQUE INDEX outbox_coalesce ON outbox(kind, key) WHERE state = 'pending' AND key IS NOT NULL")


def _v2(db: sqlite_utils.Database) -> None:
    # Delivery reports exactly as received (raw parameters), and what each did.
    db.table("reports").create(
        {
            "id": int,
            "received_at": float,
            "message_id": int,
            "tracking_id": str,
            "recipient": str,
            "sender": str,
            "status_id": int,
            "status_message": str,
            "raw": str,
            "outcome": str,
        },
        pk="id",
    )
    db.table("reports").create_index(["message_id", "id"], index_name="reports_message")
    db.table("reports").create_index(["tracking_id"], index_name="reports_tracking")
    # Every balance check, for the balance watch and its forecast.
    db.table("balance_history").create(
        {
            "id": int,
            "checked_at": float,
            "balance": float,
            "outcome": str,
            "error": str,
        },
        pk="id",
    )
    db.table("balance_history").create_index(["checked_at"], index_name="balance_history_time")
    db.table("messages").create_index(["recipient", "status"], index_name="messages_recipient")


def _v3(db: sqlite_utils.Database) -> None:
    # Named groups of numbers, usable wherever a number is.
    db.table("groups").create({"name": str, "created_at": float, "created_by": str}, pk="name")
    db.table("group_members").create(
        {"group_name": str, "number": str, "added_at": float, "added_by": str},
        pk=("group_name", "number"),
        foreign_keys=[("group_name", "groups", "name")],
    )
    # Costly sends waiting for their requester's "Send" click.
    db.table("pending_sends").create(
        {
            "id": str,
            "created_at": float,
            "expires_at": float,
            "user_id": str,
            "channel_id": str,
            "plan": str,
            "origin": str,
            "state": str,
            "decided_at": float,
            "batch_id": int,
        },
        pk="id",
        not_null={"state"},
    )
    db.table("batches").create_index(["created_at"], index_name="batches_created")


def _v4(db: sqlite_utils.Database) -> None:
    # Claims and due jobs in id order without sorting the whole queue each time.
    db.table("messages").create_index(["status", "id"], index_name="messages_status_id")
    db.table("outbox").create_index(["state", "id"], index_name="outbox_state_id")


def _v5_slack_posts(db: sqlite_utils.Database) -> None:
    # Where a send shows in Slack is the Slack side's business, not the queue's: move those
    # columns to a table of its own (data kept), leaving the batch its text, parts, requester
    # and an opaque origin.
    db.table("slack_posts").create(
        {
            "batch_id": int,
            "team_id": str,
            "channel_id": str,
            "channel_name": str,
            "response_url": str,
            "status_channel": str,
            "status_ts": str,
            "posted_where": str,
        },
        pk="batch_id",
        foreign_keys=[("batch_id", "batches", "id")],
    )
    db.execute(
        "INSERT INTO slack_posts (batch_id, team_id, channel_id, channel_name, response_url, "
        "status_channel, status_ts, posted_where) SELECT id, team_id, channel_id, channel_name, "
        "response_url, status_channel, status_ts, posted_where FROM batches"
    )
    db.table("batches").add_column("origin", str)
    db.execute("UPDATE batches SET origin = 'slack'")
    db.table("batches").transform(
        drop={"team_id", "channel_id", "channel_name", "response_url", "status_channel", "status_ts", "posted_where"}
    )
    db.table("batches").create_index(["created_at"], index_name="batches_created", if_not_exists=True)
    # Failures of a long list already told in a digest reply (see bot/slack/notices.py).
    db.table("slack_digested").create({"batch_id": int, "message_id": int}, pk=("batch_id", "message_id"))
    db.table("outbox").create_index(["batch_id"], index_name="outbox_batch")


def _v6_batch_notes(db: sqlite_utils.Database) -> None:
    # What the status message says besides the count: skipped group members, numbers abroad, VoIP (JSON).
    db.table("batches").add_column("notes", str)


def _v7_message_failure(db: sqlite_utils.Database) -> None:
    # Why a failed SMS failed (bot/sms/failures.py): decides whether a Resend button can cure it.
    db.table("messages").add_column("failure", str)


def _v8_attempts(db: sqlite_utils.Database) -> None:
    # Every time an SMS reached (or may have reached) the gateway, with its tracking number and
    # its own delivery status: a late report for an attempt before a Resend still finds its SMS.
    db.table("attempts").create(
        {
            "id": int,
            "message_id": int,
            "tracking_id": str,
            "attempted_at": float,
            "outcome": str,
            "recorded_at": float,
            "dlr_status_id": int,
            "dlr_at": float,
        },
        pk="id",
        foreign_keys=[("message_id", "messages", "id")],
        not_null={"message_id", "outcome"},
    )
    db.table("attempts").create_index(["tracking_id"], index_name="attempts_tracking")
    db.table("attempts").create_index(["message_id", "id"], index_name="attempts_message")
    db.execute(
        "INSERT INTO attempts (message_id, tracking_id, attempted_at, outcome, recorded_at, "
        "dlr_status_id, dlr_at) SELECT id, tracking_id, coalesce(sending_at, sent_at), status, "
        "coalesce(sent_at, updated_at), dlr_status_id, dlr_at FROM messages "
        "WHERE tracking_id IS NOT NULL OR status = 'unconfirmed' ORDER BY id"
    )


def _v9_slack_requests(db: sqlite_utils.Database) -> None:
    # Slack requests accepted in the last few minutes and what each was answered, against replays.
    db.table("slack_requests").create(
        {
            "key": str,
            "received_at": float,
            "expires_at": float,
            "status": int,
            "content_type": str,
            "body": bytes,
        },
        pk="key",
    )
    db.table("slack_requests").create_index(["expires_at"], index_name="slack_requests_expiry")


def _v10_routine_sends(db: sqlite_utils.Database) -> None:
    # Saved templates; a send's due time and template; each recipient's own text (personalised lists).
    db.table("templates").create({"name": str, "text": str, "created_at": float, "created_by": str}, pk="name")
    db.table("batches").add_column("scheduled_for", float)
    db.table("batches").add_column("template", str)
    db.table("batches").add_column("credits", int)  # when texts differ in parts (else parts × recipients)
    db.table("messages").add_column("text", str)
    db.table("messages").add_column("parts", int)  # with its own text: its own parts (else the batch's)


def _v11_compliance(db: sqlite_utils.Database) -> None:
    # Issue 14: the do-not-contact list, allow-list entries added from Slack, the admin audit log,
    # each SMS's country (kept when retention erases its number) and when a send was erased.
    db.table("opt_outs").create({"number": str, "reason": str, "added_by": str, "added_at": float}, pk="number")
    db.table("access_entries").create({"kind": str, "id": str, "added_by": str, "added_at": float}, pk=("kind", "id"))
    db.table("audit_log").create({"id": int, "at": float, "user_id": str, "action": str, "args": str}, pk="id")
    db.table("messages").add_column("country", str)
    db.table("batches").add_column("erased_at", float)
    db.table("outbox").create_index(["state", "done_at"], index_name="outbox_done", if_not_exists=True)


def _v12_charges(db: sqlite_utils.Database) -> None:
    # Issue 18: the one ledger of credits spent (bot/storage/queue.py writes it). A row per time an SMS
    # was queued: by whom it counts against (the requester, or whoever pressed Resend), on which day
    # (``counted_at``), how many credits; released when they came back (failed, cancelled, missed);
    # linked to the attempt that handed it to the gateway. Limits, usage and export all read it.
    db.table("charges").create(
        {
            "id": int,
            "message_id": int,
            "batch_id": int,
            "user_id": str,
            "counted_at": float,
            "credits": int,
            "attempt_id": int,
            "released_at": float,
        },
        pk="id",
        foreign_keys=[("message_id", "messages", "id")],
        not_null={"message_id", "counted_at", "credits"},
    )
    db.execute(
        "INSERT INTO charges (message_id, batch_id, user_id, counted_at, credits, attempt_id, released_at) "
        "SELECT m.id, m.batch_id, b.user_id, coalesce(b.scheduled_for, b.created_at), "
        "coalesce(m.parts, b.parts), "
        "CASE WHEN m.status IN ('sent', 'unconfirmed') THEN (SELECT max(a.id) FROM attempts a "
        "WHERE a.message_id = m.id) END, "
        "CASE WHEN m.status IN ('failed', 'cancelled', 'missed') THEN m.updated_at END "
        "FROM messages m JOIN batches b ON b.id = m.batch_id ORDER BY m.id"
    )
    # A day's credits are read from that day's rows alone, whatever the length of the history.
    db.execute("CREATE INDEX charges_user_day ON charges(user_id, counted_at, credits) WHERE released_at IS NULL")
    db.execute("CREATE INDEX charges_day ON charges(counted_at, credits) WHERE released_at IS NULL")
    db.table("charges").create_index(["message_id", "id"], index_name="charges_message")
    # An allow-list emptied from Slack means "admins only" until an admin opens it again.
    db.table("access_modes").create({"kind": str, "closed_by": str, "closed_at": float}, pk="kind")


def _v13_claim_ready(db: sqlite_utils.Database) -> None:
    # Issue 20: a claim must not walk past scheduled SMS waiting for their time. ``held`` is 1 while a
    # queued SMS waits for a time still to come (a scheduled send); the claim promotes it to 0 once due,
    # and walks only the rows not held, in id order.
    db.execute("ALTER TABLE messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE messages SET held = 1 WHERE status = 'queued' AND next_attempt_at > queued_at")
    db.execute("CREATE INDEX messages_ready ON messages(id) WHERE status = 'queued' AND held = 0")
    db.execute("CREATE INDEX messages_held ON messages(next_attempt_at) WHERE status = 'queued' AND held = 1")
    # messages_ready is the claim's walk now: one index less to update at every status change
    db.execute("DROP INDEX IF EXISTS messages_status_id")


def _v14_leases(db: Steps) -> None:
    # Issue 21: leadership (bot/storage/leases.py). One lease row per SMS Office account (``sender:<username>``):
    # who leads, in which term (``epoch``, one more at every new term) and until when. Each claim records the
    # epoch of the leader that made it, so a new leader knows which rows in ``sending`` were left by an
    # earlier term. Portable SQL: the same step runs on PostgreSQL.
    db.execute(
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch BIGINT NOT NULL, "
        "acquired_at DOUBLE PRECISION NOT NULL, renewed_at DOUBLE PRECISION NOT NULL, "
        "expires_at DOUBLE PRECISION NOT NULL)"
    )
    db.execute("ALTER TABLE messages ADD COLUMN epoch BIGINT")


def _v15_reports_pending(db: Steps) -> None:
    # Issue 21: the callback stores a delivery report as ``pending`` in one statement and answers at once; the
    # leader applies pending reports in batches, in id order, walking only them (bot/storage/reports.py).
    db.execute("CREATE INDEX reports_pending ON reports(id) WHERE outcome = 'pending'")


def _v16_settled(db: Steps) -> None:
    # Issue 21: on PostgreSQL the sender records a sent SMS (its status, tracking number, attempt and the next
    # claim) in one statement before its next gateway call; what follows from it (delivery reports that came
    # first, the Slack notice, the counters) is done behind, and ``settled`` is 0 until then. A crash in
    # between leaves it 0, and the next leader's recovery finishes it (bot/workers/sender.py).
    db.execute("ALTER TABLE messages ADD COLUMN settled INTEGER NOT NULL DEFAULT 1")
    db.execute("CREATE INDEX messages_unsettled ON messages(id) WHERE settled = 0")


# Append only: each function moves the schema one version forward. Steps after BASELINE take a Steps.
MIGRATIONS: list[Callable[[Any], None]] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5_slack_posts,
    _v6_batch_notes,
    _v7_message_failure,
    _v8_attempts,
    _v9_slack_requests,
    _v10_routine_sends,
    _v11_compliance,
    _v12_charges,
    _v13_claim_ready,
    _v14_leases,
    _v15_reports_pending,
    _v16_settled,
]
