"""``smsbot check``: every setting, SMS Office, Slack, the database and the callback URL. Each check
beyond the settings themselves returns (ok, line)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cli.database import JOURNAL_NOTE, overridden_line, postgres_state
from bot.cli.environment import EXIT_FAILED, EXIT_OK, settings_or_exit
from bot.cli.run import print_callback
from bot.config.settings import Settings, public_url_warning, read_only
from bot.redact import register_secret
from bot.storage.migrations import MIGRATIONS

Result = tuple[bool, str]


def slack_error(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error"))
    return f"{type(error).__name__} (Slack unreachable?)"


def app_token(settings: Settings) -> Result:
    """Ask apps.connections.open for a Socket Mode URL without connecting to it: connecting would take
    events away from a running bot."""
    if not settings.slack_app_token:
        return True, "Slack app token: not set (Slack requests come over HTTP to /slack/events)"
    client = WebClient(base_url=settings.slack_api_url, timeout=10)
    try:
        client.apps_connections_open(app_token=settings.slack_app_token)
    except (SlackApiError, OSError) as error:
        return False, (
            f"Slack app token: FAILED: {slack_error(error)}. Check SLACK_APP_TOKEN (an xapp- token "
            "with connections:write) and that Socket Mode is on in the app settings."
        )
    return True, "Slack app token: OK, Slack offers a Socket Mode connection (not opened by this check)"


def alert_channel(settings: Settings) -> Result:
    """The channel ID is checked by the settings; here, whether it exists (if the token may look)."""
    channel = settings.alert_channel
    if not channel:
        return True, "Alert channel: off (SMSBOT_ALERT_CHANNEL is not set; balance alerts are not posted)"
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as error:
        code = error.response.get("error")
        if code in ("missing_scope", "not_allowed_token_type"):
            return True, (
                f"Alert channel: {channel} could not be checked: the bot token lacks channels:read (public "
                "channels) or groups:read (private ones). Add both under OAuth & Permissions → Bot Token Scopes "
                "(manifest.yml asks for them) and reinstall the app; until then make sure the bot is in that "
                "channel."
            )
        return False, (
            f"Alert channel: FAILED: {code} for {channel}. Copy the ID from the bottom of the "
            "channel's details in Slack; for a private channel, invite the bot first."
        )
    except OSError as error:
        return False, f"Alert channel: FAILED: {slack_error(error)}"
    member = (
        "the bot is a member"
        if info.get("is_member")
        else "the bot is not a member: invite it with /invite @smsbot (public channels also work through "
        "chat:write.public)"
    )
    return True, f"Alert channel: OK, #{info.get('name')} ({channel}); {member}"


def allow_lists(settings: Settings) -> Result:
    def size(ids: frozenset[str], empty: str = "everyone") -> str:
        return f"{len(ids)} ({', '.join(sorted(ids))})" if ids else f"none ({empty})"

    return True, (
        f"Allow-lists: OK, users {size(settings.allowed_users)}, channels {size(settings.allowed_channels)}, "
        f"admins {size(settings.admin_users, 'anyone allowed to send may change groups')}"
    )


def check(args) -> int:
    settings = settings_or_exit()
    results = [(True, "Configuration: OK"), *((True, line) for line in region_lines(settings))]
    if warning := public_url_warning(settings):
        results.append((True, f"  Warning: {warning}"))
    results += check_gateway(settings)
    try:
        result = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10).auth_test()
        results.append((True, f"Slack: OK, signed in as @{result.get('user')} in {result.get('team')}"))
    except Exception as error:
        results.append(
            (
                False,
                f"Slack: FAILED: {slack_error(error)}. Check SLACK_BOT_TOKEN and "
                "SLACK_API_URL (and this server's network).",
            )
        )
    results += [app_token(settings), alert_channel(settings), allow_lists(settings)]
    for _, line in results:
        print(line)
    if overridden := overridden_line(settings):
        print(overridden)
    (db_ok, db_line), stored_secret = database(settings)
    print(db_line)
    if not db_ok:
        return EXIT_FAILED
    callback_url(settings, stored_secret)
    return EXIT_OK if all(ok for ok, _ in results) else EXIT_FAILED


def database(settings: Settings) -> tuple[Result, str | None]:
    """Whether smsbot can use SMSBOT_DB, and the callback secret stored in it (None if none yet). Read only:
    `check` creates no file and migrates nothing (the next `smsbot run` does, keeping its copy first).
    With SMSBOT_DATABASE_URL: PostgreSQL, looked at read-only (bot/cli/database.py), and SMSBOT_DB's folder,
    where this host keeps its own files."""
    path = Path(settings.db_path).expanduser().resolve()
    if settings.database_url:
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return (
                False,
                f"Database: FAILED: SMSBOT_DB's folder {path.parent} is not writable by this user; with "
                f"SMSBOT_DATABASE_URL it still keeps {JOURNAL_NOTE}. Point SMSBOT_DB at a writable folder.",
            ), None
        state = postgres_state(settings.database_url)
        line = state.line if state.warning is None else f"{state.line}\n  Warning: {state.warning}"
        return (state.ok, line), state.callback_secret
    fix = "Check that the user running smsbot may write that file and its folder."
    if not path.exists():
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return (False, f"Database: FAILED: {path} cannot be created: {fix}"), None
        return (True, f"Database: none yet at {path}; the first `smsbot run` creates it"), None
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        return (False, f"Database: FAILED: {path} is not writable by this user. {fix}"), None
    try:
        conn = read_only(str(path))
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            has_kv = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv'").fetchone()
            row = has_kv and conn.execute("SELECT value FROM kv WHERE key = 'callback_secret'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as error:
        return (False, f"Database: FAILED: {error} ({path}). {fix}"), None
    upgrade = (
        f" (schema {version}; the next `smsbot run` upgrades it to {len(MIGRATIONS)})"
        if version < len(MIGRATIONS)
        else ""
    )
    return (True, f"Database: OK, {path}{upgrade}"), (row[0] if row else None)


def callback_url(settings: Settings, stored_secret: str | None) -> None:
    """The whole delivery-report URL, or where it will come from."""
    secret = settings.callback_secret or stored_secret
    if secret is None:
        print(
            "Delivery-report callback URL: not created yet. The first `smsbot run` generates its secret, "
            "keeps it in the database and prints the whole URL once; `smsbot check` shows it from then on "
            "(or set SMSBOT_CALLBACK_SECRET to choose it yourself).",
            flush=True,
        )
        return
    register_secret(secret)
    print_callback(settings.public_url, secret)


def check_gateway(settings: Settings) -> list[Result]:
    """The gateway's balance with these credentials; for an http:// gateway, whether https works too."""
    from bot.sms.gateway import GatewayError, SmsOfficeClient

    if settings.simulated:
        return [(True, "SMS Office: the built-in simulator (SMSOFFICE_API_URL=simulator): NO REAL SMS is sent")]
    if (sender := running_sender(settings)) is not None:
        return [(True, sender)]
    gateway = SmsOfficeClient(settings.smsoffice_api_url, settings.smsoffice_username, settings.smsoffice_password)
    try:
        results = [(True, f"SMS Office: OK, balance {gateway.balance():,.2f} credits")]
    except GatewayError as error:
        results = [(False, f"SMS Office: FAILED: {error}")]
    finally:
        gateway.close()
    if warning := gateway_https(settings):
        results.append((True, f"  Warning: {warning}"))
    return results


def running_sender(settings: Settings) -> str | None:
    """The SMS Office line when a running smsbot holds the account's one gateway connection: check must not
    open a second one (the gateway allows one per account), so it reports that bot's last balance check
    instead. None when no smsbot is sending (check then asks the gateway itself)."""
    from bot.storage.errors import DatabaseError

    try:
        who, last = _sender_and_last_check(settings)
    except OSError:
        return None  # no database yet, or not readable: the database line below says why
    except DatabaseError:
        return None
    if who is None:
        return None
    skipped = (
        f"SMS Office: not asked from here: {who} holds the account's one gateway connection (SMS Office "
        "allows one per account, so a second would disturb its sends)"
    )
    if last is None:
        return f"{skipped}; it has no balance check stored yet. Run `/sms balance` in Slack, or stop it to check here."
    checked_at, balance, outcome, error = last
    ago = _ago(time.time() - checked_at)
    if outcome == "ok":
        return f"{skipped}; its last balance check, {ago} ago: OK, {float(balance):,.2f} credits"
    return f"{skipped}; its last balance check, {ago} ago, FAILED: {error or outcome}"


def _sender_and_last_check(settings: Settings) -> tuple[str | None, tuple | None]:
    """(who sends now, or None; the last balance check stored), read without writing anything."""
    last_check = (
        "SELECT checked_at, balance, outcome, error FROM balance_history ORDER BY checked_at DESC, id DESC LIMIT 1"
    )
    if settings.database_url:
        from bot.storage.leases import Leases
        from bot.storage.postgres import PostgresDatabase
        from bot.workers.leadership import lease_name

        db = PostgresDatabase(settings.database_url, settings.db_path)
        try:
            lease = Leases(db).current(lease_name(settings.smsoffice_username))
            if lease is None or not lease.live(time.time()):
                return None, None
            row = db.conn.execute(last_check).fetchone()
            return f"the leader {lease.holder} (epoch {lease.epoch})", None if row is None else tuple(row)
        finally:
            db.close()
    from bot.storage.lock import holder, is_held, lock_path

    if not is_held(settings.db_path):
        return None, None
    conn = read_only(str(Path(settings.db_path).expanduser()))
    try:
        row = conn.execute(last_check).fetchone()
    finally:
        conn.close()
    return f"the smsbot running on this database ({holder(lock_path(settings.db_path))})", row


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def gateway_https(settings: Settings) -> str | None:
    """For a gateway reached over http://, ask the same address over https for the balance: the answer
    recommends the https URL, or says what travels in clear text. None for an https gateway."""
    from bot.sms.gateway import GatewayError, SmsOfficeClient

    url = settings.smsoffice_api_url
    if settings.simulated or not url.lower().startswith("http://"):
        return None
    https_url = https_twin(url)
    clear = (
        "SMSOFFICE_API_URL uses http://, so the SMS Office username and password (in the query string of "
        "every request), each SMS's text and numbers, and the balance cross the network in clear text"
    )
    gateway = SmsOfficeClient(https_url, settings.smsoffice_username, settings.smsoffice_password)
    try:
        gateway.balance()
    except GatewayError as error:
        return (
            f"{clear}. The same host gave no balance over https ({error.message.rstrip('. ')}): keep http:// "
            "unless SMS Office gives you an https address."
        )
    finally:
        gateway.close()
    return f"{clear}. SMS Office answers over https too (checked just now): set SMSOFFICE_API_URL={https_url}"


def https_twin(url: str) -> str:
    """The same host and path on https's own port: ``http://gw.example:8080/sms/api/`` →
    ``https://gw.example/sms/api/``. (The port that just answered plain HTTP cannot speak TLS too.)"""
    parts = urlsplit(url)
    host = parts.hostname or ""
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + (f"[{host}]" if ":" in host else host)
    return urlunsplit(("https", netloc, parts.path, parts.query, ""))


def region_lines(settings: Settings) -> list[str]:
    """What SMS_DEFAULT_REGION and SMSBOT_ALLOWED_COUNTRIES mean, by country name: SA is Saudi
    Arabia (+966), an easy slip for South Africa (ZA)."""
    import phonenumbers

    from bot.sms.numbers import country_name

    def named(code: str) -> str:
        return f"{code} = {country_name(code)} (+{phonenumbers.country_code_for_region(code)})"

    region = settings.sms_default_region
    lines = [
        f"SMS_DEFAULT_REGION: {named(region)}; numbers typed with a leading 0 are read as "
        f"{country_name(region)} numbers"
        if region
        else "SMS_DEFAULT_REGION: unset; numbers must be typed in international form"
    ]
    allowed = sorted(settings.allowed_countries)
    lines.append("SMSBOT_ALLOWED_COUNTRIES: " + (", ".join(map(named, allowed)) if allowed else "any country"))
    if region == "SA" or "SA" in allowed:
        lines.append("  Warning: SA is Saudi Arabia (+966). For South Africa (+27) use ZA.")
    return lines
