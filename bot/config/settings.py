"""Settings from the environment (after a ``.env`` file), checked all at once.

The variable names are a contract with operators and their scripts: keep them.
``load_settings`` collects every problem before failing, so one run of
``smsbot check`` or ``smsbot run`` lists everything there is to fix.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

from bot.config import values as parse
from bot.redact import register_secret

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SMSOFFICE_API_URL = "http://www.smsoffice.co.za/sms/api/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("kv", "json")
_SENDER_RE = re.compile(r"^[A-Za-z0-9]{1,11}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
PREFIXES = ("SMSBOT_", "SMSOFFICE_", "SMS_", "SLACK_")
DEFAULT_DB = "./smsbot.db"
# SMSBOT_DATABASE_URL's schemes for PostgreSQL (SQLAlchemy's own spelling for psycopg 3 too)
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def url_password(url: str | None) -> str | None:
    """The password in a database URL (as written and decoded), to keep it out of every text."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def db_path_from(given: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The database a command works on: ``--db``, else SMSBOT_DB, else the default (as ``smsbot run``)."""
    return given or (os.environ if env is None else env).get("SMSBOT_DB") or DEFAULT_DB


def read_only(db_path: str) -> sqlite3.Connection:
    """The database opened for reading without leaving a file behind: a read-only connection cannot remove
    the -wal/-shm files it creates (and ones made by root would lock the bot's user out). With no -wal beside
    it the file holds everything, so it is read as immutable (no -shm); else through the journal, as the
    running bot writes it. Raises sqlite3.Error."""
    path = Path(db_path).expanduser().resolve()
    flag = "mode=ro" if path.with_name(path.name + "-wal").exists() else "immutable=1"
    return sqlite3.connect(f"{path.as_uri()}?{flag}", uri=True, timeout=5)


SIMULATOR = "simulator"  # SMSOFFICE_API_URL=simulator: the bundled simulator runs inside the bot
SIMULATOR_DEFAULTS = {"SMSOFFICE_USERNAME": "demo", "SMSOFFICE_PASSWORD": "demo", "SMS_SENDER_ID": "SMSBOT"}
# Kubernetes' service links for a Service named e.g. "smsbot": SMSBOT_SERVICE_HOST, SMSBOT_SERVICE_PORT[_NAME],
# SMSBOT_PORT=tcp://…, SMSBOT_PORT_3000_TCP[_PROTO|_PORT|_ADDR].
_SERVICE_LINK_NAME = re.compile(
    r"^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)"
    r"(_PROTO|_PORT|_ADDR)?)$"
)
_USER_IDS_FIX = (
    "use comma-separated Slack user IDs such as U012AB3CD (they start with U or W: in Slack, a "
    "profile's ⋮ menu → Copy member ID), not names."
)
_CHANNEL_IDS_FIX = (
    "use comma-separated Slack channel IDs such as C012AB3CD (they start with C, G or D, at the "
    "bottom of the channel's details), not channel names."
)


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
    db_path: str = DEFAULT_DB
    database_url: str | None = field(default=None, repr=False)  # PostgreSQL; None: the SQLite file at db_path
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
    outbox_stall_seconds: int = 600
    smsoffice_keepalive_seconds: float = 3.0
    log_level: str = "INFO"
    log_format: str = "kv"
    allowed_countries: frozenset[str] = field(default_factory=frozenset)  # ISO codes; empty: any
    backup_dir: str | None = None
    backup_keep: int = 7
    daily_limit_user: int | None = None  # credits one user may spend per day; None: no limit
    daily_limit: int | None = None  # credits the whole bot may spend per day; None: no limit
    timezone: str = "Africa/Johannesburg"  # the team's time: scheduled sends, and where days begin for limits
    retention_days: int = 365  # SMS texts and numbers are erased this long after a send ends
    simulated: bool = False  # SMSOFFICE_API_URL=simulator: no real SMS is sent
    schedule_grace_minutes: int = 60  # a scheduled SMS later than this is missed, not sent
    max_list_rows: int = 5000  # rows of a personalised list
    lease_seconds: float = 10.0  # the leader's lease (bot/workers/leadership.py): renewed every third of it
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def secrets(self) -> list[str]:
        """Every value that must never be shown."""
        return [
            s
            for s in (
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.smsoffice_password,
                self.callback_secret,
                url_password(self.database_url),  # the redactor masks its URL-encoded forms too
            )
            if s
        ]


class _Reader:
    """Reads one variable at a time, noting a problem instead of raising."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []
        self.seen: set[str] = set()  # every name read: the names smsbot knows

    def raw(self, name: str) -> str | None:
        first = name not in self.seen
        self.seen.add(name)
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            if first:
                self.problems.append(
                    f"{name} is wrapped in quotes ({value[0]}…{value[0]}), which reached smsbot as part of the "
                    "value: Docker's --env-file keeps quotes (a .env file read by smsbot does not). Remove "
                    "the quotes."
                )
            value = value[1:-1].strip()
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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ``env`` (default: os.environ) or raise ConfigError listing every problem."""
    r = _Reader(os.environ if env is None else env)
    settings = Settings(**_credentials(r), **_files(r), **_tuning(r))
    warnings = _unknown_names(r)
    if r.problems:
        raise ConfigError(r.problems)
    settings = replace(settings, warnings=tuple(warnings))
    for secret in settings.secrets():
        register_secret(secret)
    return settings


def _credentials(r: _Reader) -> dict:
    """Slack's tokens and secret, the gateway's login and sender ID (not needed for the simulator)."""
    bot_token = r.required("SLACK_BOT_TOKEN", _HOW["SLACK_BOT_TOKEN"])
    if bot_token and not _secret_problem(r, "SLACK_BOT_TOKEN", bot_token):
        r.check(
            bot_token.startswith("xoxb-"),
            "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (OAuth & Permissions → Bot User OAuth Token).",
        )
    signing_secret = r.required("SLACK_SIGNING_SECRET", _HOW["SLACK_SIGNING_SECRET"])
    if signing_secret:
        _secret_problem(r, "SLACK_SIGNING_SECRET", signing_secret)
    app_token = r.raw("SLACK_APP_TOKEN")
    if app_token and not _secret_problem(r, "SLACK_APP_TOKEN", app_token):
        r.check(
            app_token.startswith("xapp-"),
            "SLACK_APP_TOKEN must be an app-level token starting with xapp- (Basic Information → App-Level "
            "Tokens, scope connections:write), or unset to receive Slack requests over HTTP.",
        )
    simulated = (r.raw("SMSOFFICE_API_URL") or "").lower() == SIMULATOR
    if simulated:  # the gateway's login is not used: an example value or none at all gets the simulator's

        def need(name: str, how: str) -> str:
            value = r.raw(name)
            return SIMULATOR_DEFAULTS[name] if value is None or is_placeholder(name, value) else value

    else:

        def need(name: str, how: str) -> str:
            value = r.required(name, how)
            if value and is_placeholder(name, value):
                r.problems.append(_placeholder_problem(name, value))
                return ""
            return value

    username = need("SMSOFFICE_USERNAME", _HOW["SMSOFFICE_USERNAME"])
    password = need("SMSOFFICE_PASSWORD", _HOW["SMSOFFICE_PASSWORD"])
    if password and not simulated:
        _secret_problem(r, "SMSOFFICE_PASSWORD", password)
    sender = need("SMS_SENDER_ID", _HOW["SMS_SENDER_ID"])
    r.check(
        not sender or bool(_SENDER_RE.match(sender)),
        f"SMS_SENDER_ID={sender!r} is not valid: use 1 to 11 letters and digits, no spaces (e.g. ACMEOPS).",
    )
    api_url = (
        SIMULATOR
        if simulated
        else r.convert(
            "SMSOFFICE_API_URL",
            DEFAULT_SMSOFFICE_API_URL,
            parse.base_url,
            f"use an http(s) URL such as {DEFAULT_SMSOFFICE_API_URL}, or simulator to try smsbot without "
            "sending real SMS.",
        )
    )
    return dict(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        smsoffice_username=username,
        smsoffice_password=password,
        sms_sender_id=sender,
        smsoffice_api_url=api_url,
        simulated=simulated,
    )


# Where each credential comes from: the fix in every sentence about it.
_HOW = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page.",
    "SLACK_SIGNING_SECRET": "copy the Signing Secret from your Slack app's Basic Information page (App Credentials).",
    "SLACK_APP_TOKEN": "copy an app-level token (xapp-…, scope connections:write) from your Slack app's Basic "
    "Information page (App-Level Tokens), or leave it unset to receive Slack requests over HTTP.",
    "SMSOFFICE_USERNAME": "set it to your SMS Office account's username.",
    "SMSOFFICE_PASSWORD": "set it to your SMS Office account's password.",
    "SMS_SENDER_ID": "set the sender ID your messages come from (letters and digits, at most 11, e.g. ACMEOPS).",
}
# The values .env.example ships with, standing for the operator's own: refused by name where they are used.
EXAMPLE_PLACEHOLDERS = {
    "SLACK_BOT_TOKEN": "xoxb-your-bot-token",
    "SLACK_SIGNING_SECRET": "your-signing-secret",
    "SMSOFFICE_USERNAME": "your-username",
    "SMSOFFICE_PASSWORD": "your-password",
    "SMS_SENDER_ID": "your-sender-id",
}
# The README's placeholders: the ellipsis (…) stands for the part to paste.
README_PLACEHOLDERS = {"SLACK_BOT_TOKEN": "xoxb-…", "SLACK_APP_TOKEN": "xapp-…", "SLACK_SIGNING_SECRET": "…"}
# Besides their own rules, these reach HTTP headers, an HMAC or a URL: printable ASCII only, and Slack's
# values have no spaces.
_SECRET_SPACES_ALLOWED = {"SMSOFFICE_PASSWORD"}


def is_placeholder(name: str, value: str) -> bool:
    """True when ``value`` is .env.example's stand-in for ``name`` (not a real value)."""
    example = EXAMPLE_PLACEHOLDERS.get(name)
    return example is not None and value.strip().lower() == example


def _placeholder_problem(name: str, value: str) -> str:
    return f"{name} is still the example value from .env.example ({value}): {_HOW[name]}"


def _secret_problem(r: _Reader, name: str, value: str) -> str | None:
    """Note (and return) the sentence for a token or secret that cannot be the real one, never quoting it:
    .env.example's placeholder, the README's (``xoxb-…``), a character outside printable ASCII (which
    Slack's tokens never have, and which cannot go into an HTTP header), or a space in a Slack value."""
    how = _HOW[name]
    if is_placeholder(name, value):
        problem = _placeholder_problem(name, value)
    elif "…" in value:
        shown = f" ({value})" if value == README_PLACEHOLDERS.get(name) else ""
        problem = f"{name} still holds the README's placeholder{shown}: the … stands for the real value; {how}"
    elif bad := next((c for c in value if not " " <= c <= "~"), None):
        problem = (
            f"{name} contains {_describe(bad)}, which cannot be part of it (only printable ASCII): paste it "
            f"again (an editor or a chat app may have changed a character); {how}"
        )
    elif " " in value and name not in _SECRET_SPACES_ALLOWED:
        problem = f"{name} contains a space, which Slack's values never have: paste it again; {how}"
    else:
        return None
    r.problems.append(problem)
    return problem


def _describe(char: str) -> str:
    """A character named so an operator can find it: ``'…' (U+2026 HORIZONTAL ELLIPSIS)``."""
    import unicodedata

    shown = repr(char) if char.isprintable() else "a control character"
    return f"{shown} (U+{ord(char):04X} {unicodedata.name(char, 'unnamed')})"


def _files(r: _Reader) -> dict:
    """Where the database, its backups and the callback secret live."""
    db_path = r.raw("SMSBOT_DB") or DEFAULT_DB
    parent = Path(db_path).expanduser().resolve().parent
    r.check(
        parent.is_dir(),
        f"SMSBOT_DB={db_path!r}: the folder {str(parent)!r} does not exist; create it or point SMSBOT_DB elsewhere.",
    )
    database_url = r.raw("SMSBOT_DATABASE_URL")
    if database_url is not None:
        register_secret(url_password(database_url))  # before any sentence about it is written
        try:
            scheme = urlsplit(database_url).scheme.lower()
        except ValueError:
            scheme = ""
        r.check(
            scheme in POSTGRES_SCHEMES and "://" in database_url,
            f"SMSBOT_DATABASE_URL must be a PostgreSQL URL such as postgresql://smsbot:PASSWORD@db.example:5432/smsbot "
            f"(it starts with {scheme + '://' if scheme else 'no scheme'}); leave it unset to use the SQLite file "
            "at SMSBOT_DB.",
        )
    callback_secret = r.raw("SMSBOT_CALLBACK_SECRET")
    r.check(
        callback_secret is None or bool(_SECRET_RE.match(callback_secret)),
        "SMSBOT_CALLBACK_SECRET is not valid: use 16 to 128 letters, digits, - or _ (or leave it unset "
        "and one is generated and stored).",
    )
    backup_dir = r.raw("SMSBOT_BACKUP_DIR")
    r.check(
        backup_dir is None or not Path(backup_dir).expanduser().exists() or Path(backup_dir).expanduser().is_dir(),
        f"SMSBOT_BACKUP_DIR={backup_dir!r} is a file, not a folder: point it at a folder (it is created if missing).",
    )
    return dict(
        db_path=db_path,
        database_url=database_url,
        callback_secret=callback_secret,
        backup_dir=backup_dir,
        backup_keep=r.convert(
            "SMSBOT_BACKUP_KEEP", 7, parse.positive_int, "use a whole number of copies, at least 1 (e.g. 7)."
        ),
    )


def _tuning(r: _Reader) -> dict:
    """Every other setting: a declarative table of name, default, parser and the fix to show."""
    return dict(
        slack_api_url=r.convert(
            "SLACK_API_URL", DEFAULT_SLACK_API_URL, parse.base_url, "use an http(s) URL such as https://slack.com/api/."
        ),
        sms_default_region=r.convert(
            "SMS_DEFAULT_REGION", None, parse.region, "use a two-letter ISO country code such as ZA, or leave it unset."
        ),
        host=r.convert(
            "SMSBOT_HOST",
            "0.0.0.0",
            parse.host,
            "it is neither an IP address nor a name this machine "
            "resolves: use 0.0.0.0 (every interface), 127.0.0.1 (this machine only) or a local address.",
        ),
        port=r.convert("SMSBOT_PORT", 3000, parse.port, _port_fix(r.raw("SMSBOT_PORT"))),
        public_url=r.convert(
            "SMSBOT_PUBLIC_URL",
            None,
            lambda v: parse.url(v).rstrip("/"),
            "use the https:// address where the gateway and Slack reach this bot.",
        ),
        alert_channel=r.convert(
            "SMSBOT_ALERT_CHANNEL",
            None,
            parse.channel_id,
            "use the channel's ID (C… or G…, at the bottom of the channel's details in Slack), not its name.",
        ),
        low_balance=r.convert(
            "SMSBOT_LOW_BALANCE",
            Decimal("100"),
            parse.non_negative_decimal,
            "use a number of credits, 0 or more (e.g. 100).",
        ),
        balance_check_seconds=r.convert(
            "SMSBOT_BALANCE_CHECK_SECONDS",
            900,
            parse.positive_int,
            "use a whole number of seconds, at least 1 (e.g. 900).",
        ),
        allowed_users=r.convert("SMSBOT_ALLOWED_USERS", frozenset(), parse.user_ids, _USER_IDS_FIX),
        allowed_channels=r.convert("SMSBOT_ALLOWED_CHANNELS", frozenset(), parse.channel_ids, _CHANNEL_IDS_FIX),
        admin_users=r.convert("SMSBOT_ADMIN_USERS", frozenset(), parse.user_ids, _USER_IDS_FIX),
        confirm_above=r.convert(
            "SMSBOT_CONFIRM_ABOVE", 10, parse.non_negative_int, "use a whole number of credits, 0 or more (e.g. 10)."
        ),
        send_give_up_hours=r.convert(
            "SMSBOT_SEND_GIVE_UP_HOURS",
            24.0,
            parse.positive_float,
            "use a number of hours above 0 (e.g. 24, or 0.5 for half an hour).",
        ),
        outbox_stall_seconds=r.convert(
            "SMSBOT_OUTBOX_STALL_SECONDS",
            600,
            parse.positive_int,
            "use a whole number of seconds, at least 1 (e.g. 600).",
        ),
        smsoffice_keepalive_seconds=r.convert(
            "SMSOFFICE_KEEPALIVE_SECONDS",
            3.0,
            parse.positive_float,
            "use a number of seconds above 0, e.g. 3 (below the gateway's own keep-alive timeout).",
        ),
        **_logging(r),
        allowed_countries=r.convert(
            "SMSBOT_ALLOWED_COUNTRIES",
            frozenset(),
            parse.country_list,
            "use comma-separated two-letter ISO country codes such as ZA,NA,BW, "
            "or leave it empty to allow any country.",
        ),
        timezone=r.convert(
            "SMSBOT_TIMEZONE",
            "Africa/Johannesburg",
            parse.zone_name,
            "use an IANA time zone name such as Africa/Johannesburg or Europe/London.",
        ),
        schedule_grace_minutes=r.convert(
            "SMSBOT_SCHEDULE_GRACE_MINUTES",
            60,
            parse.non_negative_int,
            "use a whole number of minutes, 0 or more (e.g. 60).",
        ),
        max_list_rows=r.convert(
            "SMSBOT_MAX_LIST_ROWS", 5000, parse.positive_int, "use a whole number of rows, at least 1 (e.g. 5000)."
        ),
        lease_seconds=r.convert(
            "SMSBOT_LEASE_SECONDS",
            10.0,
            _lease_seconds,
            f"use a number of seconds from {MIN_LEASE_SECONDS:g} to {MAX_LEASE_SECONDS:g} (e.g. 10).",
        ),
        daily_limit_user=r.convert(
            "SMSBOT_DAILY_LIMIT_USER",
            None,
            parse.non_negative_int,
            "use a whole number of credits per user per day, 0 or more (e.g. 200), or leave it empty for no limit.",
        ),
        daily_limit=r.convert(
            "SMSBOT_DAILY_LIMIT",
            None,
            parse.non_negative_int,
            "use a whole number of credits per day for the whole bot, 0 or more (e.g. 2000), or leave it empty for "
            "no limit.",
        ),
        retention_days=r.convert(
            "SMSBOT_RETENTION_DAYS", 365, parse.positive_int, "use a whole number of days, at least 1 (e.g. 365)."
        ),
    )


def public_url_warning(settings: Settings) -> str | None:
    """The warning for a SMSBOT_PUBLIC_URL on plain http://, or None: `smsbot check` prints it, and so
    does `smsbot run` at start-up."""
    url = settings.public_url
    if not url or not url.lower().startswith("http://"):
        return None
    slack = (
        "with Socket Mode Slack does not use it, but the gateway does"
        if settings.slack_app_token
        else "Slack sends slash commands and button clicks only to https request URLs"
    )
    return (
        f"SMSBOT_PUBLIC_URL={url} starts with http://: {slack}, and the delivery-report callback URL, whose "
        "path is a secret, would cross the network in clear text. Serve the bot behind TLS (e.g. a reverse "
        "proxy with a certificate) and set SMSBOT_PUBLIC_URL to its https:// address."
    )


def _logging(r: _Reader) -> dict:
    return dict(
        log_level=r.convert(
            "SMSBOT_LOG_LEVEL", "INFO", parse.choice(LOG_LEVELS, upper=True), f"use one of {', '.join(LOG_LEVELS)}."
        ),
        log_format=r.convert("SMSBOT_LOG_FORMAT", "kv", parse.choice(LOG_FORMATS, upper=False), "use kv or json."),
    )


def load_log_settings(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(SMSBOT_LOG_LEVEL, SMSBOT_LOG_FORMAT) read and checked as ``load_settings`` does, for a command that
    needs no other setting (``smsbot simulator``); ConfigError lists what is wrong."""
    r = _Reader(os.environ if env is None else env)
    found = _logging(r)
    if r.problems:
        raise ConfigError(r.problems)
    return found["log_level"], found["log_format"]


def _port_fix(value: str | None) -> str:
    if value and parse.SERVICE_LINK_VALUE.match(value):
        return (
            "this is Kubernetes' service link for a Service named smsbot, not a port. Rename the Service, "
            "or set enableServiceLinks: false in the pod spec (or set SMSBOT_PORT to a number)."
        )
    return "use a port number from 1 to 65535."


MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 3.0, 300.0


def _lease_seconds(value: str) -> float:
    """The leader's lease: long enough to be renewed (every third of it) through a slow write, short
    enough that a standby takes over soon after the leader dies."""
    seconds = parse.positive_float(value)
    if not MIN_LEASE_SECONDS <= seconds <= MAX_LEASE_SECONDS:
        raise ValueError(value)
    return seconds


def _unknown_names(r: _Reader) -> list[str]:
    """Refuse likely typos of our names (a problem each); return a warning for other unknown names."""
    warnings = []
    for name in sorted(r.env):
        if not name.startswith(PREFIXES) or name in r.seen:
            continue
        if _SERVICE_LINK_NAME.match(name) or parse.SERVICE_LINK_VALUE.match(r.env[name] or ""):
            continue  # Kubernetes' service links: not ours
        known = closest(name, r.seen)
        if known:
            r.problems.append(
                f"{name} is not a setting smsbot knows: did you mean {known}? Rename it "
                f"(a misspelt name is ignored, so its value would silently not apply)."
            )
        else:
            warnings.append(
                f"{name} is not a setting smsbot knows; it is ignored (a newer smsbot's setting, "
                "or another program's?)."
            )
    return warnings


def closest(name: str, known: set[str]) -> str | None:
    """The known name within a small edit distance of ``name`` (1, or 2 for longer names), if any."""
    limit = 1 if len(name) <= 10 else 2
    scored = sorted((edit_distance(name, k), k) for k in known)
    return scored[0][1] if scored and scored[0][0] <= limit else None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance counting a swap of neighbours as one edit (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][len(b)]


def load_dotenv_file(path: Path) -> None:
    """Fill settings from ``.env``; the real environment wins, but an empty variable counts as unset."""
    for key, value in dotenv_values(path).items():
        if value is not None and not os.environ.get(key):
            os.environ[key] = value
