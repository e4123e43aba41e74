"""``/sms optout|access|audit|usage|export``: compliance and spend control, dispatched from the same
/sms command as bot/slack/listeners/commands.py. Each handler returns the ack's message."""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo

from slack_sdk.errors import SlackApiError

from bot.slack import render
from bot.sms.errors import SmsRuleError
from bot.sms.numbers import numbers_to_remove, read_number, split_recipients
from bot.storage.access_list import CHANNEL, USER
from bot.storage.usage import day_bounds, month_bounds
from bot.usecases.services import Services

log = logging.getLogger(__name__)

SUBCOMMANDS = ("optout", "access", "audit", "usage")  # export needs the client: see commands.py
AUDIT_DEFAULT, AUDIT_MAX = 20, 100

_USER = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$|^@?([UW][A-Z0-9]{2,})$")
_CHANNEL = re.compile(r"^<#([CGD][A-Z0-9]{2,})(?:\|[^>]*)?>$|^#?([CGD][A-Z0-9]{2,})$")


def handle(name: str, args: str, command: dict, services: Services) -> dict:
    user_id = command.get("user_id", "")
    if name == "optout":
        return optout(args, user_id, services)
    if name == "access":
        return access(args, user_id, services)
    if name == "audit":
        return audit(args, user_id, services)
    return usage(args, user_id, services)


def optout(args: str, user_id: str, services: Services) -> dict:
    words = args.split(None, 2)
    action = words[0].lower() if words else ""
    if action == "list" and len(words) == 1:
        return render.optout_list(services.optouts.entries())
    if action not in ("add", "remove", "check") or len(words) < 2 or (action != "add" and len(words) > 2):
        return render.usage_error(render.OPTOUT_USAGE)
    region = services.settings.sms_default_region
    try:
        if action == "check":
            number = read_number(words[1], region, sms_rules=False).number
            return render.optout_check(number, services.optouts.entry(number))
        refusal = services.access.may_admin(user_id, "change the do-not-contact list")
        if refusal:
            return render.refused(refusal)
        if action == "add":
            numbers = [read_number(e, region, sms_rules=False).number for e in split_recipients(words[1])]
            reason = words[2].strip()[:200] if len(words) == 3 else None
            added, already = services.compliance.opt_out(list(dict.fromkeys(numbers)), reason, user_id)
            return render.optout_added(added, already, reason)
        return render.optout_removed(*services.compliance.opt_in(numbers_to_remove(words[1], region), user_id))
    except SmsRuleError as error:
        return render.usage_error(str(error))


def _target(word: str) -> tuple[str, str] | None:
    """(kind, ID) of a mention (``<@U…|bob>``, ``<#C…|ops>``) or a raw ID (``U…``, ``C…``)."""
    for kind, pattern in ((USER, _USER), (CHANNEL, _CHANNEL)):
        match = pattern.match(word.strip())
        if match:
            return kind, match.group(1) or match.group(2)
    return None


def access(args: str, user_id: str, services: Services) -> dict:
    refusal = services.access.may_admin(user_id, "change who may use smsbot")
    if refusal:
        return render.refused(refusal)
    words = args.split()
    action = words[0].lower() if words else ""
    if action == "list" and len(words) == 1:
        states = {kind: services.access.state(kind) for kind in (USER, CHANNEL)}
        return render.access_list(services.compliance.access_entries(), services.access.admins, states)
    if action == "open" and len(words) == 2 and words[1].lower() in ("users", "channels"):
        kind = USER if words[1].lower() == "users" else CHANNEL
        return render.access_changed(services.compliance.open(kind, user_id), "open")
    if action not in ("allow", "deny") or len(words) != 2:
        return render.usage_error(render.ACCESS_USAGE)
    target = _target(words[1])
    if target is None:
        shown = words[1].replace("&lt;", "<").replace("&gt;", ">")[:40]
        return render.usage_error(
            f"‘{shown}’ is not a Slack user or channel I can read: pick the person or channel from Slack's "
            f"autocomplete (`/sms access {action} @bob`), or give the ID (U…, C…). A name typed as plain text "
            "arrives without its ID when the app's /sms command does not escape mentions: set "
            "`should_escape: true` in the manifest."
        )
    change = getattr(services.compliance, action)(*target, user_id)
    return render.access_changed(change, action)


def audit(args: str, user_id: str, services: Services) -> dict:
    refusal = services.access.may_admin(user_id, "read the audit log")
    if refusal:
        return render.refused(refusal)
    arg = args.strip()
    if arg and not (re.fullmatch(r"[0-9]{1,3}", arg) and 1 <= int(arg) <= AUDIT_MAX):
        return render.usage_error(
            f"`/sms audit N` takes a number of entries from 1 to {AUDIT_MAX}, "
            f"e.g. `/sms audit 50` (default {AUDIT_DEFAULT})."
        )
    return render.audit(services.compliance.audit.recent(int(arg) if arg else AUDIT_DEFAULT))


def period(args: str, services: Services) -> tuple[str, float, float]:
    """(label, start, end) of ``[YYYY-MM | FROM TO]`` in SMSBOT_TIMEZONE; this month when empty.
    ValueError with the sentence to show when it is neither."""
    tz = services.settings.timezone
    words = args.split()
    try:
        if not words:
            month = dt.datetime.fromtimestamp(services.clock(), zoneinfo.ZoneInfo(tz)).strftime("%Y-%m")
            return (month, *month_bounds(month, tz))
        if len(words) == 1 and re.fullmatch(r"[0-9]{4}-[0-9]{2}", words[0]):
            return (words[0], *month_bounds(words[0], tz))
        if len(words) == 2 and all(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", w) for w in words):
            return (f"{words[0]} to {words[1]}", *day_bounds(words[0], words[1], tz))
    except ValueError:
        pass
    raise ValueError(
        f"Give a month as YYYY-MM (e.g. 2026-05), or two days FROM TO as YYYY-MM-DD "
        f"(e.g. 2026-05-01 2026-05-15, both included); days run in {tz} time."
    )


def usage(args: str, user_id: str, services: Services) -> dict:
    if len(args.split()) > 1:
        return render.usage_error(
            "`/sms usage [YYYY-MM]` takes one month, e.g. `/sms usage 2026-05` (default: this month)."
        )
    try:
        label, start, end = period(args, services)
    except ValueError as error:
        return render.usage_error(str(error))
    everyone = services.access.is_admin(user_id)
    rows = services.usage_report.rows(start, end, None if everyone else user_id)
    return render.usage_report(label, rows, everyone, services.settings.timezone)


def export(ack, client, respond, command: dict, args: str, services: Services) -> None:
    """``/sms export [YYYY-MM | FROM TO]`` (admins): ack at once, then upload the CSV to the DM."""
    user_id = command.get("user_id", "")
    refusal = services.access.may_admin(user_id, "export the send log")
    if refusal:
        ack(render.refused(refusal))
        return
    try:
        label, start, end = period(args, services)
    except ValueError as error:
        ack(render.usage_error(str(error)))
        return
    ack(
        render.message(
            f":hourglass_flowing_sand: Preparing the CSV of SMS queued in {label}; it will arrive in your DM with me."
        )
    )
    services.later(upload_export, client, respond, user_id, label, start, end, services)


def upload_export(client, respond, user_id: str, label: str, start: float, end: float, services: Services) -> None:
    """After the ack: build the CSV and upload it to the requester's DM (files_upload_v2)."""
    data = services.usage_report.billing_csv(start, end, services.settings.timezone).encode("utf-8")
    rows = data.count(b"\r\n") - 1
    name = f"smsbot-{label.replace(' to ', '_')}.csv"
    try:
        dm = client.conversations_open(users=user_id)["channel"]["id"]
        client.files_upload_v2(
            channel=dm,
            content=data,
            filename=name,
            title=f"smsbot sends, {label}",
            initial_comment=render.export_comment(label, rows, services.settings.timezone),
        )
    except SlackApiError as error:
        code = error.response.get("error", "") if error.response is not None else ""
        log.warning("event=export_upload_failed error=%s", code or type(error).__name__)
        respond(render.export_failed(code))
        return
    except Exception as error:  # Slack unreachable: say so rather than fail silently
        log.warning("event=export_upload_failed error=%s", type(error).__name__)
        respond(render.export_failed(""))
        return
    log.info("event=export_uploaded by=%s period=%s rows=%d", user_id, label.replace(" ", "_"), rows)
