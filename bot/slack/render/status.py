"""The status message of a send and the replies in its thread."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from bot.redact import redact
from bot.slack.notes import batch_notes, plan_notes
from bot.slack.render.blocks import (
    BUTTON_CHARS,
    LIST_EACH_UP_TO,
    MESSAGE_BLOCKS,
    RESEND_ACTION,
    Row,
    button,
    context,
    escape,
    escape_but_mentions,
    message,
    plain,
    preview,
    section,
    sections,
    when,
)
from bot.slack.render.routine import schedule_blocks
from bot.sms import dlr
from bot.sms.failures import curable
from bot.wording import plural

STATUS_LABELS = {  # before any delivery report
    "queued": ":hourglass_flowing_sand: queued",
    "sending": ":outbox_tray: sending",
    "retrying": ":repeat: retrying: gateway unreachable",
    "sent": ":incoming_envelope: sent",
    "failed": ":x: failed",
    "unconfirmed": ":grey_question: unconfirmed",
    "missed": ":alarm_clock: missed: not sent, too late",
    "cancelled": ":wastebasket: cancelled",
}


DELIVERY_LABELS = {
    dlr.SUBMITTED: ":satellite_antenna: submitted to the network",
    dlr.DELIVERED: ":white_check_mark: delivered",
    dlr.FAILED: ":x: delivery failed",
    dlr.NO_ROUTE: ":no_entry: route not available",
}


BUCKETS = ("delivered", "failed", "unconfirmed", "missed", "cancelled", "pending")


def bucket(row: Row) -> str:
    """Where a message counts on a long list: delivered, failed, unconfirmed or pending."""
    status = row["dlr_status_id"]
    if status == dlr.DELIVERED:
        return "delivered"
    if status in dlr.FAILURES or row["status"] == "failed":
        return "failed"
    if row["status"] in ("unconfirmed", "missed", "cancelled"):
        return row["status"]
    return "pending"


def status_label(row: Row) -> str:
    status, dlr_status = row["status"], row["dlr_status_id"]
    if dlr_status is not None:
        label = DELIVERY_LABELS.get(dlr_status) or f":grey_question: {escape(row['dlr_status'] or str(dlr_status))}"
    elif status == "queued" and row["last_error"]:
        label = STATUS_LABELS["retrying"]
    else:
        label = STATUS_LABELS.get(status, status)
        if status == "failed" and row["last_error"]:
            label += f": {escape(redact(row['last_error']))}"
    if row["tracking_id"]:
        label += f" · #{escape(row['tracking_id'])}"
    return label


def counts(rows: Iterable[Row]) -> str:
    return _counted(Counter(bucket(row) for row in rows))


def _counted(tally: Counter[str]) -> str:
    return " · ".join(f"{tally[b]} {b}" for b in BUCKETS if tally.get(b))


def status_message(batch: Row, rows: Sequence[Row], *, note: str = "") -> dict:
    """The one message per send, updated in place as each recipient's SMS moves on."""
    n = len(rows)
    credits = batch["credits"] if _has(batch, "credits") and batch["credits"] is not None else batch["parts"] * n
    head = (
        f"*SMS from <@{batch['user_id']}>* to "
        f"{('`' + rows[0]['recipient'] + '`') if n == 1 else plural(n, 'recipient')} · "
        f"{'up to ' if credits != batch['parts'] * n else ''}{plural(batch['parts'], 'part')} "
        f"({batch['encoding']}) · {plural(credits, 'credit')}"
    )
    blocks = [section(head), section(preview(batch["text"]))]
    lists = []
    summary = None
    if n == 1:
        lines = [status_label(rows[0])]
    elif n <= LIST_EACH_UP_TO:
        lines = [f"`{r['recipient']}` {status_label(r)}" for r in rows]
    else:  # a long list: each row's bucket worked out once (this message is redrawn as the send goes on)
        kinds = [bucket(r) for r in rows]
        summary = _counted(Counter(kinds))
        lines = [summary]
        for state in ("failed", "unconfirmed"):
            numbers = [r["recipient"] for r, kind in zip(rows, kinds, strict=True) if kind == state]
            if numbers:
                lists.append([f"{state.capitalize()}: {numbers[0]}", *numbers[1:]])
    blocks += sections(lines, max_blocks=LIST_EACH_UP_TO)
    below = sections(plan_notes(batch_notes(batch)), max_blocks=3, noun="notes", make=context)
    below += schedule_blocks(batch, rows) if _has(batch, "scheduled_for") else []
    below += [context(note)] if note else []
    blocks += sections(lists, max_blocks=MESSAGE_BLOCKS - len(blocks) - len(below), noun="numbers") + below
    if summary is None:
        summary = status_label(rows[0]) if n == 1 else counts(rows)
    text = f"SMS from <@{batch['user_id']}> to {rows[0]['recipient'] if n == 1 else plural(n, 'recipient')}: {summary}"
    return {"text": text, "blocks": blocks}


def _has(row: Row, key: str) -> bool:
    return key in (row.keys() if hasattr(row, "keys") else row)


FAILED_NEXT_STEP = {  # by bot/sms/failures kind: what cures it before pressing Resend
    "credits": "Once the SMS Office account is topped up, press Resend.",
    "login": "Once SMSOFFICE_USERNAME and SMSOFFICE_PASSWORD are fixed and smsbot restarted, press Resend.",
    "unreachable": "Nothing was sent. When SMS Office can be reached again, press Resend.",
}


def failed_reply(batch: Row, row: Row) -> dict:
    """A failed SMS: with a Resend button if fixing the cause is enough, else how to send it anew."""
    reason = escape_but_mentions(redact(row["last_error"] or "the gateway refused it"))
    text = f"<@{batch['user_id']}> The SMS to {row['recipient']} failed: {reason}"
    if "failure" in row.keys() and row["failure"] == "opted_out":  # nothing to fix: they asked not to get SMS
        return {"text": text, "blocks": [section(f":no_entry_sign: {text}")]}
    if not curable(row):
        text += "\nResending it as it is would fail again: send it anew with `/sms send` once it is fixed."
        return {"text": text, "blocks": [section(f":x: {text}")]}
    text += f"\n{FAILED_NEXT_STEP[row['failure']]}"
    return {
        "text": text,
        "blocks": [
            section(f":x: {text}"),
            {
                "type": "actions",
                "elements": [button(f"Resend to {row['recipient']}", RESEND_ACTION, str(row["id"]), "primary")],
            },
        ],
    }


def unconfirmed_reply(batch: Row, row: Row) -> dict:
    reason = escape(redact(row["last_error"] or "no answer from the gateway"))
    text = (
        f"<@{batch['user_id']}> I can't tell whether the SMS to {row['recipient']} went out ({reason}). "
        f"It was not sent again, so it can't arrive twice. If the recipient did not get it, resend it."
    )
    button = {
        "type": "button",
        "action_id": RESEND_ACTION,
        "value": str(row["id"]),
        "text": plain(f"Resend to {row['recipient']}", BUTTON_CHARS),
        "confirm": {
            "title": {"type": "plain_text", "text": "Resend this SMS?"},
            "text": {
                "type": "plain_text",
                "text": f"It may already have reached {row['recipient']}: they could get it twice.",
            },
            "confirm": {"type": "plain_text", "text": "Resend"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        },
    }
    return {"text": text, "blocks": [section(f":grey_question: {text}"), {"type": "actions", "elements": [button]}]}


def failure_digest(batch: Row, numbers: list[str], named: int) -> dict:
    """A long list's failures since the last digest, in one thread reply."""
    shown = ", ".join(numbers[:named]) + (f", … and {len(numbers) - named} more" if len(numbers) > named else "")
    text = (
        f":x: <@{batch['user_id']}> {len(numbers)} more failed: {shown}. "
        "The status message above lists every failed number."
    )
    return {"text": text, "blocks": [section(text)]}


def resent_reply(user_id: str, recipient: str) -> dict:
    text = f":repeat: <@{user_id}> queued the SMS to {recipient} again."
    return {"text": text, "blocks": [section(text)]}


def moved_to_dm(channel_id: str, channel_name: str = "", code: str = "") -> dict:
    """Where the status went instead, with advice that can work in that kind of conversation."""
    if channel_id.startswith("D") or channel_name == "directmessage":
        return message(
            ":information_source: I can't post in a direct message between other people, so the "
            "status of your SMS is in your DM with me."
        )
    if channel_name.startswith("mpdm-"):
        return message(
            ":information_source: I can't post in a group DM, so the status of your SMS is in your "
            "DM with me. To share it, send from a channel instead."
        )
    where = f"I can't post in <#{channel_id}>, so the status of your SMS is in your DM with me."
    if code == "is_archived":
        return message(f":information_source: {where} That channel is archived.")
    if code == "restricted_action":
        return message(
            f":information_source: {where} Posting there is restricted; ask a workspace admin "
            "to let me post, or send from another channel."
        )
    return message(
        f":information_source: {where} To see it in the channel next time, invite me there with `/invite @smsbot`."
    )


def report_reply(batch: Row, row: Row, report: Row, *, adopted: bool = False) -> dict:
    """One thread reply per delivery status change."""
    to, at, status = row["recipient"], when(report["received_at"]), report["status_id"]
    if status == dlr.DELIVERED:
        text = f":white_check_mark: Delivered to {to} · {at}"
    elif status == dlr.SUBMITTED:
        text = f":satellite_antenna: Submitted to the network for {to} · {at}"
    elif status == dlr.FAILED:
        text = (
            f":x: <@{batch['user_id']}> Delivery to {to} failed · {at}. The phone may be off or out of "
            f"coverage, or the number no longer in use: check the number, then resend later."
        )
    elif status == dlr.NO_ROUTE:
        text = (
            f":no_entry: <@{batch['user_id']}> No route to {to} · {at}: the gateway cannot reach this "
            f"number's network. Check the number; if it is right, ask SMS Office about coverage."
        )
    else:
        raw = escape(report["status_message"] or "no description")
        text = f":grey_question: {to}: the gateway reports “{raw}” (status {status}) · {at}"
    if adopted:
        text = (
            f":link: The unconfirmed SMS to {to} did go out: the gateway reported it as "
            f"#{escape(row['tracking_id'])}, so there is no need to resend it.\n"
        ) + text
    return {"text": text, "blocks": [section(text)]}
