"""Who spent what, for billing: usage by user and channel for a period, and the per-SMS rows of the
export CSV (``billing_csv``). Both read the ledger of charges that the daily limits read (written by
bot/storage/queue.py): an SMS counts against whoever queued it (a Resend, whoever pressed it) on the
day it goes out, while it is queued, sent or unconfirmed; a failed, cancelled or missed one is not
there. Read-only; works after retention erased texts and numbers, since counts, parts, statuses,
times and countries are kept."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from dataclasses import dataclass

from bot.sms import dlr
from bot.storage.db import Database
from bot.storage.queue import AttemptOutcome

CSV_COLUMNS = (
    "queued_at",
    "requester_id",
    "requester_name",
    "channel_id",
    "channel_name",
    "recipient",
    "country",
    "parts",
    "credits",
    "status",
    "status_at",
    "tracking_number",
)
_FINAL_LABELS = {
    dlr.SUBMITTED: "submitted",
    dlr.DELIVERED: "delivered",
    dlr.FAILED: "delivery failed",
    dlr.NO_ROUTE: "route not available",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class UsageRow:
    user_id: str
    user_name: str
    channel_id: str
    channel_name: str
    sms: int
    credits: int
    sent: int = 0  # of which the gateway took (a tracking number)
    sent_credits: int = 0
    unconfirmed: int = 0  # of which may have gone out (no answer from the gateway)
    unconfirmed_credits: int = 0  # the rest are still waiting to be sent

    @property
    def waiting(self) -> int:
        return self.sms - self.sent - self.unconfirmed


def month_bounds(month: str, timezone: str) -> tuple[float, float]:
    """[start, end) of a YYYY-MM month in the time zone; ValueError if it is not one."""
    year, mon = (int(p) for p in month.split("-"))
    tz = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime(year, mon, 1, tzinfo=tz)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def day_bounds(first: str, last: str, timezone: str) -> tuple[float, float]:
    """[start of ``first``, end of ``last``) for two YYYY-MM-DD days; ValueError if not days or reversed."""
    tz = zoneinfo.ZoneInfo(timezone)
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    if b < a:
        raise ValueError(f"{last} is before {first}")
    start = dt.datetime(a.year, a.month, a.day, tzinfo=tz)
    end = dt.datetime(b.year, b.month, b.day, tzinfo=tz) + dt.timedelta(days=1)
    return start.timestamp(), end.replace(tzinfo=None).replace(tzinfo=tz).timestamp()


class UsageReport:
    def __init__(self, db: Database) -> None:
        self.db = db

    def rows(self, start: float, end: float, user_id: str | None = None) -> list[UsageRow]:
        """SMS counted (queued, sent or unconfirmed) and their credits per (user, channel) in [start, end)."""
        sent, unconfirmed = (
            _outcome_in(AttemptOutcome.SENT, AttemptOutcome.ADOPTED),
            _outcome_in(AttemptOutcome.UNCONFIRMED),
        )
        sql = (
            "SELECT c.user_id, max(CASE WHEN c.user_id = b.user_id THEN b.user_name END), p.channel_id, "
            "max(p.channel_name), count(*), sum(c.credits), "
            f"sum(CASE WHEN {sent} THEN 1 ELSE 0 END), sum(CASE WHEN {sent} THEN c.credits END), "
            f"sum(CASE WHEN {unconfirmed} THEN 1 ELSE 0 END), sum(CASE WHEN {unconfirmed} THEN c.credits END) "
            f"FROM {_COUNTED} WHERE c.released_at IS NULL AND c.counted_at >= ? AND c.counted_at < ?"
        )
        params: tuple = (start, end)
        if user_id is not None:
            sql, params = sql + " AND c.user_id = ?", params + (user_id,)
        rows = self.db.conn.execute(
            sql + " GROUP BY c.user_id, p.channel_id ORDER BY c.user_id, p.channel_id", params
        ).fetchall()
        return [UsageRow(r[0] or "", r[1] or "", r[2] or "", r[3] or "", r[4], *(n or 0 for n in r[5:])) for r in rows]

    def billing_csv(self, start: float, end: float, timezone: str) -> str:
        """Every SMS counted in [start, end) as CSV text (UTF-8 BOM first): spreadsheet-safe. Its credits add
        up to ``rows``' for the same days."""
        tz = zoneinfo.ZoneInfo(timezone)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.db.conn.execute(
            "SELECT c.counted_at, c.user_id, CASE WHEN c.user_id = b.user_id THEN b.user_name END AS user_name, "
            "p.channel_id, p.channel_name, m.recipient, m.country, c.credits, m.status, m.updated_at, "
            "a.outcome, a.recorded_at, a.tracking_id, a.dlr_status_id, a.dlr_at, "
            "(SELECT r.status_message FROM reports r WHERE r.message_id = m.id AND r.tracking_id = a.tracking_id "
            " ORDER BY r.id DESC LIMIT 1) AS dlr_status "
            f"FROM {_COUNTED} JOIN messages m ON m.id = c.message_id "
            "WHERE c.released_at IS NULL AND c.counted_at >= ? AND c.counted_at < ? ORDER BY c.id",
            (start, end),
        ):
            status, at = _final(row)
            writer.writerow(
                [
                    _iso(row["counted_at"], tz),
                    safe(row["user_id"]),
                    safe(row["user_name"]),
                    safe(row["channel_id"]),
                    safe(row["channel_name"]),
                    _digits(row["recipient"]),
                    safe(row["country"]),
                    row["credits"],
                    row["credits"],
                    safe(status),
                    _iso(at, tz),
                    _digits(row["tracking_id"]),
                ]
            )
        return out.getvalue()


# A charge with its send, where it was requested, and the attempt that handed it to the gateway (if any).
_COUNTED = (
    "charges c JOIN batches b ON b.id = c.batch_id LEFT JOIN slack_posts p ON p.batch_id = c.batch_id "
    "LEFT JOIN attempts a ON a.id = c.attempt_id"
)


def charged_between(conn, since: float, until: float) -> list[tuple[float, int]]:
    """(when, credits) of every SMS the gateway took between the two times, from the same ledger: for the
    balance watch's spend today and in 7 days (an attempt before a Resend that went out counts too)."""
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT a.attempted_at, c.credits FROM charges c JOIN attempts a ON a.id = c.attempt_id "
            f"WHERE c.released_at IS NULL AND {_outcome_in(AttemptOutcome.SENT, AttemptOutcome.ADOPTED)} "
            "AND a.attempted_at >= ? AND a.attempted_at <= ?",
            (since, until),
        )
    ]


def _outcome_in(*outcomes: AttemptOutcome) -> str:
    return f"(a.outcome IN ({', '.join(repr(o.value) for o in outcomes)}))"


def safe(value) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (a leading ' is added)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _digits(value) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _iso(ts: float | None, tz) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def _final(row) -> tuple[str, float | None]:
    """The status this charge's SMS reached and when: its attempt's delivery report if there is one, else
    the attempt's outcome, else (not yet handed to the gateway) the queue's status."""
    if row["dlr_status_id"] is not None:
        label = _FINAL_LABELS.get(row["dlr_status_id"], row["dlr_status"] or str(row["dlr_status_id"]))
        return label, row["dlr_at"]
    if row["outcome"] is not None:
        return ("unconfirmed" if row["outcome"] == AttemptOutcome.UNCONFIRMED else "sent"), row["recorded_at"]
    return row["status"], row["updated_at"]
