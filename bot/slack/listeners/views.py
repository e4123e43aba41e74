"""The compose form (``/sms send`` with no arguments) and its confirmation step."""
from __future__ import annotations

import json
import logging

from bot.sms import rules as smsrules
from bot.sms.numbers import split_lines
from bot.sms.plan import UsageError, build_plan, confirmation_reason
from bot.storage.confirmations import CONFIRM_SECONDS
from bot.slack import render

log = logging.getLogger(__name__)


def register(app, services) -> None:
    @app.view(render.COMPOSE_VIEW)
    def compose(ack, body, view):
        user = body["user"]
        origin = {**_metadata(view), "user_id": user["id"], "user_name": user.get("username") or user.get("name")}
        refusal = services.access.may_send(user["id"], origin.get("channel_id") or "")
        if refusal:
            ack(response_action="errors", errors={"recipients": refusal})
            return
        values = view["state"]["values"]
        spec = (values.get("recipients", {}).get("value", {}).get("value") or "").strip()
        text = values.get("message", {}).get("value", {}).get("value") or ""
        try:
            plan = build_plan(spec, text, services.settings.sms_default_region, services.groups,
                              services.settings.allowed_countries, split=split_lines)
        except smsrules.TextError as error:
            ack(response_action="errors", errors={"message": str(error)})
            return
        except (smsrules.SmsRuleError, UsageError) as error:
            ack(response_action="errors", errors={"recipients": str(error)})
            return
        last = services.watch.last_balance()
        if hold := confirmation_reason(plan, services.settings.confirm_above, last, services.clock()):
            pending_id = services.hold_for_confirmation(plan, origin)
            after = render.balance_after(last, plan.credits)
            ack(response_action="update", view=render.confirm_modal(plan, pending_id, after,
                                                                    CONFIRM_SECONDS // 60, hold))
            return
        services.enqueue_send(plan, origin)
        ack()

    @app.view(render.CONFIRM_VIEW)
    def confirm(ack, body, view):
        decision = services.confirm(view.get("private_metadata", ""), body["user"]["id"], True)
        if decision.verdict in ("ok", "sent"):  # "sent": a double submit, already queued once
            ack()
            return
        ack(response_action="update",
            view=render.modal_notice("Not sent", render.confirm_outcome(decision.verdict)["text"]))


def _metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
