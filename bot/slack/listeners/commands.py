"""``/sms``: parse, check, store, ack — in that order, with no gateway or Slack I/O before the ack."""
from __future__ import annotations

import logging

from bot import smsrules
from bot.commands import UsageError, parse_command, plan_send
from bot.gateway import GatewayError
from bot.slack import render

log = logging.getLogger(__name__)


def register(app, services) -> None:
    @app.command("/sms")
    def sms(ack, command, respond):
        cmd = parse_command(command.get("text", ""))
        if cmd.name == "send":
            _send(ack, command, cmd.args, services)
        elif cmd.name == "balance":
            _balance(ack, respond, services)
        elif cmd.name == "status":
            ack(_status(cmd.args, services))
        else:
            ack(render.help_message(cmd.unknown))


def _send(ack, command: dict, args: str, services) -> None:
    try:
        plan = plan_send(args, services.settings.sms_default_region)
    except (UsageError, smsrules.SmsRuleError) as error:
        ack(render.usage_error(str(error)))
        return
    services.enqueue_send(plan, command)  # committed before the ack
    where = "here" if command.get("channel_id", "").startswith("D") else "in this channel"
    ack(render.queued(plan.recipients, plan.info.parts, plan.info.encoding, plan.credits, where))


def _balance(ack, respond, services) -> None:
    ack(render.message(":hourglass_flowing_sand: Asking SMS Office for the balance…"))
    try:
        credits = services.gateway.balance()
    except GatewayError as error:
        respond(render.gateway_problem("I couldn't get the balance", error))
        return
    respond(render.balance(credits, services.watch.usage(balance=credits), services.settings.low_balance))


def _status(args: str, services) -> dict:
    tracking = args.strip().lstrip("#")
    if not tracking.isdigit():
        return render.usage_error("Give the tracking number shown on the send, e.g. `/sms status 123456`.")
    row = services.queue.by_tracking_id(tracking)
    if row is None:
        return render.usage_error(f"No SMS with tracking number {tracking} was sent by this bot. "
                                  "Check the number on the send's status message.")
    return render.tracking_status(services.queue.batch(row["batch_id"]), row, services.reports.history(row["id"]))
