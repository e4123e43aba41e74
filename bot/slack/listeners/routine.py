"""Routine sends in Slack: ``/sms template …``, ``/sms scheduled``, ``/sms cancel ID`` and the Cancel
button on a scheduled send's status message. Called from the ``/sms`` dispatch in commands.py."""
from __future__ import annotations

import json
import logging
import re
import sqlite3

from bot.sms import rules as smsrules
from bot.sms import templates
from bot.slack import render

log = logging.getLogger(__name__)

NOT_STORED = (":warning: I couldn't save that change, so nothing changed. Try again in a moment; if it keeps "
              "happening, tell whoever runs smsbot (the database is busy or failing).")


def register(app, services) -> None:
    @app.action(render.CANCEL_SCHEDULED_ACTION)
    def cancel_button(ack, body, action, respond):
        ack()
        services.later(_cancel_clicked, body, action, respond, services)


    @app.action(render.TEMPLATE_PICK_ACTION)
    def pick_template(ack, body, action, client):
        ack()
        services.later(_fill_from_template, client, body, action, services)


def _fill_from_template(client, body: dict, action: dict, services) -> None:
    """After the ack: the compose form again, its message field holding the template, placeholders and all."""
    view = body["view"]
    row = services.routine.templates.get((action.get("selected_option") or {}).get("value", ""))
    if row is None:
        return  # removed since the form opened: the menu no longer offers it once the form reopens
    values = view.get("state", {}).get("values", {})
    field = message_block(values)
    version = int(field.rsplit("-", 1)[1]) + 1 if "-" in field else 1
    recipients = values.get("recipients", {}).get("value", {}).get("value") or ""
    try:
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=render.compose_modal(
            view.get("private_metadata", ""), services.routine.templates.all(), recipients=recipients,
            text=row["text"], version=version))
    except Exception as error:  # the person edited the form meanwhile (hash), or Slack is unreachable
        log.warning("event=template_fill_failed error=%s", type(error).__name__)


def message_block(values: dict) -> str:
    """The compose form's message field: ``message``, or ``message-N`` once a template filled it."""
    return next((block for block in values if block == "message" or block.startswith("message-")), "message")


def command(name: str, args: str, user_id: str, services) -> dict:
    """The answer to ``/sms template|scheduled|cancel``, given before the ack."""
    try:
        with services.before_ack():
            if name == "template":
                return template(args, user_id, services)
            if name == "scheduled":
                return render.scheduled_list(services.routine.scheduled())
            return cancel(args, user_id, services)
    except sqlite3.Error as error:
        log.error("event=routine_not_stored error=%s", json.dumps(str(error)))
        return render.message(NOT_STORED)


def template(args: str, user_id: str, services) -> dict:
    words = args.split(None, 2)
    action, name, text = (words + ["", "", ""])[:3]
    action = action.lower()
    routine = services.routine
    try:
        if action == "list" and not name:
            return render.template_list(routine.templates.all())
        if action == "show" and name and not text:
            row = routine.template(name)
            info, near = routine.fixed_info(row["text"])
            return render.template_shown(row, templates.keys(row["text"]), info, near)
        if action in ("add", "remove") and name and (text.strip() if action == "add" else not text):
            refusal = services.access.may_change_templates(user_id)
            if refusal:
                return render.refused(refusal)
            if action == "remove":
                return render.template_removed(name.lower(), routine.remove_template(name, user_id))
            text = text.rstrip()
            created = routine.add_template(name, text, user_id)
            info, near = routine.fixed_info(text)
            return render.template_saved(name.lower(), text, created, templates.keys(text), info.parts, near)
    except smsrules.SmsRuleError as error:  # GroupError (the name), TextError (the text)
        return render.usage_error(str(error))
    return render.usage_error(render.TEMPLATE_USAGE)


def cancel(args: str, user_id: str, services) -> dict:
    arg = args.strip().lstrip("#")
    if not re.fullmatch(r"[0-9]{1,12}", arg):
        return render.usage_error("Give the send's number, shown on its status message and in `/sms scheduled`: "
                                  "e.g. `/sms cancel 42`.")
    outcome = services.routine.cancel(int(arg), user_id)
    return render.cancel_outcome(outcome.verdict, int(arg), outcome.cancelled, outcome.went, outcome.requester)


def _cancel_clicked(body, action, respond, services) -> None:
    try:
        answer = cancel(str(action.get("value", "")), body["user"]["id"], services)
    except sqlite3.Error as error:
        log.error("event=routine_not_stored error=%s", json.dumps(str(error)))
        answer = render.message(NOT_STORED)
    respond(answer | {"replace_original": False})
