"""What the person who typed a command sees: help, acks, previews, the compose form, history, status."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.slack.notes import plan_notes
from bot.slack.render.blocks import (
    CANCEL_ACTION,
    COMPOSE_VIEW,
    CONFIRM_ACTION,
    CONFIRM_VIEW,
    MESSAGE_BLOCKS,
    MODAL_BLOCKS,
    TITLE_CHARS,
    button,
    context,
    escape,
    input_block,
    message,
    plain,
    preview,
    section,
    sections,
    when,
)
from bot.slack.render.routine import compose_extras, date_token, template_picker
from bot.slack.render.status import DELIVERY_LABELS, counts, status_label
from bot.sms.numbers import country_name
from bot.storage.reports import Outcome
from bot.wording import plural

USAGE = (
    "*Send an SMS*\n"
    "`/sms send 27831234567 Your message` — one recipient, international form\n"
    "`/sms send 27831234567,+27821234567 Your message` — several, commas and no spaces\n"
    "`/sms send oncall,27831234567 Your message` — a group name works wherever a number does\n"
    "`/sms send` — a form to write the SMS in (templates, a time, or a CSV list)\n"
    "`/sms send --at tomorrow 07:00 27831234567 Your message` — schedule it (`HH:MM`, `in 90m`, `YYYY-MM-DD HH:MM`)\n"
    '`/sms send 27831234567 :outage site="Cape Town"` — a saved template with its values\n'
    "*Other commands*\n"
    "`/sms balance` — credits left on the SMS Office account, and the forecast\n"
    "`/sms status <tracking number>` — what happened to one SMS\n"
    "`/sms history [N]` — the last N sends (default 10)\n"
    "`/sms group list` · `/sms group show NAME` — groups and their numbers\n"
    "`/sms group add NAME NUMBERS` · `/sms group remove NAME [NUMBERS]` — change groups\n"
    "`/sms template list|show NAME|add NAME TEXT|remove NAME` — saved texts with `{placeholders}`\n"
    "`/sms scheduled` · `/sms cancel ID` — sends waiting for their time; cancel one\n"
    "`/sms optout list` · `/sms optout check NUMBER` — the do-not-contact list\n"
    "`/sms optout add NUMBERS [reason]` · `/sms optout remove NUMBERS` — change it (admins)\n"
    "`/sms usage [YYYY-MM]` — credits and SMS by user and channel for a month\n"
    "`/sms access allow|deny @user|#channel` · `/sms access open users|channels` · `/sms access list` — who may "
    "send (admins)\n"
    "`/sms audit [N]` — the last admin actions (admins)\n"
    "`/sms export [YYYY-MM | FROM TO]` — a CSV of sends, to your DM (admins)\n"
    "`/sms help` — this help"
)


def help_message(unknown: str = "") -> dict:
    lead = f"I don't know `/sms {escape(unknown)}`. " if unknown else ""
    return message(f"{lead}Here is what I can do:\n{USAGE}")


def plan_lines(plan, balance_after: str) -> str:
    """What the decision rests on, short enough to come first: recipients, parts, credits, balance after."""
    groups = f" ({plural(len(plan.groups), 'group')} listed below)" if plan.groups else ""
    when = f"*When:* {date_token(plan.due)} (scheduled)\n" if getattr(plan, "due", None) is not None else ""
    return (
        f"*To:* {plural(len(plan.recipients), 'recipient')}{groups}\n{when}"
        f"*Parts:* {plan.info.parts} each ({plan.info.encoding}) · *Credits:* {plan.credits}\n"
        f"*Balance after:* {balance_after}"
    )


def group_lines(plan) -> list[list[str]]:
    """Each group a send expands, as a list line (it wraps between numbers)."""
    return [
        [f"`{name}` ({plural(len(members), 'number')}): {members[0]}", *members[1:]]
        if members
        else [f"`{name}` (no numbers)"]
        for name, members in plan.groups.items()
    ]


def _plan_blocks(plan, head: str, after: str, below: list[dict], max_blocks: int) -> list[dict]:
    """The essentials first (head, cost, balance after, notes, the text, then ``below``: the buttons),
    then the expanded groups in what is left of max_blocks, the rest counted."""
    top = [
        section(head),
        section(plan_lines(plan, after)),
        *sections(plan_notes(plan.notes()), max_blocks=5, noun="notes"),
        section(preview(plan.text)),
        *below,
    ]
    return top + sections(group_lines(plan), max_blocks=max_blocks - len(top), noun="numbers")


def balance_after(last: tuple[Decimal, float] | None, credits: int) -> str:
    if last is None:
        return "unknown (no balance check yet)"
    amount, at = last
    return f"about {amount - credits:,.2f} credits (balance {amount:,.2f} at {when(at)})"


def hold_head(plan, hold) -> str:
    """Why the send waits, in words (the balance warning first when the balance is short)."""
    if hold is not None and hold.short:
        return f":warning: *The balance may not cover this send.* {hold.sentence}"
    return f":mag: *Check before sending* — this send costs {plural(plan.credits, 'credit')}."


def confirm_preview(plan, pending_id: str, after: str, minutes: int, hold=None) -> dict:
    """The Send/Cancel preview of a held send; nothing is queued until Send ("Send anyway" when the
    last known balance is short)."""
    blocks = _plan_blocks(
        plan,
        hold_head(plan, hold),
        after,
        [
            {
                "type": "actions",
                "block_id": "confirm",
                "elements": [
                    button(send_label(hold), CONFIRM_ACTION, pending_id, "primary"),
                    button("Cancel", CANCEL_ACTION, pending_id, "danger"),
                ],
            },
            context(f"Only you can confirm. This preview expires in {minutes} minutes."),
        ],
        MESSAGE_BLOCKS,
    )
    fallback = "The balance may not cover this send" if hold is not None and hold.short else "Check before sending"
    return message(f"{fallback}: {plural(plan.credits, 'credit')}", blocks=blocks)


def send_label(hold) -> str:
    return "Send anyway" if hold is not None and hold.short else "Send"


PREVIEW_KEPT = (
    "\nYour preview is kept behind this message: close this to go back to it, and press Send again once "
    "the limit allows it (it expires as before), or Cancel it."
)


def confirm_outcome(verdict: str, requester: str | None = None, refusal: str | None = None) -> dict:
    """What replaces the preview (or is said to the clicker) after Send/Cancel."""
    texts = {
        "refused": f":no_entry_sign: Not sent: {refusal}",
        "sent": ":outbox_tray: Queued: the status will appear in the channel.",
        "cancelled": ":wastebasket: Cancelled: nothing was sent.",
        "expired": ":hourglass: This preview expired after 10 minutes and nothing was sent. "
        "Run the command again to send it.",
        "unknown": ":warning: This preview is no longer known to smsbot; run the command again.",
        "not_yours": f":no_entry_sign: Only <@{requester}> can confirm or cancel this send.",
    }
    return message(texts[verdict])


def _text_got(row: Mapping, batch: Mapping) -> str:
    """The text this recipient got: its own (a personalised list) or the send's."""
    return (row["text"] if "text" in row.keys() else None) or batch["text"]


def compose_modal(
    metadata: str, templates: list | tuple = (), *, recipients: str = "", text: str = "", version: int = 0
) -> dict:
    """``/sms send`` with no arguments: a form with the same rules as the command (a template picked
    fills the message field, under a new block id so Slack shows it: ``message``, ``message-1``…)."""
    return {
        "type": "modal",
        "callback_id": COMPOSE_VIEW,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Send an SMS"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            input_block(
                "recipients",
                "To",
                "One number or group per line, or comma-separated: 083 123 4567, oncall",
                multiline=True,
                initial=recipients,
            )
            | {"optional": True},  # or a list file, below
            *template_picker(templates),
            input_block(
                "message" + (f"-{version}" if version else ""),
                "Message",
                "Up to 4 SMS parts: 612 GSM-7 septets or 268 UCS-2 units",
                multiline=True,
                initial=text,
            ),
            *compose_extras(),
        ],
    }


def confirm_modal(plan, pending_id: str, after: str, minutes: int, hold=None) -> dict:
    return {
        "type": "modal",
        "callback_id": CONFIRM_VIEW,
        "private_metadata": pending_id,
        "title": plain("Check before sending", TITLE_CHARS),
        "submit": plain(send_label(hold), TITLE_CHARS),
        "close": plain("Cancel", TITLE_CHARS),
        "blocks": _plan_blocks(
            plan,
            hold_head(plan, hold),
            after,
            [context(f"Nothing is sent until you press {send_label(hold)}. Expires in {minutes} minutes.")],
            MODAL_BLOCKS,
        ),
    }


def queued(
    recipients: list[str],
    parts: int,
    encoding: str,
    credits: int,
    where: str,
    notes: Mapping | None = None,
    filled: str | None = None,
) -> dict:
    to = recipients[0] if len(recipients) == 1 else plural(len(recipients), "recipient")
    text = (
        f":outbox_tray: Queued {len(recipients)} SMS to {to}: "
        f"{plural(parts, 'part')} each ({encoding}), {plural(credits, 'credit')} in all. "
        f"I'll post the status {where}."
    )
    shown = [preview(filled)] if filled else []  # a template's text, filled in
    return message("\n".join([text, *shown, *plan_notes(notes)]))


def _erased(batch: Mapping) -> bool:
    return "erased_at" in batch.keys() and batch["erased_at"] is not None


def _erased_to(row: Mapping, days: int | None) -> str:
    country = country_name(row["country"]) if "country" in row.keys() and row["country"] else "a number"
    return f"{country} (number and text erased after {days} days)"


# Not "none sent yet": the viewer may not see others' sends (README "Who sees what").
NO_SENDS_SHOWN = (
    "No sends to show. You see the sends you requested and, in a channel, those requested there; smsbot admins see all."
)


def history(
    entries: list[tuple[Mapping, list[Mapping]]], retention_days: int | None = None, max_blocks: int = MESSAGE_BLOCKS
) -> dict:
    """``/sms history``: when, who, to, parts and status of the last sends, one line each."""
    if not entries:
        return message(NO_SENDS_SHOWN)
    lines = [f"*Last {plural(len(entries), 'send')}*"]
    for batch, rows in entries:
        to = f"`{rows[0]['recipient']}`" if len(rows) == 1 else plural(len(rows), "recipient")
        if _erased(batch):
            to = (
                _erased_to(rows[0], retention_days)
                if len(rows) == 1
                else f"{plural(len(rows), 'recipient')} (numbers and text erased after {retention_days} days)"
            )
        state = status_label(rows[0]) if len(rows) == 1 else counts(rows)
        lines.append(
            f"{when(batch['created_at'])} · <@{batch['user_id']}> → {to} · {plural(batch['parts'], 'part')} · {state}"
        )
    return message("\n".join(lines), blocks=sections(lines, max_blocks=max_blocks, noun="sends"))


def tracking_status(batch: Mapping, row: Mapping, reports: list[Mapping], retention_days: int | None = None) -> dict:
    """``/sms status <tracking number>``: one SMS, its text, and every status with its time."""
    steps = [f"queued {when(row['queued_at'])}"]
    if row["sent_at"]:
        steps.append(f"sent {when(row['sent_at'])}")
    for report in reports:
        label = DELIVERY_LABELS.get(report["status_id"]) or escape(report["status_message"] or "")
        late = " (late, ignored)" if report["outcome"] == Outcome.STALE else ""
        if report["outcome"] == Outcome.EARLIER_ATTEMPT:
            late = f" (attempt #{escape(report['tracking_id'])}, before a Resend)"
        steps.append(f"{label} {when(report['received_at'])}{late}")
    to, shown = f"`{row['recipient']}`", preview(_text_got(row, batch))
    if _erased(batch):
        to, shown = _erased_to(row, retention_days), f"_The text was erased after {retention_days} days._"
    text = (
        f"*SMS #{escape(row['tracking_id'])}* to {to}, from <@{batch['user_id']}>\n"
        f"{shown}\nNow: {status_label(row)}\n" + "\n".join(f"• {s}" for s in steps)
    )
    return message(text)
