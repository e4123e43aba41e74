"""Block Kit building blocks and the small messages every other render module uses."""
from __future__ import annotations

import datetime as dt

from bot.redact import redact
from bot.wording import plural  # noqa: F401  (re-exported: render.plural)


PREVIEW_CHARS = 280


LIST_EACH_UP_TO = 10          # recipients listed one per line up to this many; counts beyond


MAX_NUMBERS_SHOWN = 30        # failed/unconfirmed numbers named in a long list


RESEND_ACTION = "resend_message"


CONFIRM_ACTION = "confirm_send"


CANCEL_ACTION = "cancel_send"


COMPOSE_VIEW = "sms_compose"


CONFIRM_VIEW = "sms_confirm"


def escape(text: str) -> str:
    """Escape text for Slack mrkdwn (only &, < and > are special)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def message(text: str, *, blocks: list[dict] | None = None, ephemeral: bool = True) -> dict:
    out = {"text": text, "blocks": blocks or [section(text)]}
    if ephemeral:
        out["response_type"] = "ephemeral"
    return out


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "action_id": action_id, "value": value,
              "text": {"type": "plain_text", "text": text}}
    if style:
        button["style"] = style
    return button


def numbers_list(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:MAX_NUMBERS_SHOWN])
    return shown + (f" and {len(numbers) - MAX_NUMBERS_SHOWN} more" if len(numbers) > MAX_NUMBERS_SHOWN else "")


def input_block(block_id: str, label: str, placeholder: str, *, multiline: bool, initial: str = "") -> dict:
    element = {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
               "placeholder": {"type": "plain_text", "text": placeholder}}
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
            "element": element}


def when(ts: float | None) -> str:
    """A time Slack shows in each reader's own time zone (UTC in the fallback)."""
    if ts is None:
        return "?"
    fallback = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%H:%M UTC")
    return f"<!date^{int(ts)}^{{time}}|{fallback}>"


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    short = text if len(text) <= limit else text[:limit - 1] + "…"
    return "\n".join("> " + escape(line) for line in short.split("\n"))


def usage_error(sentence: str) -> dict:
    return message(f":warning: {escape(redact(sentence))}\nType `/sms help` for examples.")


def refused(sentence: str) -> dict:
    return message(f":no_entry_sign: {sentence}")


def modal_notice(title: str, text: str) -> dict:
    return {"type": "modal", "title": {"type": "plain_text", "text": title[:24]},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": [section(text)]}


def gateway_problem(what: str, error: object) -> dict:
    return message(f":warning: {what}: {escape(redact(error))}")
