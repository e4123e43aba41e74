"""Buttons on smsbot's messages: Resend (unconfirmed sends, curable failures) and Send/Cancel (costly sends)."""

from __future__ import annotations

import logging

from bot.slack import render
from bot.usecases.sending import Refused, WouldFailAgain
from bot.usecases.services import Services

log = logging.getLogger(__name__)


def register(app, services: Services) -> None:
    @app.action(render.RESEND_ACTION)
    def resend(ack, body, action, respond):
        ack()
        services.later(_resend, body, action, respond, services)

    @app.action(render.CONFIRM_ACTION)
    def confirm(ack, body, action, respond):
        ack()
        services.later(_decide, body, action, respond, services, True)

    @app.action(render.CANCEL_ACTION)
    def cancel(ack, body, action, respond):
        ack()
        services.later(_decide, body, action, respond, services, False)


def _resend(body, action, respond, services: Services) -> None:
    user_id = body["user"]["id"]
    try:
        message_id = int(action["value"])
    except (KeyError, TypeError, ValueError):
        respond(_aside(render.usage_error("That button is broken: send the SMS again with `/sms send`.")))
        return
    try:
        outcome = services.sending.resend(message_id, user_id)  # the gate judges it from where the send was requested
    except WouldFailAgain as refusal:
        respond(
            _aside(
                render.message(
                    f"Resending the SMS to {refusal.recipient} as it is would fail again: "
                    "send it anew with `/sms send` once it is fixed."
                )
            )
        )
        return
    if isinstance(outcome, Refused):
        respond(_aside(render.refused(outcome.sentence)))
        return
    if outcome is None:
        respond(
            _aside(
                render.message(
                    "That SMS is no longer waiting for a decision: it was already resent "
                    "or its status changed. See the status message above."
                )
            )
        )
        return
    log.info("event=resend_requested message=%d by=%s", message_id, user_id)


def _decide(body, action, respond, services: Services, send: bool) -> None:
    user_id = body["user"]["id"]
    decision = services.sending.confirm(str(action.get("value", "")), user_id, send)
    verdict = decision.verdict
    log.info(
        "event=confirm_%s verdict=%s user=%s batch=%s",
        "send" if send else "cancel",
        verdict,
        user_id,
        decision.batch_id if decision.batch_id is not None else "-",
    )
    if verdict == "not_yours":
        respond(_aside(render.confirm_outcome(verdict, decision.requester)))
    elif verdict == "refused":  # the preview stays, to press again once access or the limit allows
        respond(_aside(render.confirm_outcome(verdict, refusal=decision.refusal)))
    elif verdict == "ok":
        respond(render.confirm_outcome("sent" if send else "cancelled") | {"replace_original": True})
    elif verdict not in ("sent", "cancelled"):  # a double click was already answered by the first
        respond(render.confirm_outcome(verdict) | {"replace_original": True})


def _aside(content: dict) -> dict:
    """An ephemeral answer that leaves the clicked message as it is."""
    return content | {"replace_original": False}
