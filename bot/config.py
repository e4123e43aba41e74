"""Settings from the environment (after a ``.env`` file), checked all at once.

The variable names are a contract with operators and their scripts: keep them.
``load_settings`` collects every problem before failing, so one run of
``smsbot check`` or ``smsbot run`` lists everything there is to fix.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

import phonenumbers

from bot.redact import register_secret

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SMSOFFICE_API_URL = "http://www.smsoffice.co.za/sms/api/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("kv", "json")
_SENDER_RE = re.compile(r"^[A-Za-z0-9]{1,11}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_SLACK_ID_RE = re.compile(r"^[A-Z][A-Z0-9]{2,}$")


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one sentence per fault."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    # Secrets are left out of repr(), so a logged or printed Settings shows none of them.
    slack_bot_token: str = field(repr=False)
    slack_signing_secret: str = field(repr=False)
    smsoffice_username: str
    smsoffice_password: str = field(repr=False)
    sms_sender_id: str
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    smsoffice_api_url: str = DEFAULT_SMSOFFICE_API_URL
    sms_default_region: str | None = None
    db_path: str = "./smsbot.db"
    host: str = "0.0.0.0"
    port: int = 3000
    callback_secret: str | None = field(default=None, repr=False)
    public_url: str | None = None
    alert_channel: str | None = None
    low_balance: Decimal = Decimal("100")
    balance_check_seconds: int = 900
    allowed_users: frozenset[str] = field(default_factory=frozenset)
    allowed_channels: frozenset[str] = field(default_factory=frozenset)
    admin_users: frozenset[str] = field(default_factory=frozenset)
    confirm_above: int = 10
    send_give_up_hours: float = 24.0
    smsoffice_keepalive_seconds: float = 3.0
    log_level: str = "INFO"
    log_format: str = "kv"

    def secrets(self) -> list[str]:
        """Every value that must never be shown."""
        return [s for s in (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token,
                            self.smsoffice_password, self.callback_secret) if s]


class _Reader:
    """Reads one variable at a time, noting a problem instead of raising."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def required(self, name: str, how: str) -> str:
        value = self.raw(name)
        if value is None:
            self.problems.append(f"{name} is not set: {how}")
            return ""
        return value

    def convert(self, name: str, default, parse: Callable[[str], object], fix: str):
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, InvalidOperation):
            self.problems.append(f"{name}={value!r} is not valid: {fix}")
            return default

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(value)
    return value


def _base_url(value: str) -> str:
    return _url(value).rstrip("/") + "/"


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(value)
    return port


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _non_negative_decimal(value: str) -> Decimal:
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(value)
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(value)
    return number


def _region(value: str) -> str:
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(value)
    return region


def _id_list(value: str) -> frozenset[str]:
    ids = [item.strip() for item in value.split(",") if item.strip()]
    bad = [item for item in ids if not _SLACK_ID_RE.match(item)]
    if bad:
        raise ValueError(bad)
    return frozenset(ids)


def _choice(options: tuple[str, ...], *, upper: bool) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.upper() if upper else value.lower()
        if value not in options:
            raise ValueError(value)
        return value
    return parse


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ``env`` (default: os.environ) or raise ConfigError listing every problem."""
    r = _Reader(os.environ if env is None else env)

    bot_token = r.required("SLACK_BOT_TOKEN", "copy the Bot User OAuth Token (xoxb-…) from your Slack app's "
                                              "OAuth & Permissions page.")
    r.check(not bot_token or bot_token.startswith("xoxb-"),
            "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (OAuth & Permissions → Bot User OAuth Token).")
    signing_secret = r.required("SLACK_SIGNING_SECRET", "copy the Signing Secret from your Slack app's "
                                                        "Basic Information page.")
    app_token = r.raw("SLACK_APP_TOKEN")
    r.check(app_token is None or app_token.startswith("xapp-"),
            "SLACK_APP_TOKEN must be an app-level token starting with xapp- (Basic Information → App-Level "
            "Tokens, scope connections:write), or unset to receive Slack requests over HTTP.")
    username = r.required("SMSOFFICE_USERNAME", "set it to your SMS Office account's username.")
    password = r.required("SMSOFFICE_PASSWORD", "set it to your SMS Office account's password.")
    sender = r.required("SMS_SENDER_ID", "set the sender ID your messages come from (letters and digits, "
                                         "at most 11, e.g. ACMEOPS).")
    r.check(not sender or bool(_SENDER_RE.match(sender)),
            f"SMS_SENDER_ID={sender!r} is not valid: use 1 to 11 letters and digits, no spaces (e.g. ACMEOPS).")

    db_path = r.raw("SMSBOT_DB") or "./smsbot.db"
    parent = Path(db_path).expanduser().resolve().parent
    r.check(parent.is_dir(), f"SMSBOT_DB={db_path!r}: the folder {str(parent)!r} does not exist; create it "
                             "or point SMSBOT_DB elsewhere.")
    callback_secret = r.raw("SMSBOT_CALLBACK_SECRET")
    r.check(callback_secret is None or bool(_SECRET_RE.match(callback_secret)),
            "SMSBOT_CALLBACK_SECRET is not valid: use 16 to 128 letters, digits, - or _ (or leave it unset "
            "and one is generated and stored).")

    settings = Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=r.convert("SLACK_API_URL", DEFAULT_SLACK_API_URL, _base_url,
                                "use an http(s) URL such as https://slack.com/api/."),
        smsoffice_username=username,
        smsoffice_password=password,
        smsoffice_api_url=r.convert("SMSOFFICE_API_URL", DEFAULT_SMSOFFICE_API_URL, _base_url,
                                    f"use an http(s) URL such as {DEFAULT_SMSOFFICE_API_URL}."),
        sms_sender_id=sender,
        sms_default_region=r.convert("SMS_DEFAULT_REGION", None, _region,
                                     "use a two-letter ISO country code such as ZA, or leave it unset."),
        db_path=db_path,
        host=r.raw("SMSBOT_HOST") or "0.0.0.0",
        port=r.convert("SMSBOT_PORT", 3000, _port, "use a port number from 1 to 65535."),
        callback_secret=callback_secret,
        public_url=r.convert("SMSBOT_PUBLIC_URL", None, lambda v: _url(v).rstrip("/"),
                             "use the https:// address where the gateway and Slack reach this bot."),
        alert_channel=r.raw("SMSBOT_ALERT_CHANNEL"),
        low_balance=r.convert("SMSBOT_LOW_BALANCE", Decimal("100"), _non_negative_decimal,
                              "use a number of credits, e.g. 100."),
        balance_check_seconds=r.convert("SMSBOT_BALANCE_CHECK_SECONDS", 900, _positive_int,
                                        "use a whole number of seconds, e.g. 900."),
        allowed_users=r.convert("SMSBOT_ALLOWED_USERS", frozenset(), _id_list,
                                "use comma-separated Slack user IDs such as U012AB3CD."),
        allowed_channels=r.convert("SMSBOT_ALLOWED_CHANNELS", frozenset(), _id_list,
                                   "use comma-separated Slack channel IDs such as C012AB3CD."),
        admin_users=r.convert("SMSBOT_ADMIN_USERS", frozenset(), _id_list,
                              "use comma-separated Slack user IDs such as U012AB3CD."),
        confirm_above=r.convert("SMSBOT_CONFIRM_ABOVE", 10, _non_negative_int,
                                "use a whole number of credits, e.g. 10."),
        send_give_up_hours=r.convert("SMSBOT_SEND_GIVE_UP_HOURS", 24.0, _positive_float,
                                     "use a number of hours, e.g. 24."),
        smsoffice_keepalive_seconds=r.convert("SMSOFFICE_KEEPALIVE_SECONDS", 3.0, _positive_float,
                                              "use a number of seconds, e.g. 3 (below the gateway's own "
                                              "keep-alive timeout)."),
        log_level=r.convert("SMSBOT_LOG_LEVEL", "INFO", _choice(LOG_LEVELS, upper=True),
                            f"use one of {', '.join(LOG_LEVELS)}."),
        log_format=r.convert("SMSBOT_LOG_FORMAT", "kv", _choice(LOG_FORMATS, upper=False),
                             "use kv or json."),
    )
    if r.problems:
        raise ConfigError(r.problems)
    for secret in settings.secrets():
        register_secret(secret)
    return settings
