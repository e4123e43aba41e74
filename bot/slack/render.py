"""Every message smsbot shows in Slack, as Block Kit with a plain-text fallback.

Functions here take plain data (rows, numbers, strings) and return dicts ready
for ``chat.postMessage``/``chat.update``/``ack``/``respond``: ``{"text": ..., "blocks": [...]}``.
Nothing here does I/O.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable, Mapping

from bot.redact import redact
from bot.slack.notes import batch_notes, plan_notes
from bot.sms.failures import curable
from bot.sms import dlr
from bot.storage.reports import Outcome

PREVIEW_CHARS = 280
LIST_EACH_UP_TO = 10          # recipients listed one per line up to this many; counts beyond
MAX_NUMBERS_SHOWN = 30        # failed/unconfirmed numbers named in a long list
RESEND_ACTION = "resend_message"
CONFIRM_ACTION = "confirm_send"
CANCEL_ACTION = "cancel_send"
COMPOSE_VIEW = "sms_compose"
CONFIRM_VIEW = "sms_confirm"

USAGE = (
    "*Send an SMS*\n"
    "`/sms send 27831234567 Your message` — one recipient, international form\n"
    "`/sms send 27831234567,+27821234567 Your message` — several, commas and no spaces\n"
    "`/sms send oncall,27831234567 Your message` — a group name works wherever a number does\n"
    "`/sms send` — a form to write the SMS in\n"
    "*Other commands*\n"
    "`/sms balance` — credits left on the SMS Office account, and the forecast\n"
    "`/sms status <tracking number>` — what happened to one SMS\n"
    "`/sms history [N]` — the last N sends (default 10)\n"
    "`/sms group list` · `/sms group show NAME` — groups and their numbers\n"
    "`/sms group add NAME NUMBERS` · `/sms group remove NAME [NUMBERS]` — change groups\n"
    "`/sms help` — this help"
)

STATUS_LABELS = {  # before any delivery report
    "queued": ":hourglass_flowing_sand: queued",
    "sending": ":outbox_tray: sending",
    "retrying": ":repeat: retrying: gateway unreachable",
    "sent": ":incoming_envelope: sent",
    "failed": ":x: failed",
    "unconfirmed": ":grey_question: unconfirmed",
}


def escape(text: str) -> str:
    """Escape text for Slack mrkdwn (only &, < and > are special)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def message(text: str, *, blocks: list[dict] | None = None, ephemeral: bool = True) -> dict:
    out = {"text": text, "blocks": blocks or [_section(text)]}
    if ephemeral:
        out["response_type"] = "ephemeral"
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- replies to the person who typed the command -----------------------------------------
def help_message(unknown: str = "") -> dict:
    lead = f"I don't know `/sms {escape(unknown)}`. " if unknown else ""
    return message(f"{lead}Here is what I can do:\n{USAGE}")


def usage_error(sentence: str) -> dict:
    return message(f":warning: {escape(redact(sentence))}\nType `/sms help` for examples.")


def refused(sentence: str) -> dict:
    return message(f":no_entry_sign: {sentence}")


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "action_id": action_id, "value": value,
              "text": {"type": "plain_text", "text": text}}
    if style:
        button["style"] = style
    return button


def _plan_lines(plan, balance_after: str) -> str:
    groups = [f"`{name}` ({plural(len(members), 'number')}): {_numbers(members)}"
              for name, members in plan.groups.items()]
    lines = [f"*To:* {plural(len(plan.recipients), 'recipient')}", *groups,
             f"*Parts:* {plan.info.parts} each ({plan.info.encoding}) · *Credits:* {plan.credits}",
             f"*Balance after:* {balance_after}", *plan_notes(plan.notes())]
    return "\n".join(lines)


def _numbers(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:MAX_NUMBERS_SHOWN])
    return shown + (f" and {len(numbers) - MAX_NUMBERS_SHOWN} more" if len(numbers) > MAX_NUMBERS_SHOWN else "")


def balance_after(last: tuple[Decimal, float] | None, credits: int) -> str:
    if last is None:
        return "unknown (no balance check yet)"
    amount, at = last
    return f"about {amount - credits:,.2f} credits (balance {amount:,.2f} at {when(at)})"


def _hold_head(plan, hold) -> str:
    """Why the send waits, in words (the balance warning first when the balance is short)."""
    if hold is not None and hold.short:
        return f":warning: *The balance may not cover this send.* {hold.sentence}"
    return f":mag: *Check before sending* — this send costs {plural(plan.credits, 'credit')}."


def confirm_preview(plan, pending_id: str, after: str, minutes: int, hold=None) -> dict:
    """The Send/Cancel preview of a held send; nothing is queued until Send ("Send anyway" when the
    last known balance is short)."""
    head = _hold_head(plan, hold)
    blocks = [_section(head), _section(_plan_lines(plan, after)), _section(preview(plan.text)),
              {"type": "actions", "block_id": "confirm", "elements": [
                  _button(_send_label(hold), CONFIRM_ACTION, pending_id, "primary"),
                  _button("Cancel", CANCEL_ACTION, pending_id, "danger")]},
              _context(f"Only you can confirm. This preview expires in {minutes} minutes.")]
    fallback = "The balance may not cover this send" if hold is not None and hold.short else "Check before sending"
    return message(f"{fallback}: {plural(plan.credits, 'credit')}", blocks=blocks)


def _send_label(hold) -> str:
    return "Send anyway" if hold is not None and hold.short else "Send"


def confirm_outcome(verdict: str, requester: str | None = None) -> dict:
    """What replaces the preview (or is said to the clicker) after Send/Cancel."""
    texts = {
        "sent": ":outbox_tray: Queued: the status will appear in the channel.",
        "cancelled": ":wastebasket: Cancelled: nothing was sent.",
        "expired": ":hourglass: This preview expired after 10 minutes and nothing was sent. "
                   "Run the command again to send it.",
        "unknown": ":warning: This preview is no longer known to smsbot; run the command again.",
        "not_yours": f":no_entry_sign: Only <@{requester}> can confirm or cancel this send.",
    }
    return message(texts[verdict])


def history(entries: list[tuple[Mapping, list[Mapping]]]) -> dict:
    """``/sms history``: when, who, to, parts and status of the last sends."""
    if not entries:
        return message("No SMS has been sent with smsbot yet.")
    lines = []
    for batch, rows in entries:
        to = f"`{rows[0]['recipient']}`" if len(rows) == 1 else plural(len(rows), "recipient")
        state = _status_label(rows[0]) if len(rows) == 1 else _counts(rows)
        lines.append(f"{when(batch['created_at'])} · <@{batch['user_id']}> → {to} · "
                     f"{plural(batch['parts'], 'part')} · {state}")
    return message(f"*Last {plural(len(entries), 'send')}*\n" + "\n".join(lines))


def group_changed(name: str, added: list[str], already: list[str], created: bool) -> dict:
    parts = [f"Created group `{name}`." if created else f"Group `{name}`:"]
    if added:
        parts.append(f"added {', '.join(added)}.")
    if already:
        parts.append(f"Already in it: {', '.join(already)}.")
    return message(":busts_in_silhouette: " + " ".join(parts))


def group_removed(name: str, removed: list[str], whole: bool) -> dict:
    if whole:
        return message(f":wastebasket: Deleted group `{name}` ({plural(len(removed), 'number')}).")
    if not removed:
        return message(f":information_source: None of those numbers is in `{name}`; nothing changed.")
    return message(f":busts_in_silhouette: Removed {', '.join(removed)} from `{name}`.")


def group_list(sizes: list[tuple[str, int]]) -> dict:
    if not sizes:
        return message("There are no groups yet. Create one with `/sms group add NAME NUMBERS`.")
    return message("*Groups*\n" + "\n".join(f"`{name}` · {plural(size, 'number')}" for name, size in sizes))


def group_members(name: str, members: list[str], problems: Mapping[str, str] | None = None) -> dict:
    """``/sms group show``: the numbers, each one a send would skip now marked with the reason."""
    if not members:
        return message(f"Group `{name}` has no numbers.")
    problems = problems or {}
    lines = [f"{m} — :no_entry_sign: skipped when sent to: {escape(problems[m])}" if m in problems else m
             for m in members]
    return message(f"*Group `{name}`* ({plural(len(members), 'number')})\n" + "\n".join(lines))


def _input(block_id: str, label: str, placeholder: str, *, multiline: bool, initial: str = "") -> dict:
    element = {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
               "placeholder": {"type": "plain_text", "text": placeholder}}
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
            "element": element}


def compose_modal(metadata: str) -> dict:
    """``/sms send`` with no arguments: a form with the same rules as the command."""
    return {
        "type": "modal", "callback_id": COMPOSE_VIEW, "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Send an SMS"},
        "submit": {"type": "plain_text", "text": "Send"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input("recipients", "To", "One number or group per line, or comma-separated: 083 123 4567, oncall",
                   multiline=True),
            _input("message", "Message", "Up to 4 SMS parts: 612 GSM-7 septets or 268 UCS-2 units", multiline=True),
        ],
    }


def confirm_modal(plan, pending_id: str, after: str, minutes: int, hold=None) -> dict:
    return {
        "type": "modal", "callback_id": CONFIRM_VIEW, "private_metadata": pending_id,
        "title": {"type": "plain_text", "text": "Check before sending"},
        "submit": {"type": "plain_text", "text": _send_label(hold)}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [_section(_hold_head(plan, hold)),
                   _section(_plan_lines(plan, after)), _section(preview(plan.text)),
                   _context(f"Nothing is sent until you press {_send_label(hold)}. Expires in {minutes} minutes.")],
    }


def modal_notice(title: str, text: str) -> dict:
    return {"type": "modal", "title": {"type": "plain_text", "text": title[:24]},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": [_section(text)]}


def home(last: tuple[Decimal, float] | None, usage, threshold: Decimal,
         entries: list[tuple[Mapping, list[Mapping]]], sizes: list[tuple[str, int]]) -> dict:
    """The App Home tab: balance and forecast, the last sends, the groups."""
    if last is None:
        money = "No balance check yet."
    else:
        money = (f"*{last[0]:,.2f}* credits (checked {when(last[1])}) · alert below {threshold:,.2f}\n"
                 f"Forecast: {forecast_sentence(usage.per_day, usage.days_left)}")
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "SMS balance"}}, _section(money),
              {"type": "header", "text": {"type": "plain_text", "text": "Last sends"}},
              _section(history(entries)["text"]),
              {"type": "header", "text": {"type": "plain_text", "text": "Groups"}},
              _section(group_list(sizes)["text"]),
              _context("Send with `/sms send NUMBERS MESSAGE`, or `/sms send` for a form. `/sms help` for more.")]
    return {"type": "home", "blocks": blocks}


def queued(recipients: list[str], parts: int, encoding: str, credits: int, where: str,
           notes: Mapping | None = None) -> dict:
    to = recipients[0] if len(recipients) == 1 else plural(len(recipients), "recipient")
    text = (f":outbox_tray: Queued {len(recipients)} SMS to {to}: "
            f"{plural(parts, 'part')} each ({encoding}), {plural(credits, 'credit')} in all. "
            f"I'll post the status {where}.")
    return message("\n".join([text, *plan_notes(notes)]))


def forecast_sentence(per_day, days_left) -> str:
    """'about N days left at this rate' from a spend rate (credits/day) and days left."""
    if per_day is None or days_left is None:
        return "nothing was spent in the last 7 days, so there is no forecast yet"
    days = float(days_left)
    left = "less than a day" if days < 1 else f"about {days:,.0f} day{'s' if round(days) != 1 else ''}"
    return f"{left} left at this rate ({Decimal(str(per_day)):,.2f} credits a day)"


def balance(credits: Decimal, usage, threshold: Decimal) -> dict:
    """``/sms balance``: the balance, use today and over 7 days, the forecast, the threshold."""
    low = " :warning: *below the alert threshold*" if credits < threshold else ""
    text = (f":moneybag: SMS Office balance: *{credits:,.2f}* credits{low}\n"
            f"Used today: {usage.spent_today:,.2f} · last 7 days: {usage.spent_7d:,.2f}\n"
            f"Forecast: {forecast_sentence(usage.per_day, usage.days_left)}\n"
            f"Alert threshold: {threshold:,.2f} credits")
    return message(text)


def alert(kind: str, data: dict) -> dict:
    """Balance-watch alerts for the alert channel."""
    if kind == "low_balance":
        text = (f":rotating_light: *SMS credits are low*: {Decimal(data['balance']):,.2f} left, below the "
                f"threshold of {Decimal(data['threshold']):,.2f}. "
                f"{forecast_sentence(data.get('per_day'), data.get('days_left')).capitalize()}. "
                f"Top up the SMS Office account before sends start failing.")
    elif kind == "topped_up":
        text = (f":white_check_mark: SMS credits topped up: {Decimal(data['balance']):,.2f} left "
                f"(threshold {Decimal(data['threshold']):,.2f}).")
    elif kind == "out_of_credits":
        text = (":rotating_light: *SMS Office refused a send: not enough credits.* Nothing more can be sent "
                "until the account is topped up. Then press *Resend* on each SMS that failed for lack of "
                "credits: the button is in the thread under its status message (`/sms history` lists the "
                "recent sends and their status).")
    elif kind == "login_failed":
        settings = " and ".join(data.get("settings") or ["SMSOFFICE_USERNAME", "SMSOFFICE_PASSWORD"])
        text = (f":closed_lock_with_key: *SMS Office refused smsbot's credentials.* Fix {settings} and "
                f"restart smsbot; until then no SMS can be sent.")
    elif kind == "login_ok":
        text = ":white_check_mark: SMS Office accepts smsbot's credentials again."
    elif kind == "unreachable":
        text = (f":warning: *SMS Office cannot be reached* ({data.get('checks', 3)} checks in a row: "
                f"{escape(redact(data.get('error', '')))}). Sends wait in the queue and go out when it is back.")
    elif kind == "reachable":
        text = ":white_check_mark: SMS Office can be reached again; queued sends are going out."
    else:
        text = f":information_source: Balance watch: {escape(kind)}"
    return {"text": text, "blocks": [_section(text)]}


def gateway_problem(what: str, error: object) -> dict:
    return message(f":warning: {what}: {escape(redact(error))}")


# -- the status message of a send, and its thread ----------------------------------------
DELIVERY_LABELS = {
    dlr.SUBMITTED: ":satellite_antenna: submitted to the network",
    dlr.DELIVERED: ":white_check_mark: delivered",
    dlr.FAILED: ":x: delivery failed",
    dlr.NO_ROUTE: ":no_entry: route not available",
}
BUCKETS = ("delivered", "failed", "unconfirmed", "pending")


def when(ts: float | None) -> str:
    """A time Slack shows in each reader's own time zone (UTC in the fallback)."""
    if ts is None:
        return "?"
    fallback = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%H:%M UTC")
    return f"<!date^{int(ts)}^{{time}}|{fallback}>"


def bucket(row: Mapping) -> str:
    """Where a message counts on a long list: delivered, failed, unconfirmed or pending."""
    status = row["dlr_status_id"]
    if status == dlr.DELIVERED:
        return "delivered"
    if status in dlr.FAILURES or row["status"] == "failed":
        return "failed"
    if row["status"] == "unconfirmed":
        return "unconfirmed"
    return "pending"


def _status_label(row: Mapping) -> str:
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


def _counts(rows: Iterable[Mapping]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[bucket(row)] = counts.get(bucket(row), 0) + 1
    return " · ".join(f"{counts[b]} {b}" for b in BUCKETS if counts.get(b))


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    short = text if len(text) <= limit else text[:limit - 1] + "…"
    return "\n".join("> " + escape(line) for line in short.split("\n"))


def status_message(batch: Mapping, rows: list[Mapping], *, note: str = "") -> dict:
    """The one message per send, updated in place as each recipient's SMS moves on."""
    n = len(rows)
    credits = batch["parts"] * n
    head = (f"*SMS from <@{batch['user_id']}>* to "
            f"{('`' + rows[0]['recipient'] + '`') if n == 1 else plural(n, 'recipient')} · "
            f"{plural(batch['parts'], 'part')} ({batch['encoding']}) · {plural(credits, 'credit')}")
    blocks = [_section(head), _section(preview(batch["text"]))]
    if n == 1:
        lines = [_status_label(rows[0])]
    elif n <= LIST_EACH_UP_TO:
        lines = [f"`{r['recipient']}` {_status_label(r)}" for r in rows]
    else:
        lines = [_counts(rows)]
        for state in ("failed", "unconfirmed"):
            numbers = [r["recipient"] for r in rows if bucket(r) == state]
            if numbers:
                lines.append(f"{state.capitalize()}: {_numbers(numbers)}")
    blocks.append(_section("\n".join(lines)))
    if plan_notes(batch_notes(batch)):
        blocks.append(_context("\n".join(plan_notes(batch_notes(batch)))))
    if note:
        blocks.append(_context(note))
    summary = _status_label(rows[0]) if n == 1 else _counts(rows)
    text = f"SMS from <@{batch['user_id']}> to {rows[0]['recipient'] if n == 1 else plural(n, 'recipient')}: {summary}"
    return {"text": text, "blocks": blocks}


FAILED_NEXT_STEP = {  # by bot/sms/failures kind: what cures it before pressing Resend
    "credits": "Once the SMS Office account is topped up, press Resend.",
    "login": "Once SMSOFFICE_USERNAME and SMSOFFICE_PASSWORD are fixed and smsbot restarted, press Resend.",
    "unreachable": "Nothing was sent. When SMS Office can be reached again, press Resend.",
}


def failed_reply(batch: Mapping, row: Mapping) -> dict:
    """A failed SMS: with a Resend button if fixing the cause is enough, else how to send it anew."""
    reason = escape(redact(row["last_error"] or "the gateway refused it"))
    text = f"<@{batch['user_id']}> The SMS to {row['recipient']} failed: {reason}"
    if not curable(row):
        text += "\nResending it as it is would fail again: send it anew with `/sms send` once it is fixed."
        return {"text": text, "blocks": [_section(f":x: {text}")]}
    text += f"\n{FAILED_NEXT_STEP[row['failure']]}"
    return {"text": text, "blocks": [_section(f":x: {text}"), {"type": "actions", "elements": [
        _button(f"Resend to {row['recipient']}", RESEND_ACTION, str(row["id"]), "primary")]}]}


def unconfirmed_reply(batch: Mapping, row: Mapping) -> dict:
    reason = escape(redact(row["last_error"] or "no answer from the gateway"))
    text = (f"<@{batch['user_id']}> I can't tell whether the SMS to {row['recipient']} went out ({reason}). "
            f"It was not sent again, so it can't arrive twice. If the recipient did not get it, resend it.")
    button = {"type": "button", "action_id": RESEND_ACTION, "value": str(row["id"]),
              "text": {"type": "plain_text", "text": f"Resend to {row['recipient']}"},
              "confirm": {"title": {"type": "plain_text", "text": "Resend this SMS?"},
                          "text": {"type": "plain_text", "text": f"It may already have reached {row['recipient']}: "
                                                                 "they could get it twice."},
                          "confirm": {"type": "plain_text", "text": "Resend"},
                          "deny": {"type": "plain_text", "text": "Cancel"}}}
    return {"text": text, "blocks": [_section(f":grey_question: {text}"),
                                     {"type": "actions", "elements": [button]}]}


def failure_digest(batch: Mapping, numbers: list[str], named: int) -> dict:
    """A long list's failures since the last digest, in one thread reply."""
    shown = ", ".join(numbers[:named]) + (f", … and {len(numbers) - named} more" if len(numbers) > named else "")
    text = (f":x: <@{batch['user_id']}> {len(numbers)} more failed: {shown}. "
            "The status message above lists every failed number.")
    return {"text": text, "blocks": [_section(text)]}


def alert_via_dm(alert_content: dict, channel: str, reason: str) -> dict:
    """A balance alert sent to an admin because the alert channel refused it."""
    note = (f"This alert is in your DM because <#{channel}> (SMSBOT_ALERT_CHANNEL) refused it: {escape(reason)}. "
            "Invite smsbot to that channel, or set SMSBOT_ALERT_CHANNEL to a channel it can post in.")
    return {"text": alert_content["text"], "blocks": [*alert_content["blocks"], _context(note)]}


def resent_reply(user_id: str, recipient: str) -> dict:
    text = f":repeat: <@{user_id}> queued the SMS to {recipient} again."
    return {"text": text, "blocks": [_section(text)]}


def moved_to_dm(channel_id: str, channel_name: str = "", code: str = "") -> dict:
    """Where the status went instead, with advice that can work in that kind of conversation."""
    if channel_id.startswith("D") or channel_name == "directmessage":
        return message(":information_source: I can't post in a direct message between other people, so the "
                       "status of your SMS is in your DM with me.")
    if channel_name.startswith("mpdm-"):
        return message(":information_source: I can't post in a group DM, so the status of your SMS is in your "
                       "DM with me. To share it, send from a channel instead.")
    where = f"I can't post in <#{channel_id}>, so the status of your SMS is in your DM with me."
    if code == "is_archived":
        return message(f":information_source: {where} That channel is archived.")
    if code == "restricted_action":
        return message(f":information_source: {where} Posting there is restricted; ask a workspace admin "
                       "to let me post, or send from another channel.")
    return message(f":information_source: {where} To see it in the channel next time, invite me there "
                   "with `/invite @smsbot`.")


def tracking_status(batch: Mapping, row: Mapping, reports: list[Mapping]) -> dict:
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
    text = (f"*SMS #{escape(row['tracking_id'])}* to `{row['recipient']}`, from <@{batch['user_id']}>\n"
            f"{preview(batch['text'])}\nNow: {_status_label(row)}\n" + "\n".join(f"• {s}" for s in steps))
    return message(text)


def report_reply(batch: Mapping, row: Mapping, report: Mapping, *, adopted: bool = False) -> dict:
    """One thread reply per delivery status change."""
    to, at, status = row["recipient"], when(report["received_at"]), report["status_id"]
    if status == dlr.DELIVERED:
        text = f":white_check_mark: Delivered to {to} · {at}"
    elif status == dlr.SUBMITTED:
        text = f":satellite_antenna: Submitted to the network for {to} · {at}"
    elif status == dlr.FAILED:
        text = (f":x: <@{batch['user_id']}> Delivery to {to} failed · {at}. The phone may be off or out of "
                f"coverage, or the number no longer in use: check the number, then resend later.")
    elif status == dlr.NO_ROUTE:
        text = (f":no_entry: <@{batch['user_id']}> No route to {to} · {at}: the gateway cannot reach this "
                f"number's network. Check the number; if it is right, ask SMS Office about coverage.")
    else:
        raw = escape(report["status_message"] or "no description")
        text = f":grey_question: {to}: the gateway reports “{raw}” (status {status}) · {at}"
    if adopted:
        text = (f":link: The unconfirmed SMS to {to} did go out: the gateway reported it as "
                f"#{escape(row['tracking_id'])}, so there is no need to resend it.\n") + text
    return {"text": text, "blocks": [_section(text)]}


def home_refused(sentence: str) -> dict:
    return {"type": "home", "blocks": [_section(f":no_entry_sign: {sentence}")]}
