"""Delivery reports from the gateway: parse, store, apply — all in one transaction.

Knows nothing of Slack or HTTP. Every report is appended to ``reports`` with its
raw parameters and what it did (``outcome``):

- ``applied``: it moved a message's delivery status forward;
- ``duplicate``: the message already had exactly this status (nothing to show);
- ``stale``: the message already had a final status (a late 100, or a second final);
- ``unmatched``: no message has that tracking number (yet): kept, and matched later
  if the sender records that tracking number (a report can beat our own commit),
  or if an unconfirmed send to the same number turns out to be it;
- ``adopted``: it revealed that an ``unconfirmed`` send did go out: the message
  takes the tracking number and the status.

Status 100 is provisional; 200, 300 and 400 are final, and status only moves
forward. An unknown StatusID is kept and shown with its raw statusMessage.
"""
from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from typing import Callable, Mapping

from bot.storage.db import Database

log = logging.getLogger(__name__)

SUBMITTED, DELIVERED, FAILED, NO_ROUTE = 100, 200, 300, 400
STATUS_MESSAGES = {SUBMITTED: "Submitted to gateway", DELIVERED: "Delivered to Mobile",
                   FAILED: "Delivery Failed", NO_ROUTE: "Route not available"}
FINAL = frozenset({DELIVERED, FAILED, NO_ROUTE})
MAX_VALUE_CHARS = 500
_TRACKING_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

OnChange = Callable[[sqlite3.Connection, str, sqlite3.Row, sqlite3.Row], None]


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
        status_message=fields.get("statusmessage", "").strip() or STATUS_MESSAGES.get(status_id, ""),
        recipient=re.sub(r"[^0-9]", "", fields.get("to", "")),
        sender=fields.get("from", "").strip(),
        raw=dict(params),
    )


def is_forward(current: int | None, new: int) -> bool:
    """Whether a report with status ``new`` may replace ``current``."""
    if current is None:
        return True
    if current in FINAL:
        return False
    return new != current


class ReportIntake:
    def __init__(self, db: Database, on_change: OnChange = lambda *args: None) -> None:
        self.db = db
        self.on_change = on_change

    def record(self, report: Report, now: float) -> str:
        """Store the report and apply it, atomically; returns its outcome once committed.
        Raises on a storage failure. Reports arriving together share one commit."""
        outcome = self.db.write(lambda conn: self._record(conn, report, now))
        level = logging.WARNING if outcome == "unmatched" else logging.INFO
        log.log(level, "event=report_%s tracking=%s status=%d to=%s", outcome, report.tracking_id,
                report.status_id, report.recipient or "-")
        return outcome

    def _record(self, conn: sqlite3.Connection, report: Report, now: float) -> str:
        row = conn.execute(
            "INSERT INTO reports (received_at, tracking_id, recipient, sender, status_id, status_message, "
            "raw, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, 'unmatched') RETURNING *",
            (now, report.tracking_id, report.recipient, report.sender, report.status_id,
             report.status_message, json.dumps(report.raw, ensure_ascii=False))).fetchone()
        message = conn.execute("SELECT * FROM messages WHERE tracking_id = ? ORDER BY id DESC LIMIT 1",
                               (report.tracking_id,)).fetchone()
        if message is not None:
            return self._apply(conn, row, message, now)
        candidate = conn.execute(
            "SELECT * FROM messages WHERE recipient = ? AND status = 'unconfirmed' "
            "ORDER BY unconfirmed_at DESC, id DESC LIMIT 1", (report.recipient,)).fetchone()
        return self._adopt(conn, row, candidate, now) if candidate is not None else "unmatched"

    def match_unmatched(self, conn: sqlite3.Connection, message: sqlite3.Row, now: float) -> None:
        """A message was just marked sent or unconfirmed: apply reports that arrived for it first."""
        if message["status"] == "sent":
            reports = conn.execute(
                "SELECT * FROM reports WHERE tracking_id = ? AND outcome = 'unmatched' ORDER BY id",
                (message["tracking_id"],)).fetchall()
        elif message["status"] == "unconfirmed":
            reports = conn.execute(
                "SELECT * FROM reports WHERE recipient = ? AND outcome = 'unmatched' AND received_at >= ? "
                "ORDER BY id LIMIT 1", (message["recipient"], message["sending_at"] or now)).fetchall()
            if reports:
                self._adopt(conn, reports[0], message, now)
                # later reports with the same tracking number now match the message
                adopted = conn.execute("SELECT * FROM messages WHERE id = ?", (message["id"],)).fetchone()
                self.match_unmatched(conn, adopted, now)
            return
        else:
            return
        for report in reports:
            current = conn.execute("SELECT * FROM messages WHERE id = ?", (message["id"],)).fetchone()
            self._apply(conn, report, current, now)

    def _adopt(self, conn, report: sqlite3.Row, message: sqlite3.Row, now: float) -> str:
        adopted = conn.execute(
            "UPDATE messages SET status = 'sent', tracking_id = ?, sent_at = coalesce(sent_at, ?), "
            "last_error = NULL, updated_at = ? WHERE id = ? RETURNING *",
            (report["tracking_id"], report["received_at"], now, message["id"])).fetchone()
        log.info("event=unconfirmed_adopted message=%d tracking=%s", message["id"], report["tracking_id"])
        self._set_status(conn, report, adopted, now, outcome="adopted")
        return "adopted"

    def _apply(self, conn, report: sqlite3.Row, message: sqlite3.Row, now: float) -> str:
        current = message["dlr_status_id"]
        if not is_forward(current, report["status_id"]):
            outcome = "duplicate" if current == report["status_id"] else "stale"
            conn.execute("UPDATE reports SET outcome = ?, message_id = ? WHERE id = ?",
                         (outcome, message["id"], report["id"]))
            return outcome
        self._set_status(conn, report, message, now, outcome="applied")
        return "applied"

    def _set_status(self, conn, report: sqlite3.Row, message: sqlite3.Row, now: float, *, outcome: str) -> None:
        message = conn.execute(
            "UPDATE messages SET dlr_status_id = ?, dlr_status = ?, dlr_at = ?, updated_at = ? WHERE id = ? "
            "RETURNING *",
            (report["status_id"], report["status_message"], report["received_at"], now, message["id"])).fetchone()
        report = conn.execute("UPDATE reports SET outcome = ?, message_id = ? WHERE id = ? RETURNING *",
                              (outcome, message["id"], report["id"])).fetchone()
        self.on_change(conn, outcome, message, report)

    def history(self, message_id: int) -> list[sqlite3.Row]:
        """The reports that belong to a message, in arrival order (duplicates left out)."""
        return self.db.conn.execute(
            "SELECT * FROM reports WHERE message_id = ? AND outcome != 'duplicate' ORDER BY id",
            (message_id,)).fetchall()
