"""Delivery reports from the gateway: parse, store, match to the attempt they are for, apply.

Knows nothing of Slack or HTTP. Every report is appended to ``reports`` with its
raw parameters and what it did (:class:`Outcome`):

- ``applied``: it moved the delivery status of an SMS's latest attempt forward;
- ``duplicate``: that attempt already had exactly this status (nothing to show);
- ``stale``: that attempt already had a final status (a late 100, or a second final);
- ``earlier_attempt``: it is for an attempt before a Resend; kept with that attempt, and if it
  says delivered the thread hears that the recipient may have the SMS twice;
- ``unmatched``: no attempt has that tracking number (yet): kept, and matched later if the
  sender records that tracking number (a report can beat our own commit), or adopted;
- ``adopted``: it proved that an ``unconfirmed`` SMS did go out (see :meth:`ReportIntake.adoptable`);
- ``pending``: taken in by the callback and not applied yet (:meth:`ReportIntake.take`); the leader's
  applier (bot/workers/reports.py) gives it one of the outcomes above within moments, in id order;
- ``failed``: applying it raised an error that is not the database's (a bug): kept as it came, logged
  at ERROR with its traceback, and never tried again, so one report cannot stop the others.

The callback only takes a report in (one statement, committed on its own: on PostgreSQL in parallel on
every replica), so the gateway hears 200 as soon as the report is stored; applying it (matching,
status, Slack notices) is a write transaction of about ten statements, done in batches behind.

What it did is told to ``on_change`` as a :class:`Notice`, inside the same transaction.
The codes (100 provisional; 200, 300, 400 final) are in :mod:`bot.sms.dlr`; status only
moves forward. An unknown StatusID is kept and shown with its raw statusMessage.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import phonenumbers

from bot.sms import dlr
from bot.sms.errors import SmsRuleError
from bot.sms.numbers import mask, normalise_number
from bot.storage import SqlEnum
from bot.storage.db import Database
from bot.storage.dialect import indexed_by
from bot.storage.errors import OperationalError
from bot.storage.faults import DatabaseClosed
from bot.storage.queue import SendQueue, Status

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 500
ADOPT_WINDOW_SECONDS = 72 * 3600  # the gateway retries a report for up to 48 h
# A report waits this long for the database, then is answered 500 and resent by the gateway: a
# lock held by another program must not keep the HTTP threads that Slack's acks need.
REPORT_PATIENCE_SECONDS = 2.0
# The database cannot do it now (busy, locked, closing, disk, connection): the batch is tried again later,
# nothing applied, everything still pending. Any other error is one report's (a bug, a constraint).
_NOT_NOW: tuple[type[Exception], ...] = (*OperationalError, DatabaseClosed, TimeoutError)
_TRACKING_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
APPLY_BATCH = 200  # pending reports applied in one transaction at most
_INSERT = (
    "INSERT INTO reports (received_at, tracking_id, recipient, sender, status_id, status_message, raw, outcome) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class Outcome(SqlEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    EARLIER_ATTEMPT = "earlier_attempt"
    UNMATCHED = "unmatched"
    ADOPTED = "adopted"
    PENDING = "pending"
    FAILED = "failed"


class Notice(SqlEnum):
    """What a report means for an SMS's thread (``on_change(conn, notice, message, report)``)."""

    APPLIED = "applied"  # its delivery status moved forward
    ADOPTED = "adopted"  # an unconfirmed SMS did go out
    OTHER_NUMBER = "other_number"  # applied, but the gateway named another number
    MAYBE_THIS = "maybe_this"  # an unmatched report that may be this SMS; a person decides
    TWICE = "twice"  # two attempts of this SMS delivered (or one before a Resend)


OnChange = Callable[[sqlite3.Connection, Notice, sqlite3.Row, sqlite3.Row], None]


class ReportError(ValueError):
    """The report cannot be read; str() says what was wrong (answered with HTTP 400)."""


@dataclass(frozen=True)
class Report:
    tracking_id: str
    status_id: int
    status_message: str
    recipient: str
    sender: str
    raw: dict[str, str]


def parse_report(params: Mapping[str, str]) -> Report:
    """Read the gateway's parameters, matching names case-insensitively."""
    fields = {name.lower(): value for name, value in params.items()}
    too_long = [name for name, value in fields.items() if len(value) > MAX_VALUE_CHARS]
    if too_long:
        raise ReportError(f"parameter {too_long[0][:40]!r} is longer than {MAX_VALUE_CHARS} characters")
    tracking = fields.get("messageid", "").strip()
    if not tracking:
        raise ReportError("messageid is missing")
    if not _TRACKING_RE.match(tracking):
        raise ReportError("messageid is not a tracking number")
    status = fields.get("statusid", "").strip()
    if not status.isdigit() or len(status) > 6:
        raise ReportError("StatusID is missing or not a number")
    status_id = int(status)
    return Report(
        tracking_id=tracking,
        status_id=status_id,
        status_message=fields.get("statusmessage", "").strip() or dlr.MESSAGES.get(status_id, ""),
        recipient=re.sub(r"[^0-9]", "", fields.get("to", "")),
        sender=fields.get("from", "").strip(),
        raw=dict(params),
    )


def same_number(reported: str, recipient: str) -> bool:
    """Whether the gateway's ``to`` names ``recipient`` once both are normalised (a ``to`` in
    local form is read in the recipient's own country). A missing ``to`` names no other number."""
    if not reported or reported == recipient:
        return True
    try:
        country = phonenumbers.parse("+" + recipient).country_code
        assert country is not None  # parse() sets it for a number in international form, or raises
        return normalise_number(reported, phonenumbers.region_code_for_country_code(country)) == recipient
    except (phonenumbers.NumberParseException, SmsRuleError):
        return False


def _values(report: Report, now: float, outcome: Outcome) -> tuple:
    raw = json.dumps(report.raw, ensure_ascii=False)
    return (now, report.tracking_id, report.recipient, report.sender, report.status_id, report.status_message, raw,
            outcome.value)  # fmt: skip


class ReportIntake:
    def __init__(
        self, db: Database, on_change: OnChange = lambda *args: None, wake: Callable[[], None] = lambda: None
    ) -> None:
        """``wake``: wakes the applier of pending reports (on whichever replica leads) after one is taken in."""
        self.db = db
        self.on_change = on_change
        self.wake = wake
        self.queue = SendQueue(db)

    def take(self, report: Report, now: float, patience: float = REPORT_PATIENCE_SECONDS) -> None:
        """Store the report as ``pending``, to be applied by :meth:`apply_pending`; returns once committed.
        Raises on a storage failure (then it is not stored). On SQLite, also when the write lock is not had
        within ``patience`` seconds; on PostgreSQL the insert waits for no other writer, only for the network,
        which NETWORK_DEFAULTS bound (bot/storage/postgres.py)."""
        self.db.commit_alone(_INSERT, _values(report, now, Outcome.PENDING), timeout=patience)
        self.wake()

    def apply_pending(self, now: float, limit: int = APPLY_BATCH) -> int:
        """Apply up to ``limit`` pending reports, oldest first, in one write transaction; returns how many.
        When the database cannot do it now, raises (nothing applied, all still pending). Any other error is one
        report's (a bug, a constraint): each is then applied in a transaction of its own, and the one that
        raises is kept ``failed``, so it never stops the others."""
        try:
            with self.db.transaction() as conn:
                done = [(row, self._apply_row(conn, row, now)) for row in self._pending(conn, limit)]
        except _NOT_NOW:
            raise
        except Exception:
            return self._apply_one_by_one(now, limit)
        for row, outcome in done:
            _log_outcome(outcome, row["tracking_id"], row["status_id"], row["recipient"])
        return len(done)

    def pending(self) -> tuple[int, float | None]:
        """(how many reports wait to be applied, when the oldest of them was taken in)."""
        count, oldest = self.db.conn.execute(
            f"SELECT count(*), min(received_at) FROM reports WHERE outcome = '{Outcome.PENDING}'"
        ).fetchone()
        return count, oldest

    def _pending(self, conn, limit: int) -> list[sqlite3.Row]:
        return conn.execute(
            f"SELECT * FROM reports {indexed_by(conn, 'reports_pending')} WHERE outcome = '{Outcome.PENDING}' "
            "ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()

    def _apply_one_by_one(self, now: float, limit: int) -> int:
        ids = [row["id"] for row in self._pending(self.db.conn, limit)]
        for report_id in ids:
            try:
                with self.db.transaction() as conn:
                    row = conn.execute(
                        f"SELECT * FROM reports WHERE id = ? AND outcome = '{Outcome.PENDING}'", (report_id,)
                    ).fetchone()
                    outcome = None if row is None else self._apply_row(conn, row, now)
            except _NOT_NOW:
                raise
            except Exception:
                log.exception("event=report_apply_failed report=%d note=%s", report_id, '"kept as failed"')
                with self.db.transaction() as conn:
                    conn.execute(
                        f"UPDATE reports SET outcome = '{Outcome.FAILED}' WHERE id = ? AND outcome = ?",
                        (report_id, Outcome.PENDING.value),
                    )
                continue
            if row is not None and outcome is not None:
                _log_outcome(outcome, row["tracking_id"], row["status_id"], row["recipient"])
        return len(ids)

    def _apply_row(self, conn: sqlite3.Connection, row: sqlite3.Row, now: float) -> Outcome:
        """What a stored report does (its outcome written into its row), inside the caller's transaction."""
        attempt = self.queue.attempt(conn, row["tracking_id"])
        if attempt is not None:
            message = _message(conn, attempt["message_id"])
            if attempt["tracking_id"] != message["tracking_id"]:
                return self._apply_to_earlier(conn, row, attempt, message)
            return self._apply(conn, row, message, now)
        candidates = self._candidates(conn, row)
        if len(candidates) == 1 and self.adoptable(conn, candidates[0]):
            return self._adopt(conn, row, candidates[0], now)
        if self._news(conn, row):
            self._tell_candidates(conn, row, candidates)
        if row["outcome"] != Outcome.UNMATCHED:  # pending until now: matched later if it can be
            conn.execute(f"UPDATE reports SET outcome = '{Outcome.UNMATCHED}' WHERE id = ?", (row["id"],))
        return Outcome.UNMATCHED

    # -- adoption ----------------------------------------------------------------------------
    def _candidates(self, conn, report: sqlite3.Row) -> list[sqlite3.Row]:
        """Unconfirmed attempts to the report's number in the 72 hours before it arrived."""
        if not report["recipient"]:
            return []
        received = report["received_at"]
        return self.queue.unconfirmed_attempts_to(conn, report["recipient"], received - ADOPT_WINDOW_SECONDS, received)

    def adoptable(self, conn, candidate: sqlite3.Row) -> bool:
        """The only candidate may take an unknown report only while no SMS to that number is being
        sent and no other was sent after it: either could be the report's real owner."""
        return not self.queue.sending_or_sent_after(
            conn, candidate["recipient"], candidate["attempted_at"], candidate["id"]
        )

    def _adopt(self, conn, report: sqlite3.Row, candidate: sqlite3.Row, now: float) -> Outcome:
        log.info("event=unconfirmed_adopted message=%d tracking=%s", candidate["id"], report["tracking_id"])
        if candidate["status"] == Status.UNCONFIRMED and candidate["latest"]:
            adopted = self.queue.adopt(conn, candidate["id"], report["tracking_id"], report["received_at"], now)
            assert adopted is not None  # read unconfirmed in this same transaction: adopt() matched it
            self._set_status(conn, report, adopted, now, Outcome.ADOPTED, Notice.ADOPTED)
            return Outcome.ADOPTED
        attempt = self.queue.adopt_earlier(conn, candidate["attempt_id"], report["tracking_id"], now)
        return self._apply_to_earlier(conn, report, attempt, _message(conn, candidate["id"]))

    def _tell_candidates(self, conn, report: sqlite3.Row, candidates: list[sqlite3.Row]) -> None:
        told = set()
        for candidate in candidates:
            if candidate["id"] not in told:
                told.add(candidate["id"])
                self.on_change(conn, Notice.MAYBE_THIS, _message(conn, candidate["id"]), report)

    def _news(self, conn, report: sqlite3.Row) -> bool:
        """Whether an unmatched report moves its tracking number's status forward (one notice each)."""
        status = None
        for (earlier,) in conn.execute(
            f"SELECT status_id FROM reports WHERE tracking_id = ? AND outcome = '{Outcome.UNMATCHED}' "
            "AND id < ? ORDER BY id",
            (report["tracking_id"], report["id"]),
        ):
            status = earlier if dlr.is_forward(status, earlier) else status
        return dlr.is_forward(status, report["status_id"])

    def match_unmatched(self, conn: sqlite3.Connection, message: sqlite3.Row, now: float) -> None:
        """A message was just marked sent or unconfirmed: apply reports that arrived for it first."""
        if message["status"] == Status.SENT:
            for report in conn.execute(
                f"SELECT * FROM reports WHERE tracking_id = ? AND outcome = '{Outcome.UNMATCHED}' ORDER BY id",
                (message["tracking_id"],),
            ).fetchall():
                self._apply(conn, report, _message(conn, message["id"]), now)
        elif message["status"] == Status.UNCONFIRMED:
            self._match_unconfirmed(conn, message, now)

    def _match_unconfirmed(self, conn, message: sqlite3.Row, now: float) -> None:
        """Unmatched reports to its number since it was handed to the gateway: adopt one if the rule
        allows, else tell its thread about each that may be it."""
        reports = conn.execute(
            f"SELECT * FROM reports WHERE recipient = ? AND outcome = '{Outcome.UNMATCHED}' "
            "AND received_at >= ? AND received_at <= ? ORDER BY id",
            (message["recipient"], message["sending_at"], message["sending_at"] + ADOPT_WINDOW_SECONDS),
        ).fetchall()
        latest = {report["tracking_id"]: report for report in reports}  # per tracking number, the newest
        if len(latest) == 1:
            candidates = self._candidates(conn, reports[0])
            if [c["id"] for c in candidates] == [message["id"]] and self.adoptable(conn, candidates[0]):
                self._adopt(conn, reports[0], candidates[0], now)
                self.match_unmatched(conn, _message(conn, message["id"]), now)  # its later reports
                return
        for report in latest.values():
            self.on_change(conn, Notice.MAYBE_THIS, message, report)

    # -- applying ----------------------------------------------------------------------------
    def _apply(self, conn, report: sqlite3.Row, message: sqlite3.Row, now: float) -> Outcome:
        current = message["dlr_status_id"]
        if not dlr.is_forward(current, report["status_id"]):
            return self._ignore(conn, report, message["id"], current)
        notice = Notice.APPLIED if same_number(report["recipient"], message["recipient"]) else Notice.OTHER_NUMBER
        self._set_status(conn, report, message, now, Outcome.APPLIED, notice)
        return Outcome.APPLIED

    def _apply_to_earlier(self, conn, report: sqlite3.Row, attempt: sqlite3.Row, message: sqlite3.Row) -> Outcome:
        """A report for an attempt before a Resend: kept with that attempt; never changes the SMS."""
        current = attempt["dlr_status_id"]
        if not dlr.is_forward(current, report["status_id"]):
            return self._ignore(conn, report, message["id"], current)
        conn.execute(
            "UPDATE attempts SET dlr_status_id = ?, dlr_at = ? WHERE id = ?",
            (report["status_id"], report["received_at"], attempt["id"]),
        )
        report = conn.execute(
            "UPDATE reports SET outcome = ?, message_id = ? WHERE id = ? RETURNING *",
            (Outcome.EARLIER_ATTEMPT.value, message["id"], report["id"]),
        ).fetchone()
        log.warning(
            "event=report_for_earlier_attempt message=%d tracking=%s status=%d",
            message["id"],
            report["tracking_id"],
            report["status_id"],
        )
        if report["status_id"] == dlr.DELIVERED:
            self.on_change(conn, Notice.TWICE, message, report)
        return Outcome.EARLIER_ATTEMPT

    def _ignore(self, conn, report: sqlite3.Row, message_id: int, current: int | None) -> Outcome:
        outcome = Outcome.DUPLICATE if current == report["status_id"] else Outcome.STALE
        conn.execute(
            "UPDATE reports SET outcome = ?, message_id = ? WHERE id = ?", (outcome.value, message_id, report["id"])
        )
        return outcome

    def _set_status(
        self, conn, report: sqlite3.Row, message: sqlite3.Row, now: float, outcome: Outcome, notice: Notice
    ) -> None:
        message = conn.execute(
            "UPDATE messages SET dlr_status_id = ?, dlr_status = ?, dlr_at = ?, updated_at = ? WHERE id = ? "
            "RETURNING *",
            (report["status_id"], report["status_message"], report["received_at"], now, message["id"]),
        ).fetchone()
        conn.execute(
            "UPDATE attempts SET dlr_status_id = ?, dlr_at = ? WHERE message_id = ? AND tracking_id = ?",
            (report["status_id"], report["received_at"], message["id"], report["tracking_id"]),
        )
        report = conn.execute(
            "UPDATE reports SET outcome = ?, message_id = ? WHERE id = ? RETURNING *",
            (outcome.value, message["id"], report["id"]),
        ).fetchone()
        self.on_change(conn, notice, message, report)
        if (
            report["status_id"] == dlr.DELIVERED
            and conn.execute(
                "SELECT 1 FROM attempts WHERE message_id = ? AND tracking_id != ? AND dlr_status_id = ?",
                (message["id"], report["tracking_id"], dlr.DELIVERED.value),
            ).fetchone()
        ):
            self.on_change(conn, Notice.TWICE, message, report)

    def history(self, message_id: int) -> list[sqlite3.Row]:
        """The reports that belong to a message, in arrival order (duplicates left out)."""
        return self.db.conn.execute(
            f"SELECT * FROM reports WHERE message_id = ? AND outcome != '{Outcome.DUPLICATE}' ORDER BY id",
            (message_id,),
        ).fetchall()


def _log_outcome(outcome: Outcome, tracking_id: str, status_id: int, recipient: str) -> None:
    # INFO, unmatched too: a report can beat our own commit (it is matched then), or be for an SMS
    # retention erased; it is kept in ``reports`` either way, and nothing is wrong for an operator to fix.
    log.info("event=report_%s tracking=%s status=%d to=%s", outcome, tracking_id, status_id, mask(recipient))


def _message(conn, message_id: int) -> sqlite3.Row:
    return conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
