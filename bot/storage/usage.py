"""Who spent what, for billing: usage by user and channel for a period, and the per-SMS rows of the
export CSV (``billing_csv``). Read-only; works after retention erased texts and numbers, since
counts, parts, statuses, times and countries are kept."""
from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from dataclasses import dataclass

from bot.sms import dlr
from bot.storage.db import Database
from bot.storage.queue import Status
from bot.spend import CHARGED_PARTS, SEND_DAY

CSV_COLUMNS = ("queued_at", "requester_id", "requester_name", "channel_id", "channel_name", "recipient",
               "country", "parts", "credits", "status", "status_at", "tracking_number")
_FINAL_LABELS = {dlr.SUBMITTED: "submitted", dlr.DELIVERED: "delivered", dlr.FAILED: "delivery failed",
                 dlr.NO_ROUTE: "route not available"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class UsageRow:
    user_id: str
    user_name: str
    channel_id: str
    channel_name: str
    sms: int
    credits: int


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
        """SMS charged (not failed) and their credits per (user, channel) queued in [start, end)."""
        sql = (f"SELECT b.user_id, max(b.user_name), p.channel_id, max(p.channel_name), count(m.id), "
               f"sum({CHARGED_PARTS}) "
               "FROM batches b JOIN messages m ON m.batch_id = b.id LEFT JOIN slack_posts p ON p.batch_id = b.id "
               f"WHERE {SEND_DAY} >= ? AND {SEND_DAY} < ? AND m.status != '{Status.FAILED}'")
        params: tuple = (start, end)
        if user_id is not None:
            sql, params = sql + " AND b.user_id = ?", params + (user_id,)
        rows = self.db.conn.execute(sql + " GROUP BY b.user_id, p.channel_id ORDER BY b.user_id, p.channel_id",
                                    params).fetchall()
        return [UsageRow(r[0] or "", r[1] or "", r[2] or "", r[3] or "", r[4], r[5] or 0) for r in rows]

    def billing_csv(self, start: float, end: float, timezone: str) -> str:
        """Every SMS queued in [start, end) as CSV text (UTF-8 BOM first): spreadsheet-safe."""
        tz = zoneinfo.ZoneInfo(timezone)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.db.conn.execute(
                f"SELECT m.*, b.user_id, b.user_name, {CHARGED_PARTS} AS charged_parts, p.channel_id, p.channel_name "
                "FROM messages m JOIN batches b ON b.id = m.batch_id LEFT JOIN slack_posts p ON p.batch_id = b.id "
                f"WHERE {SEND_DAY} >= ? AND {SEND_DAY} < ? ORDER BY m.id", (start, end)):
            status, at = _final(row)
            writer.writerow([
                _iso(row["queued_at"], tz), safe(row["user_id"]), safe(row["user_name"]), safe(row["channel_id"]),
                safe(row["channel_name"]), _digits(row["recipient"]), safe(row["country"]), row["charged_parts"],
                0 if row["status"] == Status.FAILED else row["charged_parts"], safe(status), _iso(at, tz),
                _digits(row["tracking_id"])])
        return out.getvalue()


def safe(value) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (a leading ' is added)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _digits(value) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _iso(ts: float | None, tz) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def _final(row) -> tuple[str, float | None]:
    """The status reached and when: a delivery report's if there is one, else the queue's."""
    if row["dlr_status_id"] is not None:
        return _FINAL_LABELS.get(row["dlr_status_id"], row["dlr_status"] or str(row["dlr_status_id"])), row["dlr_at"]
    status = row["status"]
    at = {"sent": row["sent_at"], "failed": row["failed_at"], "unconfirmed": row["unconfirmed_at"]}.get(
        status, row["updated_at"])
    return status, at
