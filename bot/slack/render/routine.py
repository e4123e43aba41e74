"""Routine sends in Slack: templates, the scheduled-send acks, list, cancel and missed replies, and
the "scheduled for" line (with its Cancel button) on a send's status message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from bot.slack.notes import batch_notes, plan_notes
from bot.slack.render.blocks import CONFIRM_VIEW, Row, button, context, escape, message, preview, section
from bot.wording import plural

CANCEL_SCHEDULED_ACTION = "cancel_scheduled"
TEMPLATE_PICK_ACTION = "pick_template"
PICKER_OPTIONS = 100  # Slack's limit for a static_select

TEMPLATE_USAGE = (
    "Template commands: `/sms template list`, `/sms template show NAME`, "
    "`/sms template add NAME TEXT` (placeholders like `{site}`), `/sms template remove NAME`. "
    'Send one with `/sms send NUMBERS :NAME site="Cape Town"`.'
)


def template_picker(rows) -> list[dict]:
    """The compose form's template menu (none without templates): a pick fills the message field."""
    if not rows:
        return []
    options = [
        {"text": {"type": "plain_text", "text": r["name"][:75]}, "value": r["name"]} for r in rows[:PICKER_OPTIONS]
    ]
    menu = {
        "type": "actions",
        "block_id": "template",
        "elements": [
            {
                "type": "static_select",
                "action_id": TEMPLATE_PICK_ACTION,
                "options": options,
                "placeholder": {"type": "plain_text", "text": "Start from a template"},
            }
        ],
    }
    if len(rows) <= PICKER_OPTIONS:
        return [menu]
    return [
        menu,
        context(
            f"The menu shows the first {PICKER_OPTIONS} of {len(rows)} templates (A to Z; Slack's "
            "limit). Send any other with `/sms send NUMBERS :NAME key=value…`; `/sms template list` "
            "names them all."
        ),
    ]


def compose_extras() -> list[dict]:
    """The compose form's optional date and time to send at, and a CSV list of recipients."""
    return [
        {
            "type": "input",
            "block_id": "when",
            "optional": True,
            "label": {"type": "plain_text", "text": "Send at (optional; empty sends now)"},
            "element": {"type": "datetimepicker", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "list",
            "optional": True,
            "label": {"type": "plain_text", "text": "Or a personalised list (CSV)"},
            "hint": {
                "type": "plain_text",
                "text": "A header row with a number, phone or mobile column; other columns "
                "fill {placeholders} in the message, e.g. {name}.",
            },
            "element": {"type": "file_input", "action_id": "value", "filetypes": ["csv", "txt"], "max_files": 1},
        },
    ]


def date_token(ts: float) -> str:
    """A date and time each reader sees in their own time zone (UTC in the fallback)."""
    fallback = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def template_saved(name: str, text: str, created: bool, keys: list[str], parts: int, near: bool) -> dict:
    verb = "Saved" if created else "Replaced"
    lines = [
        f":memo: {verb} the template `{name}`:",
        preview(text),
        _keys_line(keys),
        f"Send it with `/sms send NUMBERS :{name}{''.join(f' {k}=…' for k in keys)}`.",
    ]
    if near:
        lines.append(_near_limit(parts))
    return message("\n".join(lines))


def _keys_line(keys: list[str]) -> str:
    return ("Placeholders: " + ", ".join(f"`{{{k}}}`" for k in keys)) if keys else "No placeholders."


def _near_limit(parts: int) -> str:
    return (
        f":warning: Its fixed text alone takes {plural(parts, 'part')} of the 4 allowed: the values filled "
        "in may push it over. Shorten it."
    )


def template_list(rows: Sequence[Row]) -> dict:
    if not rows:
        return message("No templates yet. Add one with `/sms template add NAME TEXT`.")
    lines = [f"`{r['name']}` — {escape(r['text'][:60])}{'…' if len(r['text']) > 60 else ''}" for r in rows]
    return message(f"*{plural(len(rows), 'template')}:*\n" + "\n".join(lines))


def template_shown(row: Row, keys: list[str], info, near: bool) -> dict:
    lines = [
        f"*Template `{row['name']}`* (by <@{row['created_by']}>)",
        preview(row["text"]),
        _keys_line(keys),
        f"Its fixed text: {plural(info.parts, 'part')} ({info.encoding}), before the values are filled in.",
    ]
    if near:
        lines.append(_near_limit(info.parts))
    return message("\n".join(lines))


def template_removed(name: str, removed: bool) -> dict:
    if removed:
        return message(f":wastebasket: Removed the template `{name}`.")
    return message(f"There is no template `{name}`; nothing was removed. See them with `/sms template list`.")


def scheduled_ack(plan, zone: str, local: str, notes: Mapping | None = None) -> dict:
    to = plan.recipients[0] if len(plan.recipients) == 1 else plural(len(plan.recipients), "recipient")
    text = (
        f":alarm_clock: Scheduled {len(plan.recipients)} SMS to {to} for {local} ({zone}, the time zone I read "
        f"it in; {date_token(plan.due)} in yours): {plural(plan.info.parts, 'part')} each ({plan.info.encoding}), "
        f"{plural(plan.credits, 'credit')} in all. The status message shows it; cancel it there or with "
        "`/sms cancel ID`."
    )
    return message("\n".join([text, preview(plan.text), *plan_notes(notes)]))


def scheduled_list(rows: Sequence[Row]) -> dict:
    """``/sms scheduled``: when, who, to, parts."""
    if not rows:
        return message("No scheduled sends are waiting.")
    lines = []
    for b in rows:
        to = _scheduled_to(b)
        waiting = "" if b["waiting"] == b["recipients"] else f" ({b['waiting']} still to go)"
        lines.append(
            f"*#{b['id']}* · {date_token(b['scheduled_for'])} · <@{b['user_id']}> · to {to}{waiting} · "
            f"{plural(b['parts'], 'part')} · {escape(b['text'][:50])}"
        )
    return message("*Scheduled sends:*\n" + "\n".join(lines) + "\nCancel one with `/sms cancel ID`.")


GROUPS_NAMED = 3  # groups named on a line of `/sms scheduled` at most


def _scheduled_to(batch: Row) -> str:
    """Whom a scheduled send goes to: its number, its groups and their sizes, or how many recipients."""
    count = batch["recipients"]
    if count == 1 and batch["recipient"]:
        return batch["recipient"]
    sizes = (batch_notes(batch) or {}).get("group_sizes") or {}
    if not sizes:
        return plural(count, "recipient")
    named = [f"`{name}` ({plural(size, 'number')})" for name, size in list(sizes.items())[:GROUPS_NAMED]]
    if len(sizes) > GROUPS_NAMED:
        named.append(plural(len(sizes) - GROUPS_NAMED, "more group"))
    others = count - sum(sizes.values())  # numbers typed beside the groups
    return ", ".join(named) + (f" and {plural(others, 'other number')}" if others > 0 else "")


def cancel_outcome(
    verdict: str, batch_id: int, cancelled: int = 0, went: int = 0, requester: str | None = None
) -> dict:
    texts = {
        "ok": f":wastebasket: Cancelled send #{batch_id}: {cancelled} SMS will not go"
        + (f"; {went} had already gone or {'was' if went == 1 else 'were'} going." if went else "; none had gone."),
        "unknown": f"There is no send #{batch_id}. See the scheduled ones with `/sms scheduled`.",
        "not_yours": f":no_entry_sign: Only <@{requester}> or an smsbot admin can cancel send #{batch_id}.",
        "nothing_waiting": f"Send #{batch_id} has nothing left to cancel: its {went} SMS already went "
        "(or were cancelled or missed).",
    }
    return message(texts[verdict])


def schedule_blocks(batch: Row, rows: Sequence[Row]) -> list[dict]:
    """On a scheduled send's status message: when it is due, and Cancel while any SMS still waits."""
    if batch["scheduled_for"] is None:
        return []
    waiting = any(r["status"] == "queued" for r in rows)
    line = f":alarm_clock: Send #{batch['id']} · scheduled for {date_token(batch['scheduled_for'])}"
    if not waiting:
        return [context(line)]
    cancel = button("Cancel", CANCEL_SCHEDULED_ACTION, str(batch["id"]), "danger") | {
        "confirm": {
            "title": {"type": "plain_text", "text": "Cancel this send?"},
            "text": {"type": "plain_text", "text": "The SMS not yet sent will not go."},
            "confirm": {"type": "plain_text", "text": "Cancel the send"},
            "deny": {"type": "plain_text", "text": "Keep it"},
        }
    }
    return [section(line + f" · or `/sms cancel {batch['id']}`"), {"type": "actions", "elements": [cancel]}]


def missed_reply(batch: Row, row: Row, missed: int) -> dict:
    who = row["recipient"] if missed == 1 else plural(missed, "recipient")
    text = (
        f":alarm_clock: <@{batch['user_id']}> The scheduled SMS to {who} was not sent: "
        f"{escape(row['last_error'] or 'too late')}. A late SMS can be worse than none; send it anew with "
        "`/sms send` if it still applies."
    )
    return {"text": text, "blocks": [section(text)]}


SAMPLES = 3


def list_checking() -> dict:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Send an SMS"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section(":hourglass_flowing_sand: Checking your list… the preview appears here in a moment.")],
    }


def list_problems(text: str) -> dict:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "List not sent"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [
            section(f":warning: {escape(text)}"),
            context("Nothing was queued. Fix the file and run `/sms send` again."),
        ],
    }


def list_lines(read, *, markdown: bool = True) -> list[str]:
    """What the preview of a personalised list says (also printed by ``smsbot send-list``)."""
    plan = read.plan
    low, high = plan.parts_range
    parts = f"{low}" if low == high else f"{low}–{high}"
    star = "*" if markdown else ""
    lines = [
        f"{star}To:{star} {plural(len(plan.recipients), 'recipient')} (from {plural(read.rows, 'row')})",
        f"{star}Parts:{star} {parts} per SMS · {star}Credits:{star} {plan.credits} in all · "
        f"{star}Longest text:{star} {plan.info.encoding}, {plural(plan.info.parts, 'part')}",
    ]
    if plan.due is not None:
        lines.append(
            f"{star}When:{star} "
            + (
                date_token(plan.due)
                if markdown
                else dt.datetime.fromtimestamp(plan.due, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            )
        )
    if read.duplicates:
        shown = ", ".join(f"row {r} (same number as row {k})" for r, _, k in read.duplicates[:10])
        more = f" and {len(read.duplicates) - 10} more" if len(read.duplicates) > 10 else ""
        lines.append(f"Duplicates left out, the first row kept: {shown}{more}.")
    if read.opted_out:
        shown = ", ".join(f"row {r} ({n})" for r, n in read.opted_out[:10])
        more = f" and {len(read.opted_out) - 10} more" if len(read.opted_out) > 10 else ""
        lines.append(
            f"Left out, on the do-not-contact list (opted out): {plural(len(read.opted_out), 'row')}: {shown}{more}."
        )
    return lines


def list_preview(read, pending_id: str, minutes: int) -> dict:
    """The personalised list's preview: Send queues it (the confirm view's callback)."""
    plan = read.plan
    shown = zip(plan.recipients, plan.texts[:SAMPLES], strict=False)
    samples = [section(f"*To {to}:*\n{preview(text)}") for to, text in shown]
    return {
        "type": "modal",
        "callback_id": CONFIRM_VIEW,
        "private_metadata": pending_id,
        "title": {"type": "plain_text", "text": "Check your list"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section("\n".join(list_lines(read))),
            *samples,
            context(f"Nothing is sent until you press Send. Expires in {minutes} minutes."),
        ],
    }
