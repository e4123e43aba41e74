"""The compose form (``/sms send`` with no arguments) and its confirmation step."""

from __future__ import annotations

import json
import logging

from bot.slack import render
from bot.slack.listeners import routine
from bot.slack.posts import origin_of
from bot.sms.errors import SmsRuleError, TextError
from bot.sms.numbers import split_lines
from bot.sms.plan import UsageError, build_plan
from bot.sms.schedule import ScheduleError
from bot.storage.confirmations import CONFIRM_SECONDS
from bot.storage.errors import DatabaseError
from bot.usecases.sending import NeedsConfirmation, Refused
from bot.usecases.services import Services

log = logging.getLogger(__name__)


def register(app, services: Services) -> None:
    @app.view(render.COMPOSE_VIEW)
    def compose(ack, body, view, client):
        user = body["user"]
        origin = {**_metadata(view), "user_id": user["id"], "user_name": user.get("username") or user.get("name")}
        refusal = services.access.may_send(user["id"], origin.get("channel_id") or "")
        if refusal:
            ack(response_action="errors", errors={"recipients": refusal})
            return
        values = view["state"]["values"]
        spec = (values.get("recipients", {}).get("value", {}).get("value") or "").strip()
        field = routine.message_block(values)
        text = values.get(field, {}).get("value", {}).get("value") or ""
        at = values.get("when", {}).get("value", {}).get("selected_date_time")
        file = routine.list_file(values)
        if file is not None:
            routine.list_submitted(ack, view, file, spec, text, at, origin_of(origin), client, services)
            return
        _plan_and_submit(ack, spec, text, at, field, origin, services)

    @app.view(render.CONFIRM_VIEW)
    def confirm(ack, body, view):
        try:
            with services.before_ack():
                decision = services.sending.confirm(view.get("private_metadata", ""), body["user"]["id"], True)
        except DatabaseError as error:
            log.error("event=send_not_stored error=%s", error)
            ack(
                response_action="update",
                view=render.modal_notice(
                    "Not sent", "I couldn't store your send, so nothing was queued. Try `/sms send` again in a moment."
                ),
            )
            return
        if decision.verdict in ("ok", "sent"):  # "sent": a double submit, already queued once
            ack()
            return
        text = render.confirm_outcome(decision.verdict, refusal=decision.refusal)["text"]
        if decision.verdict == "refused":  # still pending: pushed over the preview, which Close returns to
            ack(response_action="push", view=render.modal_notice("Not sent", text + render.PREVIEW_KEPT))
            return
        ack(response_action="update", view=render.modal_notice("Not sent", text))


def _plan_and_submit(ack, spec: str, text: str, at, field: str, origin: dict, services: Services) -> None:
    """The form's recipients and text checked like a typed send, then queued, held or refused."""
    try:
        plan = build_plan(
            spec,
            text,
            services.settings.sms_default_region,
            services.groups,
            services.settings.allowed_countries,
            split=split_lines,
            blocked=services.optouts.blocked,
        )
        plan = services.routine.timed(plan, at)
    except ScheduleError as error:
        ack(response_action="errors", errors={"when": str(error)})
        return
    except TextError as error:
        ack(response_action="errors", errors={field: str(error)})
        return
    except (SmsRuleError, UsageError) as error:
        ack(response_action="errors", errors={"recipients": str(error)})
        return
    try:
        with services.before_ack():
            outcome = services.sending.submit(plan, origin_of(origin))  # committed before the ack
    except DatabaseError as error:
        log.error("event=send_not_stored error=%s", error)
        ack(
            response_action="errors",
            errors={field: "I couldn't store your send, so nothing was queued. Try again in a moment."},
        )
        return
    if isinstance(outcome, Refused):
        ack(response_action="errors", errors={"recipients": outcome.sentence})
        return
    if isinstance(outcome, NeedsConfirmation):
        after = render.balance_after(outcome.last_balance, plan.credits)
        ack(
            response_action="update",
            view=render.confirm_modal(plan, outcome.pending_id, after, CONFIRM_SECONDS // 60, outcome.hold),
        )
        return
    ack()


def _metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
