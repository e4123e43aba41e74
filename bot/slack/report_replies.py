"""Thread replies for what a delivery report meant for an SMS (bot.storage.reports.Notice):
its new status, a report that may be it, a report for another number, a second delivery."""

from __future__ import annotations

from collections.abc import Sequence

from bot.slack.render import DELIVERY_LABELS, escape, message, report_reply, when
from bot.slack.render.blocks import Row
from bot.sms import dlr
from bot.storage.queue import Status
from bot.storage.reports import Notice


def reply(notice: str, batch: Row, row: Row, report: Row, attempts: Sequence[Row]) -> dict:
    """The thread reply for ``notice`` about the SMS ``row``; ``attempts`` are its attempts, oldest first."""
    if notice == Notice.MAYBE_THIS:
        return maybe_this(batch, row, report)
    if notice == Notice.TWICE:
        return delivered_twice(batch, row, report, attempts)
    content = report_reply(batch, row, report, adopted=notice == Notice.ADOPTED)
    if notice == Notice.OTHER_NUMBER:
        content = other_number(content, row, report)
    return content


def tracking_reused(batch: Row, row: Row, other: Row, other_batch: Row) -> dict:
    """The gateway answered this SMS with a tracking number another SMS already had."""
    where = "in this send" if other["batch_id"] == row["batch_id"] else f"sent by <@{other_batch['user_id']}>"
    text = (
        f":warning: <@{batch['user_id']}> The gateway gave the SMS to {row['recipient']} tracking number "
        f"#{escape(row['tracking_id'] or '')}, which the SMS to {other['recipient']} ({where}) already had. "
        "Delivery reports for that number cannot tell the two apart, so check both in SMS Office's sent items "
        "before trusting their delivery status."
    )
    return message(text, ephemeral=False)


def other_number(content: dict, row: Row, report: Row) -> dict:
    """The status reply, plus: the gateway named another number than the one this SMS went to."""
    text = (
        content["text"] + f"\n:warning: The gateway reported this for {escape(report['recipient'])}, not for "
        f"{row['recipient']}, the number this SMS was sent to, under this SMS's tracking number "
        f"#{escape(report['tracking_id'])}. Ask SMS Office which number got it."
    )
    return message(text, ephemeral=False)


def maybe_this(batch: Row, row: Row, report: Row) -> dict:
    """A report no SMS can claim arrived for this unconfirmed SMS's number: a person decides."""
    status = report["status_id"]
    label = DELIVERY_LABELS.get(status) or f"“{escape(report['status_message'] or str(status))}”"
    text = (
        f":mag: <@{batch['user_id']}> Delivery report #{escape(report['tracking_id'])} arrived for "
        f"{row['recipient']} ({label} · {when(report['received_at'])}) and may be this SMS. Its tracking number "
        f"is not one of mine, and another SMS to {row['recipient']} could be its owner, so I marked nothing. "
        f"If it is this one, it went out: don't resend it."
    )
    return message(text, ephemeral=False)


def delivered_twice(batch: Row, row: Row, report: Row, attempts: Sequence[Row]) -> dict:
    """Two attempts of one SMS (before and after a Resend) delivered, or one before a Resend."""
    to = row["recipient"]
    delivered = [
        f"#{escape(a['tracking_id'])}" for a in attempts if a["tracking_id"] and a["dlr_status_id"] == dlr.DELIVERED
    ]
    if len(delivered) >= 2:
        times = "twice" if len(delivered) == 2 else f"{len(delivered)} times"
        text = (
            f":warning: <@{batch['user_id']}> {to} got this SMS {times}: {', '.join(delivered[:-1])} and "
            f"{delivered[-1]} were all delivered, because it was resent."
        )
    else:
        text = (
            f":warning: <@{batch['user_id']}> The attempt before the Resend, #{escape(report['tracking_id'])}, "
            f"was delivered to {to} after all · {when(report['received_at'])}."
        )
        if row["status"] == Status.SENT:
            text += f" The resend #{escape(row['tracking_id'])} went out too, so {to} will probably get it twice."
        elif row["status"] in (Status.QUEUED, Status.SENDING):
            text += " The resend is still queued: unless it fails, it will arrive a second time."
    return message(text, ephemeral=False)
