"""The balance, its forecast, balance-watch alerts and the App Home tab."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.redact import redact
from bot.slack.render.blocks import HEADER_CHARS, MODAL_BLOCKS, context, escape, message, plain, section, when
from bot.slack.render.commands import history
from bot.slack.render.groups import group_list
from bot.wording import plural


def forecast_sentence(per_day, days_left) -> str:
    """'about N days left at this rate' from a spend rate (credits/day) and days left."""
    if per_day is None or days_left is None:
        return "nothing was spent in the last 7 days, so there is no forecast yet"
    days = float(days_left)
    left = "less than a day" if days < 1 else f"about {plural(round(days), 'day')}"
    return f"{left} left at this rate ({Decimal(str(per_day)):,.2f} credits a day)"


def balance(credits: Decimal, usage, threshold: Decimal, age: float | None = None) -> dict:
    """``/sms balance``: the balance, use today and over 7 days, the forecast, the threshold; ``age``: seconds
    since the check it comes from (a standby answers from the last stored check), None when asked just now."""
    low = " :warning: *below the alert threshold*" if credits < threshold else ""
    stored = "" if age is None else f" (as checked {_ago(age)}; the bot's leader checks it, not this replica)"
    text = (
        f":moneybag: SMS Office balance: *{credits:,.2f}* credits{low}{stored}\n"
        f"Used today: {usage.spent_today:,.2f} · last 7 days: {usage.spent_7d:,.2f}\n"
        f"Forecast: {forecast_sentence(usage.per_day, usage.days_left)}\n"
        f"Alert threshold: {threshold:,.2f} credits"
    )
    return message(text)


def _ago(seconds: float) -> str:
    if seconds < 60:
        return "less than a minute ago"
    minutes = round(seconds / 60)
    return f"{plural(minutes, 'minute')} ago" if minutes < 120 else f"{plural(round(minutes / 60), 'hour')} ago"


def alert(kind: str, data: dict) -> dict:
    """Balance-watch alerts for the alert channel."""
    if kind == "low_balance":
        text = (
            f":rotating_light: *SMS credits are low*: {Decimal(data['balance']):,.2f} left, below the "
            f"threshold of {Decimal(data['threshold']):,.2f}. "
            f"{forecast_sentence(data.get('per_day'), data.get('days_left')).capitalize()}. "
            f"Top up the SMS Office account before sends start failing."
        )
    elif kind == "topped_up":
        text = (
            f":white_check_mark: SMS credits topped up: {Decimal(data['balance']):,.2f} left "
            f"(threshold {Decimal(data['threshold']):,.2f})."
        )
    elif kind == "out_of_credits":
        text = (
            ":rotating_light: *SMS Office refused a send: not enough credits.* Nothing more can be sent "
            "until the account is topped up. Then press *Resend* on each SMS that failed for lack of "
            "credits: the button is in the thread under its status message (`/sms history` lists the "
            "recent sends and their status)."
        )
    elif kind == "login_failed":
        settings = " and ".join(data.get("settings") or ["SMSOFFICE_USERNAME", "SMSOFFICE_PASSWORD"])
        text = (
            f":closed_lock_with_key: *SMS Office refused smsbot's credentials.* Fix {settings} and "
            f"restart smsbot; until then no SMS can be sent."
        )
    elif kind == "login_ok":
        text = ":white_check_mark: SMS Office accepts smsbot's credentials again."
    elif kind == "unreachable":
        text = (
            f":warning: *SMS Office cannot be reached* ({data.get('checks', 3)} checks in a row: "
            f"{escape(redact(data.get('error', '')))}). Sends wait in the queue and go out when it is back."
        )
    elif kind == "reachable":
        text = ":white_check_mark: SMS Office can be reached again; queued sends are going out."
    else:
        text = f":information_source: Balance watch: {escape(kind)}"
    return {"text": text, "blocks": [section(text)]}


def alert_via_dm(alert_content: dict, channel: str, reason: str) -> dict:
    """A balance alert sent to an admin because the alert channel refused it."""
    note = (
        f"This alert is in your DM because <#{channel}> (SMSBOT_ALERT_CHANNEL) refused it: {escape(reason)}. "
        "Invite smsbot to that channel, or set SMSBOT_ALERT_CHANNEL to a channel it can post in."
    )
    return {"text": alert_content["text"], "blocks": [*alert_content["blocks"], context(note)]}


def home(
    last: tuple[Decimal, float] | None,
    usage,
    threshold: Decimal,
    entries: list[tuple[Mapping, list[Mapping]]],
    sizes: list[tuple[str, int]],
    retention_days: int | None = None,
) -> dict:
    """The App Home tab: balance and forecast, the last sends, the groups."""
    if last is None:
        money = "No balance check yet."
    else:
        money = (
            f"*{last[0]:,.2f}* credits (checked {when(last[1])}) · alert below {threshold:,.2f}\n"
            f"Forecast: {forecast_sentence(usage.per_day, usage.days_left)}"
        )
    blocks = [
        _header("SMS balance"),
        section(money),
        _header("Last sends"),
        *history(entries, retention_days, max_blocks=MODAL_BLOCKS // 2)["blocks"],
        _header("Groups"),
    ]
    end = context("Send with `/sms send NUMBERS MESSAGE`, or `/sms send` for a form. `/sms help` for more.")
    groups = group_list(sizes, max_blocks=MODAL_BLOCKS - len(blocks) - 1)["blocks"]
    return {"type": "home", "blocks": [*blocks, *groups, end]}


def _header(text: str) -> dict:
    return {"type": "header", "text": plain(text, HEADER_CHARS)}


def home_refused(sentence: str) -> dict:
    return {"type": "home", "blocks": [section(f":no_entry_sign: {sentence}")]}
