"""Buttons on smsbot's messages."""
from __future__ import annotations

import logging

from bot.slack import render

log = logging.getLogger(__name__)


def register(app, services) -> None:
    @app.action(render.RESEND_ACTION)
    def resend(ack, body, action, respond):
        ack()
        user_id = body["user"]["id"]
        try:
            message_id = int(action["value"])
        except (KeyError, TypeError, ValueError):
            respond(render.usage_error("That button is broken: send the SMS again with `/sms send`."))
            return
        recipient = services.resend(message_id, user_id)
        if recipient is None:
            respond(render.message("That SMS is no longer waiting for a decision: it was already resent "
                                   "or its status changed. See the status message above.",
                                   ephemeral=True) | {"replace_original": False})
            return
        log.info("event=resend_requested message=%d by=%s", message_id, user_id)
