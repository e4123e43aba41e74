"""Messages of the compliance commands: the do-not-contact list, access, the audit log, spend
limits, usage and export."""

from __future__ import annotations

import datetime as dt

from bot.slack.render.blocks import context, escape, escape_but_mentions, message, sections
from bot.wording import plural

OPTOUT_USAGE = (
    "Do-not-contact list: `/sms optout list`, `/sms optout check NUMBER`, and for admins "
    "`/sms optout add NUMBERS [reason]` and `/sms optout remove NUMBERS` (numbers comma-separated, "
    "no spaces)."
)
ACCESS_USAGE = (
    "Access (admins): `/sms access allow @user` or `/sms access allow #channel`, "
    "`/sms access deny @user|#channel`, `/sms access open users` or `/sms access open channels` "
    "(everyone again), `/sms access list`. Raw IDs (U…, C…) work too."
)


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")


# -- the do-not-contact list ------------------------------------------------------------------------
def _numbers_reply(lines: list[str | list[str]]) -> dict:
    """Sentences and lists of numbers, every number shown (lists wrap between numbers, within Slack's limits)."""
    flat = [line if isinstance(line, str) else ", ".join(line) for line in lines]
    return message("\n".join(flat), blocks=sections(lines, noun="numbers"))


def _listed(head: str, numbers: list[str]) -> list[str]:
    """A list line: the sentence's head with the first number, then the rest (wrapped between numbers)."""
    return [f"{head}{numbers[0]}", *numbers[1:]]


def optout_added(added: list[str], already: list[str], reason: str | None) -> dict:
    lines: list[str | list[str]] = []
    if added:
        why = f" (reason: {escape(reason)})" if reason else ""
        head = f":no_entry_sign: Added {plural(len(added), 'number')} to the do-not-contact list{why}: "
        lines.append(_listed(head, added))
        lines.append("No SMS will go to them, including any already queued.")
    if already:
        lines.append(_listed("Already on the list: ", already))
    return _numbers_reply(lines)


def optout_removed(removed: list[str], absent: list[str]) -> dict:
    lines: list[str | list[str]] = []
    if removed:
        lines.append(
            _listed(
                f":white_check_mark: Removed {plural(len(removed), 'number')} from the do-not-contact list: ", removed
            )
        )
        lines.append("They can get SMS again.")
    if absent:
        lines.append(_listed("Not on the list, so nothing changed for: ", absent))
    return _numbers_reply(lines)


def optout_list(entries: list) -> dict:
    if not entries:
        return message("The do-not-contact list is empty: every number may get SMS.")
    shown = [
        f"{e.number}"
        + (f" — {escape(e.reason)}" if e.reason else "")
        + f" · {_day(e.added_at)}"
        + (f" by <@{e.added_by}>" if e.added_by else "")
        for e in entries[:50]
    ]
    more = f"\n…and {len(entries) - 50} more (`smsbot optout export` lists them all)." if len(entries) > 50 else ""
    head = f"*Do-not-contact list* ({plural(len(entries), 'number')}, never sent to):"
    return message(head + "\n" + "\n".join(shown) + more)


def optout_check(number: str, entry) -> dict:
    if entry is None:
        return message(f":white_check_mark: {number} is not on the do-not-contact list: it may get SMS.")
    why = f" Reason: {escape(entry.reason)}." if entry.reason else ""
    by = f" by <@{entry.added_by}>" if entry.added_by else ""
    return message(
        f":no_entry_sign: {number} is on the do-not-contact list since {_day(entry.added_at)}{by}: "
        f"no SMS goes to it.{why}"
    )


# -- access ------------------------------------------------------------------------------------------
def _who(kind: str, entry_id: str) -> str:
    return f"<@{entry_id}>" if kind == "user" else f"<#{entry_id}>"


def access_changed(change, action: str) -> dict:
    """The answer to `/sms access allow|deny|open`: what changed, and always what the list means now."""
    return message(f"{_access_outcome(change, action)} {change.state}")


def _access_outcome(change, action: str) -> str:
    who = _who(change.kind, change.entry_id)
    setting = "SMSBOT_ALLOWED_USERS" if change.kind == "user" else "SMSBOT_ALLOWED_CHANNELS"
    if change.why == "environment":
        if action == "allow":
            return f"{who} is already allowed by {setting} in smsbot's environment."
        if action == "deny":
            return (
                f":no_entry_sign: {who} is allowed by {setting} in smsbot's environment, not from Slack: remove "
                "it there and restart smsbot."
            )
        return (
            f":no_entry_sign: {setting} in smsbot's environment says who may send, and only whoever runs smsbot "
            "can change it: empty it there and restart smsbot."
        )
    if change.why == "already":
        return f"{who} was already allowed; nothing changed."
    if change.why == "absent":
        return f"{who} was not on the list added from Slack; nothing changed."
    if action == "open":
        entries = "1 entry" if change.removed == 1 else f"{change.removed} entries"
        gone = f" ({entries} added from Slack removed)" if change.removed else ""
        return f":white_check_mark: The list of {'people' if change.kind == 'user' else 'channels'} is open{gone}."
    if action == "deny":
        closed = (
            f" That was the last entry, so the list is closed, not open: `/sms access open "
            f"{'users' if change.kind == 'user' else 'channels'}` lets everyone in again."
            if change.closed
            else ""
        )
        return f":white_check_mark: {who} is no longer allowed.{closed}"
    return f":white_check_mark: {who} is now allowed."


def access_list(entries: dict, admins: frozenset[str], states: dict[str, str]) -> dict:
    """`/sms access list`: each list's entries and where they come from, and what each list means now."""
    parts = []
    for kind, title in (("user", "Users"), ("channel", "Channels")):
        rows = entries[kind]
        body = "\n".join(f"• {_who(kind, i)} ({i}) — {src}" for i, src in rows)
        parts.append("\n".join(line for line in (f"*{title}*", body, states[kind]) if line))
    admin_line = (
        ", ".join(f"<@{a}>" for a in sorted(admins)) + " (SMSBOT_ADMIN_USERS, always allowed)"
        if admins
        else "none (SMSBOT_ADMIN_USERS is empty)"
    )
    parts.append(f"*Admins:* {admin_line}")
    return message("\n\n".join(parts))


# -- the audit log -------------------------------------------------------------------------------------
def audit(entries: list) -> dict:
    if not entries:
        return message("The audit log is empty: no admin has changed access, the do-not-contact list or a group yet.")
    lines = [f"{_stamp(e.at)} <@{e.user_id}> `{escape(e.action)}` {escape_but_mentions(e.args)}" for e in entries]
    return message(f"*Last {plural(len(entries), 'admin action')}* (newest first):\n" + "\n".join(lines))


def _stamp(ts: float) -> str:
    fallback = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{{date_short}} {{time}}|{fallback}>"


# -- spend limits ------------------------------------------------------------------------------------
def spend_line(spend) -> str:
    """The requester's use today against their limit (and the bot's), for `/sms balance`."""
    mine = (
        f"You used {spend.user_used:,} of your {plural(spend.user_limit, 'credit', thousands=True)} today "
        f"({spend.user_limit - min(spend.user_used, spend.user_limit):,} left)"
        if spend.user_limit is not None
        else f"You used {plural(spend.user_used, 'credit', thousands=True)} today (no daily limit per user)"
    )
    bot = f"; smsbot as a whole used {spend.bot_used:,} of {spend.bot_limit:,}" if spend.bot_limit is not None else ""
    return f"{mine}{bot}. Limits reset at midnight, {spend.timezone} time."


def with_spend(answer: dict, spend) -> dict:
    line = spend_line(spend)
    return message(answer["text"] + "\n" + line, blocks=[*answer["blocks"], context(line)])


# -- usage and export --------------------------------------------------------------------------------
def usage_report(label: str, rows: list, everyone: bool, timezone: str) -> dict:
    """`/sms usage`: SMS and credits by user and by channel, with totals: what counts against the daily limits
    (sent, unconfirmed and still waiting, each said apart); failed, cancelled and missed SMS are not there."""
    whose = "everyone" if everyone else "your sends"
    if not rows:
        return message(f"No SMS were charged in {label} ({whose}, days in {timezone} time).")
    by_user: dict[str, list[int]] = {}
    by_channel: dict[str, list[int]] = {}
    for row in rows:
        for table, key in (
            (by_user, f"<@{row.user_id}>" if row.user_id else "(no Slack user)"),
            (by_channel, f"<#{row.channel_id}>" if row.channel_id else "(outside Slack)"),
        ):
            sums = table.setdefault(key, [0, 0, 0, 0])
            for i, n in enumerate((row.sms, row.credits, row.sent, row.unconfirmed)):
                sums[i] += n

    def lines(table: dict) -> str:
        ordered = sorted(table.items(), key=lambda item: (-item[1][1], item[0]))
        return "\n".join(f"• {key}: {_usage_sums(*sums)}" for key, sums in ordered)

    total = [sum(getattr(r, f) for r in rows) for f in ("sms", "credits", "sent", "unconfirmed")]
    text = (
        f"*Usage in {label}* ({whose}, days in {timezone} time)\n*By user*\n{lines(by_user)}\n"
        f"*By channel*\n{lines(by_channel)}\n*Total:* {_usage_sums(*total)}"
    )
    return message(text)


def _usage_sums(sms: int, credits: int, sent: int, unconfirmed: int) -> str:
    """ "3 SMS, 5 credits (2 sent, 1 unconfirmed)": what the gateway took apart from what may have gone."""
    waiting = sms - sent - unconfirmed
    split = [f"{n} {what}" for n, what in ((sent, "sent"), (unconfirmed, "unconfirmed"), (waiting, "waiting")) if n]
    detail = f" ({', '.join(split)})" if split != [f"{sms} sent"] else ""
    return f"{sms} SMS, {plural(credits, 'credit')}{detail}"


def export_comment(label: str, rows: int, timezone: str) -> str:
    return (
        f"Every SMS counted in {label} ({plural(rows, 'row')}: sent, unconfirmed or still waiting; failed, "
        f"cancelled and missed SMS cost nothing and are not listed; times in {timezone} with their UTC offset). "
        "Texts and numbers older than SMSBOT_RETENTION_DAYS are erased, so their recipient cells are empty."
    )


def export_failed(code: str) -> dict:
    if code in ("missing_scope", "not_allowed_token_type"):
        fix = (
            "the Slack app lacks the files:write scope: add it (see the manifest), reinstall the app, "
            "then run `/sms export` again."
        )
    elif code:
        fix = (
            f"Slack answered `{escape(code)}`. Try again in a moment; `smsbot export` writes the same CSV on "
            "the server."
        )
    else:
        fix = "Slack could not be reached. Try again in a moment; `smsbot export` writes the same CSV on the server."
    return message(f":warning: I couldn't upload the CSV to your DM: {fix}")
