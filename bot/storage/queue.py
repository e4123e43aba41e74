"""The durable send queue: one row per recipient, in SQLite; the only writer of ``messages.status``.

It knows nothing of Slack or of the gateway. A *batch* is one request to send
one text to some recipients, with who asked and an opaque origin tag; a
*message* is one recipient of a batch and moves through :class:`Status`::

    enqueue ─▶ queued ───claim───▶ sending ──mark_sent────────▶ sent ◀──────┐
                ▲ ▲ ▲──unclaim───────┤ │ │                                  │
                │ │ └──retry_later───┘ │ └──mark_failed──────▶ failed       │ adopt
                │ │                    └──mark_unconfirmed──▶ unconfirmed ──┘
                │ │  sending ──recover (at start-up)────────▶ unconfirmed
                │ └──requeue (a person's Resend) ◀─────────── failed
                └────requeue (a person's Resend) ◀─────────── unconfirmed
       queued ──cancel (a person's /sms cancel or Cancel button)──▶ cancelled
      sending ──mark_missed (a scheduled SMS past its grace)─────▶ missed

A scheduled send is a batch whose messages are due (``next_attempt_at``) at ``scheduled_for``;
a personalised list keeps each recipient's own text in ``messages.text``.

``claim`` is atomic (``BEGIN IMMEDIATE … UPDATE … RETURNING``) and commits
before the gateway is called, so a crash mid-call leaves the row in
``sending``; ``recover`` turns such rows into ``unconfirmed`` at start-up.
``adopt`` is how a delivery report proves that an unconfirmed SMS did go out.

On PostgreSQL, ``sent_and_claim`` is ``mark_sent`` and the next ``claim`` in one statement (one round trip
before the next gateway call); it leaves the sent row ``settled = 0`` until the sender has done what follows
from it outside the queue (``unsettled``, ``mark_settled``).

Every time an SMS reaches (or may have reached) the gateway is kept in ``attempts``
with its tracking number, so a report for an attempt before a Resend still finds its SMS.

The credits an SMS spends are kept in ``charges``, written only here, beside each status change:
``enqueue`` counts each SMS against its requester on the day it goes out (its scheduled day, or
today); ``requeue`` counts a Resend against whoever pressed it, today; ``mark_failed``, ``cancel``,
``mark_missed`` and ``fail_waiting`` release a charge whose SMS never reached the gateway; an attempt
(sent or unconfirmed) keeps its charge and links it. Limits, usage and export read that one ledger
(``bot/usecases/spend.py``, ``bot/storage/usage.py``).

Methods that take ``conn`` run inside the caller's transaction, so the caller
can record other consequences (e.g. a Slack notification) atomically.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from bot.sms.numbers import country_of
from bot.storage import SqlEnum
from bot.storage.db import Database
from bot.storage.dialect import indexed_by
from bot.storage.leases import Fence


class Status(SqlEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    MISSED = "missed"  # scheduled, but reached too long after its time: not sent
    CANCELLED = "cancelled"  # scheduled, and cancelled before it was sent


class AttemptOutcome(SqlEnum):
    """How one hand-over to the gateway ended (``attempts.outcome``)."""

    SENT = "sent"  # the gateway answered with a tracking number
    UNCONFIRMED = "unconfirmed"  # no answer: it may have gone, tracking number unknown
    ADOPTED = "adopted"  # unconfirmed, until a delivery report named its tracking number


QUEUED, SENDING, SENT, FAILED, UNCONFIRMED, MISSED, CANCELLED = Status
# The columns a batch is stored with: its text, parts, who asked, notes for the status message (JSON),
# ``origin`` (an opaque tag of where the request came from, e.g. "slack", whose own table says the rest),
# when it is due, the template it came from and its credits when its texts differ in parts.
BATCH_COLUMNS = (
    "user_id",
    "user_name",
    "text",
    "encoding",
    "parts",
    "origin",
    "notes",
    "scheduled_for",
    "template",
    "credits",
)


PROMOTE_EVERY_SECONDS = 1.0  # a claim promotes due scheduled rows at most this often, or when nothing else is ready


class SendQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._promoted_at: float | None = None  # the ``now`` of the last promotion of due scheduled rows

    # -- writing ---------------------------------------------------------------------------
    def enqueue(
        self,
        conn: sqlite3.Connection,
        batch: dict,
        recipients: Iterable[str],
        now: float,
        *,
        texts: list[str] | None = None,
        parts: list[int] | None = None,
    ) -> int:
        """Store a batch and one queued message per recipient (with its own text, for a personalised
        list, and its parts), due at ``batch["scheduled_for"]`` or now; returns the batch id."""
        recipients = list(recipients)
        if texts is not None and not (len(texts) == len(parts or ()) == len(recipients)):
            raise ValueError("one text and its parts per recipient")
        if not recipients:
            raise ValueError("a batch needs at least one recipient")
        unknown = set(batch) - set(BATCH_COLUMNS)
        if unknown:
            raise ValueError(f"unknown batch fields: {sorted(unknown)}")
        columns = ["created_at", "recipients", *batch]
        batch_id = conn.execute(
            f"INSERT INTO batches ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) RETURNING id",
            (now, len(recipients), *batch.values()),
        ).fetchone()[0]
        due = batch.get("scheduled_for") or now
        held = int(due > now)  # waits for its time outside the claim's walk (see claim)
        # each row keeps its recipient's country (usage and export still work once numbers are erased)
        rows: list[tuple[object, ...]] = [(batch_id, r, country_of(r), due, held, now, now) for r in recipients]
        own = ""
        if texts is not None:  # a personalised list: each row with its recipient's text and parts
            assert parts is not None  # checked above: as many parts as recipients, and there is at least one
            own, rows = (
                "text, parts, ",
                [(b, r, c, text, n, *rest) for (b, r, c, *rest), text, n in zip(rows, texts, parts, strict=True)],
            )
        conn.executemany(
            f"INSERT INTO messages (batch_id, recipient, country, {own}status, attempts, next_attempt_at, held, "
            f"queued_at, updated_at) VALUES (?, ?, ?, {'?, ?, ' if own else ''}'{QUEUED}', 0, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            "INSERT INTO charges (message_id, batch_id, user_id, counted_at, credits) "
            "SELECT id, batch_id, ?, ?, coalesce(parts, ?) FROM messages WHERE batch_id = ? ORDER BY id",
            (batch.get("user_id"), due, batch.get("parts"), batch_id),
        )
        return batch_id

    def claim(
        self, now: float, conn: sqlite3.Connection | None = None, fence: Fence | None = None
    ) -> sqlite3.Row | None:
        """Move the oldest due queued message to ``sending`` and return it (committed, or inside
        the caller's transaction when ``conn`` is given).

        Scheduled rows wait ``held`` (outside the walk below) until their time: a claim promotes those now due
        (a look-up in messages_held) when nothing else is ready, and at least every PROMOTE_EVERY_SECONDS
        during a burst, so however many wait, a claim never walks past them, and a burst's claims do not
        each pay for the look-up.

        The row comes with ``opted_out``: whether its number is on the do-not-contact list now, read in the
        same statement (a number added after the send was queued is not sent to; see the sender).

        With a ``fence`` (bot/storage/leases.py), the claim is made only while the lease still says that
        holder and term (and, for a live fence, is unexpired at ``now``), checked in the same statement, and
        the row records the term's epoch: a deposed leader claims nothing, whatever it believes."""
        if conn is None:
            with self.db.transaction() as conn:
                return self.claim(now, conn, fence)
        last = self._promoted_at
        promoted = last is None or not last <= now < last + PROMOTE_EVERY_SECONDS  # (a clock step back: now)
        if promoted:
            self._promote(conn, now)
        row = self._claim_ready(conn, now, fence)
        if row is None and not promoted:
            self._promote(conn, now)
            row = self._claim_ready(conn, now, fence)
        return row

    def _promote(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute(
            f"UPDATE messages {indexed_by(conn, 'messages_held')} SET held = 0 "
            f"WHERE status = '{QUEUED}' AND held = 1 AND next_attempt_at <= ?",
            (now,),
        )
        self._promoted_at = now

    @staticmethod
    def _claim_ready(conn: sqlite3.Connection, now: float, fence: Fence | None) -> sqlite3.Row | None:
        params: list[object] = [now, now, None if fence is None else fence.epoch, now]
        fenced = ""
        if fence is not None:
            fenced = " AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND epoch = ?"
            fenced += " AND expires_at > ?)" if fence.live else ")"
            params += [fence.name, fence.holder, fence.epoch] + ([now] if fence.live else [])
        return conn.execute(
            f"UPDATE messages SET status = '{SENDING}', sending_at = ?, updated_at = ?, attempts = attempts + 1, "
            "epoch = ? "
            # Walk messages_ready (queued, not held) in id order; the unary + keeps SQLite from choosing
            # the (status, next_attempt_at) index, which would sort the whole queue per claim. A row waiting
            # to be retried is not held: the sender pauses the whole queue until then anyway.
            f"WHERE id = (SELECT id FROM messages {indexed_by(conn, 'messages_ready')} "
            f"            WHERE status = '{QUEUED}' AND held = 0 "
            f"            AND +next_attempt_at <= ? ORDER BY id LIMIT 1){fenced} "
            "RETURNING *, EXISTS (SELECT 1 FROM opt_outs WHERE number = messages.recipient) AS opted_out",
            params,
        ).fetchone()

    def sent_and_claim(
        self, message_id: int, tracking_id: str, sent_at: float, now: float, fence: Fence | None, claim: bool
    ) -> tuple[bool, sqlite3.Row | None]:
        """PostgreSQL only (data-modifying ``WITH``): in one committed statement, one round trip, record that the
        gateway accepted ``message_id`` (as :meth:`mark_sent` does: its status, tracking number, attempt and
        charge link) and, with ``claim``, claim the next ready message as :meth:`claim` does (fenced the same
        way). The row is left ``settled = 0``: what follows from it outside the queue (delivery reports that
        came first, the Slack notice) is for :meth:`unsettled`'s reader, behind. Returns (whether the row was
        still ``sending`` and is now sent, the claimed row or None). Takes no writers' lock: it writes only
        the rows it names and the one it claims, whose row locks keep it exact, and its claim re-checks the
        row's status after any wait, so a cancel that committed meanwhile is never overridden."""
        params: list[object] = [tracking_id, sent_at, now, message_id, tracking_id, AttemptOutcome.SENT.value, now]
        sql = (
            f"WITH sent AS (UPDATE messages SET status = '{SENT}', tracking_id = ?, last_error = NULL, sent_at = ?, "
            f"updated_at = ?, settled = 0 WHERE id = ? AND status = '{SENDING}' RETURNING id, sending_at), "
            "attempt AS (INSERT INTO attempts (message_id, tracking_id, attempted_at, outcome, recorded_at) "
            "SELECT id, ?, sending_at, ?, ? FROM sent RETURNING id, message_id), "
            "charged AS (UPDATE charges SET attempt_id = attempt.id FROM attempt "
            "WHERE charges.message_id = attempt.message_id AND charges.attempt_id IS NULL "
            "AND charges.released_at IS NULL RETURNING 1)"
        )
        if not claim:
            row = self.db.conn.execute(sql + " SELECT (SELECT count(*) FROM sent) AS marked", params).fetchone()
            return bool(row["marked"]), None
        fenced = ""
        params += [now, now, None if fence is None else fence.epoch, now, now]
        if fence is not None:
            fenced = " AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND epoch = ?"
            fenced += " AND expires_at > ?)" if fence.live else ")"
            params += [fence.name, fence.holder, fence.epoch] + ([now] if fence.live else [])
        sql += (
            f", next AS (UPDATE messages SET status = '{SENDING}', sending_at = ?, updated_at = ?, "
            "attempts = attempts + 1, epoch = ? "
            f"WHERE id = (SELECT id FROM messages WHERE status = '{QUEUED}' AND held = 0 "
            "AND next_attempt_at <= ? ORDER BY id LIMIT 1) "
            f"AND status = '{QUEUED}' AND held = 0 AND next_attempt_at <= ?{fenced} "
            "RETURNING *, EXISTS (SELECT 1 FROM opt_outs WHERE number = messages.recipient) AS opted_out) "
            "SELECT next.*, (SELECT count(*) FROM sent) AS marked FROM next RIGHT JOIN (SELECT 1) AS one ON true"
        )
        row = self.db.conn.execute(sql, params).fetchone()
        assert row is not None  # the outer SELECT always gives one row
        return bool(row["marked"]), (row if row["id"] is not None else None)

    @staticmethod
    def unsettled(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
        """Sent SMS recorded by :meth:`sent_and_claim` whose consequences are not done yet, oldest first."""
        return conn.execute(
            f"SELECT * FROM messages {indexed_by(conn, 'messages_unsettled')} WHERE settled = 0 ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()

    @staticmethod
    def mark_settled(conn: sqlite3.Connection, message_ids: list[int]) -> None:
        if message_ids:
            conn.execute(
                f"UPDATE messages SET settled = 1 WHERE id IN ({', '.join('?' * len(message_ids))})", message_ids
            )

    def unclaim(self, message_id: int, now: float, epoch: int | None = None) -> bool:
        """Put back a message claimed but never handed to the gateway (the sender is stopping); with ``epoch``,
        only while it is still that term's claim (a later leader may have claimed it again since). True if it was."""
        mine = "" if epoch is None else " AND epoch = ?"
        with self.db.transaction() as conn:
            return (
                conn.execute(
                    f"UPDATE messages SET status = '{QUEUED}', updated_at = ?, attempts = attempts - 1 "
                    f"WHERE id = ? AND status = '{SENDING}'{mine} RETURNING id",
                    (now, message_id) if epoch is None else (now, message_id, epoch),
                ).fetchone()
                is not None
            )

    def mark_sent(
        self, conn, message_id: int, tracking_id: str, now: float, *, sent_at: float | None = None
    ) -> sqlite3.Row:
        """The gateway accepted it (``sent_at``: when it answered, if that was before ``now``)."""
        row = self._move(
            conn,
            message_id,
            SENT,
            now,
            tracking_id=tracking_id,
            last_error=None,
            sent_at=now if sent_at is None else sent_at,
        )
        self._attempt(conn, row, AttemptOutcome.SENT, tracking_id, now)
        return row

    def mark_failed(self, conn, message_id: int, error: str, now: float) -> sqlite3.Row:
        """Refused by the gateway or by a rule before it: never charged, so its credits come back."""
        row = self._move(conn, message_id, FAILED, now, last_error=error, failed_at=now)
        self._release(conn, [row], now)
        return row

    def mark_unconfirmed(self, conn, message_id: int, error: str, now: float) -> sqlite3.Row:
        row = self._move(conn, message_id, UNCONFIRMED, now, last_error=error, unconfirmed_at=now)
        self._attempt(conn, row, AttemptOutcome.UNCONFIRMED, None, now)
        return row

    def mark_missed(self, conn, message_id: int, error: str, now: float) -> sqlite3.Row:
        """Claimed too long after its scheduled time: not sent (``attempts`` undone: it never went)."""
        row = self._move(
            conn,
            message_id,
            MISSED,
            now,
            last_error=error,
            failed_at=now,
            attempts=self._undo_attempt(conn, message_id),
        )
        self._release(conn, [row], now)
        return row

    @staticmethod
    def _undo_attempt(conn, message_id: int) -> int:
        return conn.execute("SELECT attempts - 1 FROM messages WHERE id = ?", (message_id,)).fetchone()[0]

    def cancel(self, conn, batch_id: int, now: float) -> tuple[int, int]:
        """Cancel a send's messages not yet sent: (how many were cancelled, how many had gone or are going)."""
        cancelled = self._release(
            conn,
            conn.execute(
                f"UPDATE messages SET status = '{CANCELLED}', updated_at = ? WHERE batch_id = ? "
                f"AND status = '{QUEUED}' RETURNING id",
                (now, batch_id),
            ).fetchall(),
            now,
        )
        went = conn.execute(
            f"SELECT count(*) FROM messages WHERE batch_id = ? AND status NOT IN ('{CANCELLED}', '{MISSED}')",
            (batch_id,),
        ).fetchone()[0]
        return cancelled, went

    def retry_later(self, conn, message_id: int, error: str, next_attempt_at: float, now: float) -> sqlite3.Row:
        return self._move(conn, message_id, QUEUED, now, last_error=error, next_attempt_at=next_attempt_at)

    def fail_waiting(self, conn, batch_id: int, error: str, now: float) -> int:
        """The send's rows still queued will not go (its daily limit was reached): failed, with why."""
        return self._release(
            conn,
            conn.execute(
                f"UPDATE messages SET status = '{FAILED}', failed_at = ?, updated_at = ?, last_error = ? "
                f"WHERE batch_id = ? AND status = '{QUEUED}' RETURNING id",
                (now, now, error, batch_id),
            ).fetchall(),
            now,
        )

    def note_failure(self, conn, message_id: int, kind: str) -> None:
        """Why a failed message failed (bot/sms/failures.py), for whether a resend can cure it."""
        conn.execute(f"UPDATE messages SET failure = ? WHERE id = ? AND status = '{FAILED}'", (kind, message_id))

    def requeue(self, conn, message_id: int, now: float, by: str) -> sqlite3.Row | None:
        """Queue an unconfirmed or failed message again (``by`` pressed Resend: its credits count against
        them, today); the row, or None when it was not waiting for that. Its earlier attempts keep their
        tracking numbers (and an unconfirmed one its charge); the delivery status starts afresh."""
        row = conn.execute(
            f"UPDATE messages SET status = '{QUEUED}', next_attempt_at = ?, held = 0, queued_at = ?, updated_at = ?, "
            "last_error = NULL, failure = NULL, tracking_id = NULL, dlr_status_id = NULL, dlr_status = NULL, "
            f"dlr_at = NULL WHERE id = ? AND status IN ('{UNCONFIRMED}', '{FAILED}') RETURNING *",
            (now, now, now, message_id),
        ).fetchone()
        if row is not None:
            conn.execute(
                "INSERT INTO charges (message_id, batch_id, user_id, counted_at, credits) "
                "SELECT m.id, m.batch_id, ?, ?, coalesce(m.parts, b.parts) FROM messages m "
                "JOIN batches b ON b.id = m.batch_id WHERE m.id = ?",
                (by, now, message_id),
            )
        return row

    def recover(self, conn, now: float, epoch: int | None = None) -> list[sqlite3.Row]:
        """After a crash, or when a new leader takes over: messages left in ``sending`` (by a term before
        ``epoch``, when given) may have reached the gateway. Mark them unconfirmed (never resend blindly)
        and return them."""
        earlier = "" if epoch is None else " AND (epoch IS NULL OR epoch < ?)"
        rows = conn.execute(
            f"UPDATE messages SET status = '{UNCONFIRMED}', unconfirmed_at = ?, updated_at = ?, "
            "last_error = 'smsbot stopped while sending this SMS, so it may or may not have gone' "
            f"WHERE status = '{SENDING}'{earlier} RETURNING *",
            (now, now) if epoch is None else (now, now, epoch),
        ).fetchall()
        for row in rows:
            self._attempt(conn, row, AttemptOutcome.UNCONFIRMED, None, now)
        return rows

    def adopt(self, conn, message_id: int, tracking_id: str, sent_at: float, now: float) -> sqlite3.Row | None:
        """A delivery report proved that an unconfirmed message did go out: it becomes ``sent`` with
        the report's tracking number. None if the message is no longer unconfirmed."""
        row = conn.execute(
            f"UPDATE messages SET status = '{SENT}', tracking_id = ?, sent_at = coalesce(sent_at, ?), "
            f"last_error = NULL, updated_at = ? WHERE id = ? AND status = '{UNCONFIRMED}' RETURNING *",
            (tracking_id, sent_at, now, message_id),
        ).fetchone()
        if row is not None:
            conn.execute(
                f"UPDATE attempts SET tracking_id = ?, outcome = '{AttemptOutcome.ADOPTED}', recorded_at = ? "
                f"WHERE id = (SELECT max(id) FROM attempts WHERE message_id = ? "
                f"            AND outcome = '{AttemptOutcome.UNCONFIRMED}')",
                (tracking_id, now, message_id),
            )
        return row

    @staticmethod
    def adopt_earlier(conn, attempt_id: int, tracking_id: str, now: float) -> sqlite3.Row:
        """A report proved that an unconfirmed attempt before a Resend did go out; the message's own
        status (its latest attempt's) does not change."""
        return conn.execute(
            f"UPDATE attempts SET tracking_id = ?, outcome = '{AttemptOutcome.ADOPTED}', recorded_at = ? "
            "WHERE id = ? RETURNING *",
            (tracking_id, now, attempt_id),
        ).fetchone()

    def _attempt(self, conn, row: sqlite3.Row, outcome: AttemptOutcome, tracking_id: str | None, now: float) -> None:
        """An SMS handed (or maybe handed) to the gateway: its charge stays, linked to this attempt."""
        attempt_id = conn.execute(
            "INSERT INTO attempts (message_id, tracking_id, attempted_at, outcome, recorded_at) VALUES (?, ?, ?, ?, ?) "
            "RETURNING id",
            (row["id"], tracking_id, row["sending_at"], outcome.value, now),
        ).fetchone()[0]
        conn.execute(
            "UPDATE charges SET attempt_id = ? WHERE message_id = ? AND attempt_id IS NULL AND released_at IS NULL",
            (attempt_id, row["id"]),
        )

    @staticmethod
    def _release(conn, messages: list, now: float) -> int:
        """Give back the credits of these SMS (rows with an ``id``), which never reached the gateway: their
        open charge, not yet linked to an attempt. How many SMS there were."""
        conn.executemany(
            "UPDATE charges SET released_at = ? WHERE message_id = ? AND released_at IS NULL AND attempt_id IS NULL",
            [(now, m["id"]) for m in messages],
        )
        return len(messages)

    def _move(self, conn, message_id: int, status: Status, now: float, **columns) -> sqlite3.Row:
        values = {"status": status.value, "updated_at": now, **columns}
        assignments = ", ".join(f"{name} = ?" for name in values)
        row = conn.execute(
            f"UPDATE messages SET {assignments} WHERE id = ? AND status = '{SENDING}' RETURNING *",
            (*values.values(), message_id),
        ).fetchone()
        if row is None:
            raise LookupError(f"message {message_id} is not being sent")
        return row

    # -- reading ---------------------------------------------------------------------------
    def message(self, message_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None:
        return (conn or self.db.conn).execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()

    def batch(self, batch_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None:
        return (conn or self.db.conn).execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()

    def by_tracking_id(self, tracking_id: str) -> sqlite3.Row | None:
        """The message that was sent with this tracking number (in any of its attempts)."""
        return self.db.conn.execute(
            "SELECT m.* FROM attempts a JOIN messages m ON m.id = a.message_id WHERE a.tracking_id = ? "
            "ORDER BY a.id DESC LIMIT 1",
            (tracking_id,),
        ).fetchone()

    @staticmethod
    def attempt(conn, tracking_id: str) -> sqlite3.Row | None:
        """The attempt that got this tracking number, with its message's current tracking number."""
        return conn.execute(
            "SELECT a.*, m.tracking_id AS current_tracking_id FROM attempts a "
            "JOIN messages m ON m.id = a.message_id WHERE a.tracking_id = ? ORDER BY a.id DESC LIMIT 1",
            (tracking_id,),
        ).fetchone()

    @staticmethod
    def attempts_of(conn, message_id: int) -> list[sqlite3.Row]:
        return conn.execute("SELECT * FROM attempts WHERE message_id = ? ORDER BY id", (message_id,)).fetchall()

    @staticmethod
    def unconfirmed_attempts_to(conn, recipient: str, since: float, until: float) -> list[sqlite3.Row]:
        """Attempts to ``recipient`` between the two times that may have gone out but have no tracking
        number: each with its message's columns, ``attempt_id`` and ``latest`` (no later attempt)."""
        return conn.execute(
            "SELECT m.*, a.id AS attempt_id, a.attempted_at, "
            "a.id = (SELECT max(id) FROM attempts WHERE message_id = m.id) AS latest "
            "FROM attempts a JOIN messages m ON m.id = a.message_id "
            f"WHERE m.recipient = ? AND a.outcome = '{AttemptOutcome.UNCONFIRMED}' AND a.tracking_id IS NULL "
            "AND a.attempted_at >= ? AND a.attempted_at <= ? ORDER BY a.id",
            (recipient, since, until),
        ).fetchall()

    @staticmethod
    def sending_or_sent_after(conn, recipient: str, after: float, other_than: int) -> bool:
        """Whether an SMS to ``recipient`` is being sent now, or one other than ``other_than`` was sent
        after ``after``."""
        return (
            conn.execute(
                f"SELECT 1 FROM messages WHERE recipient = ? AND (status = '{SENDING}' OR "
                f"(status = '{SENT}' AND sent_at > ? AND id != ?)) LIMIT 1",
                (recipient, after, other_than),
            ).fetchone()
            is not None
        )

    def scheduled(self) -> list[sqlite3.Row]:
        """Scheduled sends with messages still waiting, soonest first, each with ``waiting`` (their count)
        and ``recipient`` (one of theirs: the number, for a send to one)."""
        return self.db.conn.execute(
            f"SELECT b.*, count(m.id) AS waiting, min(m.recipient) AS recipient FROM batches b "
            f"JOIN messages m ON m.batch_id = b.id "
            f"WHERE b.scheduled_for IS NOT NULL AND m.status = '{QUEUED}' GROUP BY b.id "
            "ORDER BY b.scheduled_for, b.id"
        ).fetchall()

    def missed_count(self, batch_id: int) -> int:
        return self.db.conn.execute(
            f"SELECT count(*) FROM messages WHERE batch_id = ? AND status = '{MISSED}'", (batch_id,)
        ).fetchone()[0]

    def recent_batches(self, limit: int) -> list[sqlite3.Row]:
        return self.db.conn.execute("SELECT * FROM batches ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    def messages_of(self, batch_id: int) -> list[sqlite3.Row]:
        return self.db.conn.execute("SELECT * FROM messages WHERE batch_id = ? ORDER BY id", (batch_id,)).fetchall()

    def depth(self) -> int:
        """Messages waiting to be sent (queued or being sent)."""
        return self.db.conn.execute(
            f"SELECT count(*) FROM messages WHERE status IN ('{QUEUED}', '{SENDING}')"
        ).fetchone()[0]

    def oldest_queued_at(self) -> float | None:
        return self.db.conn.execute(
            f"SELECT min(queued_at) FROM messages WHERE status IN ('{QUEUED}', '{SENDING}')"
        ).fetchone()[0]

    def next_due_at(self) -> float | None:
        return self.db.conn.execute(f"SELECT min(next_attempt_at) FROM messages WHERE status = '{QUEUED}'").fetchone()[
            0
        ]
