"""``/sms``: parse, check, store, ack — in that order, with no gateway or Slack I/O before the ack."""

from __future__ import annotations

import json
import logging
import re

from bot.slack import render
from bot.slack.command_line import parse_command
from bot.slack.listeners import admin, routine
from bot.slack.posts import SLACK_FIELDS, origin_of
from bot.sms.errors import SmsRuleError
from bot.sms.gateway import GatewayError
from bot.sms.names import GroupError, check_name
from bot.sms.numbers import numbers_to_remove, parse_recipients
from bot.sms.plan import OPTED_OUT, UsageError, member_problems
from bot.sms.schedule import ScheduleError, local_text
from bot.storage.confirmations import CONFIRM_SECONDS
from bot.storage.errors import DatabaseError
from bot.storage.replays import AlreadyAccepted
from bot.usecases.access import Viewer
from bot.usecases.sending import NeedsConfirmation, Refused
from bot.usecases.services import Services

log = logging.getLogger(__name__)

HISTORY_DEFAULT, HISTORY_MAX = 10, 50


def register(app, services: Services) -> None:
    @app.command("/sms")
    def sms(ack, command, respond, client):
        cmd = parse_command(command.get("text", ""))
        if cmd.problem:
            ack(render.usage_error(cmd.problem))
            return
        if cmd.name == "help":
            ack(render.help_message(cmd.unknown))
            return
        # Cancel stays open to a requester whose access was removed: nobody is stopped from stopping spend. A
        # send's own first check (may_send) holds this one, with the same sentence: one read of the lists less.
        refusal = None if cmd.name in ("cancel", "send") else services.access.may_use(command.get("user_id", ""))
        if refusal:
            ack(render.refused(refusal))
        elif cmd.name == "send":
            with services.before_ack():
                _send(ack, client, respond, command, cmd.args, services)
        elif cmd.name == "balance":
            _balance(ack, respond, services, command.get("user_id", ""))
        elif cmd.name == "status":
            ack(_status(cmd.args, _viewer(command, services), services))
        elif cmd.name == "history":
            ack(_history(cmd.args, _viewer(command, services), services))
        elif cmd.name in ("template", "scheduled", "cancel"):
            ack(
                routine.command(
                    cmd.name, cmd.args, command.get("user_id", ""), services, viewer=_viewer(command, services)
                )
            )
        elif cmd.name == "export":
            admin.export(ack, client, respond, command, cmd.args, services)
        elif cmd.name in admin.SUBCOMMANDS:
            with services.before_ack():
                ack(admin.handle(cmd.name, cmd.args, command, services))
        else:
            with services.before_ack():
                ack(_group(cmd.args, command.get("user_id", ""), services))


def _send(ack, client, respond, command: dict, args: str, services: Services) -> None:
    refusal = services.access.may_send(command.get("user_id", ""), command.get("channel_id", ""))
    if refusal:
        ack(render.refused(refusal))
        return
    if not args.strip():
        ack()
        services.later(open_compose, client, command, respond, services.routine.templates.all())
        return
    try:
        plan = services.routine.plan(args)  # [--at WHEN] RECIPIENTS [--at WHEN] (TEXT | :TEMPLATE…)
    except (UsageError, SmsRuleError, ScheduleError) as error:
        ack(render.usage_error(str(error)))
        return
    try:
        outcome = services.sending.submit(plan, origin_of(command))  # committed before the ack
    except DatabaseError as error:
        if isinstance(error, AlreadyAccepted):  # it ran before a restart, or runs on the replica that stored it
            log.info("event=send_not_stored reason=recorded_already")
        else:
            log.error("event=send_not_stored error=%s", error)
        ack(
            render.message(
                ":warning: I couldn't store your send, so nothing was queued. Try again in a "
                "moment; if it keeps happening, tell whoever runs smsbot (the database is busy or "
                "failing)."
            )
        )
        return
    if isinstance(outcome, Refused):
        ack(render.refused(outcome.sentence))
        return
    if isinstance(outcome, NeedsConfirmation):
        after = render.balance_after(outcome.last_balance, plan.credits)
        ack(render.confirm_preview(plan, outcome.pending_id, after, CONFIRM_SECONDS // 60, outcome.hold))
        return
    if plan.due is not None:
        zone = services.settings.timezone
        ack(render.scheduled_ack(plan, zone, local_text(plan.due, zone), plan.notes()))
        return
    where = "here" if command.get("channel_id", "").startswith("D") else "in this channel"
    ack(
        render.queued(
            plan.recipients,
            plan.info.parts,
            plan.info.encoding,
            plan.credits,
            where,
            plan.notes(),
            filled=plan.text if plan.template else None,
        )
    )


def open_compose(client, command: dict, respond, templates=()) -> None:
    """After the ack: the compose form, remembering where the command was typed."""
    origin = {k: command.get(k) for k in SLACK_FIELDS}
    try:
        client.views_open(trigger_id=command["trigger_id"], view=render.compose_modal(json.dumps(origin), templates))
    except Exception as error:  # the trigger lasts 3 s; say what to do instead of failing silently
        log.warning("event=compose_open_failed error=%s", type(error).__name__)
        respond(
            render.usage_error(
                "I couldn't open the form in time. Type the send instead: `/sms send 27831234567 Your message`."
            )
        )


def _balance(ack, respond, services: Services, user_id: str = "") -> None:
    ack(render.message(":hourglass_flowing_sand: Asking SMS Office for the balance…"))
    services.later(answer_balance, respond, services, user_id)


def answer_balance(respond, services: Services, user_id: str = "") -> None:
    """After the ack: ask the gateway, answer through respond()."""
    try:
        credits, usage, age = services.reading.balance()
    except GatewayError as error:
        respond(render.gateway_problem("I couldn't get the balance", error))
        return
    answer = render.balance(credits, usage, services.settings.low_balance, age=age)
    if user_id:
        answer = render.with_spend(answer, services.reading.spend_today(user_id))
    respond(answer)


def _viewer(command: dict, services: Services) -> Viewer:
    """Who asks, and in which channel: which sends they may see (bot/slack/posts.py)."""
    return services.access.viewer(command.get("user_id", ""), command.get("channel_id"))


def _status(args: str, viewer: Viewer, services: Services) -> dict:
    tracking = args.strip().lstrip("#")
    if not tracking.isdigit():
        return render.usage_error("Give the tracking number shown on the send, e.g. `/sms status 123456`.")
    found = services.reading.tracking(viewer, tracking)  # a send not theirs is answered as an unknown one
    if found is None:
        return render.usage_error(
            f"No SMS with tracking number {tracking} was sent by this bot. "
            "Check the number on the send's status message."
        )
    batch, row, reports = found
    return render.tracking_status(batch, row, reports, services.settings.retention_days)


def _history(args: str, viewer: Viewer, services: Services) -> dict:
    arg = args.strip()
    # ASCII digits only: str.isdigit() also accepts "²" and "١", which int() then refuses or misreads.
    if arg and not (re.fullmatch(r"[0-9]{1,3}", arg) and 1 <= int(arg) <= HISTORY_MAX):
        return render.usage_error(
            f"`/sms history N` takes a number of sends from 1 to {HISTORY_MAX}, "
            f"e.g. `/sms history 20` (default {HISTORY_DEFAULT})."
        )
    return render.history(
        services.reading.history(viewer, int(arg) if arg else HISTORY_DEFAULT), services.settings.retention_days
    )


GROUP_USAGE = (
    "Group commands: `/sms group list`, `/sms group show NAME`, `/sms group add NAME NUMBERS`, "
    "`/sms group remove NAME [NUMBERS]` (numbers comma-separated, no spaces)."
)


def _group(args: str, user_id: str, services: Services) -> dict:
    words = args.split()
    action = words[0].lower() if words else ""
    try:
        if action == "list" and len(words) == 1:
            return render.group_list(services.groups.sizes())
        if action == "show" and len(words) == 2:
            name = check_name(words[1])
            members = services.groups.members(name)
            if members is None:
                raise GroupError(services.groups.unknown(name))
            problems = {n: OPTED_OUT for n in services.optouts.blocked(members)}
            problems.update(member_problems(members, services.settings.allowed_countries))
            return render.group_members(name, members, problems)
        if action in ("add", "remove") and len(words) in (2, 3) and not (action == "add" and len(words) == 2):
            refusal = services.access.may_change_groups(user_id)
            if refusal:
                return render.refused(refusal)
            name = check_name(words[1])
            region = services.settings.sms_default_region
            if action == "add":  # three words: the name and the numbers
                change = services.groups.add(
                    name,
                    parse_recipients(words[2], region, services.settings.allowed_countries),
                    user_id,
                    services.clock(),
                    record=services.compliance.recorder(user_id, "group add", name),
                )
                log.info("event=group_changed group=%s by=%s added=%d", name, user_id, len(change.added))
                return render.group_changed(name, change.added, change.already, change.created)
            # a member stored before a rule changed can still go; without numbers, the whole group
            numbers = numbers_to_remove(words[2], region) if len(words) == 3 else None
            removed = services.groups.remove(
                name, numbers, record=services.compliance.recorder(user_id, "group remove", name)
            )
            log.info("event=group_changed group=%s by=%s removed=%d", name, user_id, len(removed))
            return render.group_removed(name, removed, whole=numbers is None)
    except SmsRuleError as error:
        return render.usage_error(str(error))
    except DatabaseError as error:
        log.error("event=group_not_stored error=%s", json.dumps(str(error)))
        return render.message(
            ":warning: I couldn't save that group change, so nothing changed. Try again in a "
            "moment; if it keeps happening, tell whoever runs smsbot (the database is busy "
            "or failing)."
        )
    return render.usage_error(GROUP_USAGE)
