"""Routine sends in Slack: ``/sms template …``, ``/sms scheduled``, ``/sms cancel ID`` and the Cancel
button on a scheduled send's status message. Called from the ``/sms`` dispatch in commands.py."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace

from bot.slack import render
from bot.slack.files import FileProblem, download
from bot.sms import lists, templates
from bot.sms.errors import SmsRuleError
from bot.sms.schedule import ScheduleError
from bot.storage.confirmations import CONFIRM_SECONDS
from bot.storage.errors import DatabaseError
from bot.usecases.access import Viewer
from bot.usecases.services import Services

log = logging.getLogger(__name__)

NOT_STORED = (
    ":warning: I couldn't save that change, so nothing changed. Try again in a moment; if it keeps "
    "happening, tell whoever runs smsbot (the database is busy or failing)."
)


def register(app, services: Services) -> None:
    @app.action(render.CANCEL_SCHEDULED_ACTION)
    def cancel_button(ack, body, action, respond):
        ack()
        services.later(_cancel_clicked, body, action, respond, services)

    @app.action(render.TEMPLATE_PICK_ACTION)
    def pick_template(ack, body, action, client):
        ack()
        services.later(_fill_from_template, client, body, action, services)


def _fill_from_template(client, body: dict, action: dict, services: Services) -> None:
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
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=render.compose_modal(
                view.get("private_metadata", ""),
                services.routine.templates.all(),
                recipients=recipients,
                text=row["text"],
                version=version,
            ),
        )
    except Exception as error:  # the person edited the form meanwhile (hash), or Slack is unreachable
        log.warning("event=template_fill_failed error=%s", type(error).__name__)


def list_file(values: dict) -> dict | None:
    """The CSV attached to the compose form, if any."""
    files = values.get("list", {}).get("value", {}).get("files") or []
    return files[0] if files else None


def list_submitted(
    ack, view: dict, file: dict, spec: str, text: str, at, origin: dict, client, services: Services
) -> None:
    """A compose form with a list: answered at once ("checking your list…"); the preview or the
    problems follow through views.update, as downloading and checking may take longer than 3 s."""
    if spec:
        ack(
            response_action="errors",
            errors={
                "recipients": "Send either to the numbers typed here or to the list "
                "attached below, not both: clear one of them."
            },
        )
        return
    if not text.strip():
        ack(
            response_action="errors",
            errors={
                message_block(view["state"]["values"]): (
                    "Write the message, with a {placeholder} for each column it uses, e.g. Hi {name}, order {order} is "
                    "ready."
                )
            },
        )
        return
    ack(response_action="update", view=render.list_checking())
    services.later(check_list, client, view["id"], file, text, at, origin, services)


def check_list(client, view_id: str, file: dict, text: str, at, origin: dict, services: Services) -> None:
    """After the ack: download, check every row, and show the preview (held, nothing queued) or the problems."""
    try:
        data = download(
            file.get("url_private_download") or file.get("url_private", ""),
            client.token,
            lists.MAX_BYTES,
            services.settings.slack_api_url,
        )
        read = services.routine.read_list(data, text)
        read = replace(read, plan=services.routine.timed(read.plan, at))
        view = render.list_preview(read, services.routine.hold(read.plan, origin), CONFIRM_SECONDS // 60)
    except (FileProblem, lists.ListError, SmsRuleError, ScheduleError) as problem:
        view = render.list_problems(str(problem))
    except DatabaseError as error:
        log.error("event=list_not_stored error=%s", json.dumps(str(error)))
        view = render.list_problems("I couldn't store your list, so nothing was queued. Try again in a moment.")
    try:
        client.views_update(view_id=view_id, view=view)
    except Exception as error:  # the form was closed meanwhile: nothing was queued
        log.warning("event=list_preview_not_shown error=%s", type(error).__name__)


def message_block(values: dict) -> str:
    """The compose form's message field: ``message``, or ``message-N`` once a template filled it."""
    return next((block for block in values if block == "message" or block.startswith("message-")), "message")


def command(name: str, args: str, user_id: str, services: Services, viewer: Viewer) -> dict:
    """The answer to ``/sms template|scheduled|cancel``, given before the ack; ``/sms scheduled`` lists
    the sends ``viewer`` may see."""
    try:
        with services.before_ack():
            if name == "template":
                return template(args, user_id, services)
            if name == "scheduled":
                return render.scheduled_list(services.routine.scheduled(viewer))
            return cancel(args, viewer, services)
    except DatabaseError as error:
        log.error("event=routine_not_stored error=%s", json.dumps(str(error)))
        return render.message(NOT_STORED)


def template(args: str, user_id: str, services: Services) -> dict:
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
    except SmsRuleError as error:  # GroupError (the name), TextError (the text)
        return render.usage_error(str(error))
    return render.usage_error(render.TEMPLATE_USAGE)


def cancel(args: str, viewer: Viewer, services: Services) -> dict:
    arg = args.strip().lstrip("#")
    if not re.fullmatch(r"[0-9]{1,12}", arg):
        return render.usage_error(
            "Give the send's number, shown on its status message and in `/sms scheduled`: e.g. `/sms cancel 42`."
        )
    outcome = services.routine.cancel(int(arg), viewer)
    return render.cancel_outcome(outcome.verdict, int(arg), outcome.cancelled, outcome.went, outcome.requester)


def _cancel_clicked(body, action, respond, services: Services) -> None:
    try:
        viewer = services.access.viewer(body["user"]["id"], (body.get("channel") or {}).get("id"))
        answer = cancel(str(action.get("value", "")), viewer, services)
    except DatabaseError as error:
        log.error("event=routine_not_stored error=%s", json.dumps(str(error)))
        answer = render.message(NOT_STORED)
    respond(answer | {"replace_original": False})
