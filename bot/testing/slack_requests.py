"""Signed Slack requests as Slack sends them to an app: slash commands, button clicks, form
submissions and events, with their signature headers (for tests and the benchmark)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from bot.testing.fake_slack import APP_ID, BOT_ID, BOT_USER_ID, VERIFICATION_TOKEN

_TRIGGERS = itertools.count(1)


def new_trigger_id() -> str:
    """A fresh trigger_id, as Slack gives every slash command, click and submission its own."""
    return f"13345224609.738474920.{next(_TRIGGERS):031x}"


def sign(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict:
    """Headers Slack sends with a signed request (v0 HMAC-SHA256 of "v0:{ts}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(
    text: str,
    *,
    command: str = "/sms",
    user_id: str = "U0USER",
    user_name: str = "alice",
    channel_id: str = "C0GENERAL",
    channel_name: str = "general",
    team_id: str = "T0TEST",
    response_url: str,
    trigger_id: str | None = None,
) -> bytes:
    """A slash-command request body, fields as Slack sends them (a new trigger_id unless given)."""
    trigger_id = trigger_id or new_trigger_id()
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": "test",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    ).encode()


def block_actions_body(
    action_id: str,
    value: str,
    *,
    user_id: str = "U0USER",
    channel_id: str = "C0GENERAL",
    message_ts: str | None = None,
    response_url: str,
    team_id: str = "T0TEST",
) -> bytes:
    """An interactivity request body (``payload=<json>``) for a button click.

    With ``message_ts`` the button sits in that channel message; without it, in an
    ephemeral message (Slack then sends no ``message``).
    """
    container = {"type": "message", "channel_id": channel_id, "is_ephemeral": message_ts is None}
    payload: dict[str, Any] = {
        "type": "block_actions",
        "token": VERIFICATION_TOKEN,
        "api_app_id": APP_ID,
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "team": {"id": team_id, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
        "container": container,
        "trigger_id": new_trigger_id(),
        "response_url": response_url,
        "state": {"values": {}},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "text": {"type": "plain_text", "text": value},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if message_ts is not None:
        container["message_ts"] = message_ts
        payload["message"] = {"type": "message", "ts": message_ts, "user": BOT_USER_ID, "bot_id": BOT_ID, "text": ""}
    return urlencode({"payload": json.dumps(payload)}).encode()


def view_submission_body(
    callback_id: str,
    values: dict[str, str],
    *,
    private_metadata: str = "",
    user_id: str = "U0USER",
    team_id: str = "T0TEST",
) -> bytes:
    """An interactivity request body for a modal's submission; ``values`` maps block_id → typed text
    (each input's action_id is ``value``)."""
    state = {
        block: {"value": text if isinstance(text, dict) else {"type": "plain_text_input", "value": text}}
        for block, text in values.items()
    }  # a dict: another element's state (file_input, datetimepicker)
    payload: dict[str, Any] = {
        "type": "view_submission",
        "token": VERIFICATION_TOKEN,
        "api_app_id": APP_ID,
        "team": {"id": team_id, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "trigger_id": new_trigger_id(),
        "view": {
            "id": "V0000001",
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": state},
            "hash": "1.abc",
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def view_action_body(
    action_id: str, selected: str, view: dict, *, user_id: str = "U0USER", team_id: str = "T0TEST"
) -> bytes:
    """A ``block_actions`` request from a menu inside an open modal (``view`` as views.open/update
    returned it, with ``state``)."""
    payload = {
        "type": "block_actions",
        "token": VERIFICATION_TOKEN,
        "api_app_id": APP_ID,
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "team": {"id": team_id, "domain": "test"},
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": new_trigger_id(),
        "view": {"hash": "1.abc", "state": {"values": {}}, **view},
        "actions": [
            {
                "type": "static_select",
                "action_id": action_id,
                "block_id": "template",
                "selected_option": {"text": {"type": "plain_text", "text": selected}, "value": selected},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: dict, *, team_id: str = "T0TEST") -> bytes:
    """An Events API request body (``event_callback``) wrapping ``event``."""
    return json.dumps(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{int(time.time() * 1000)}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True}],
        }
    ).encode()
