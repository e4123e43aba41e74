"""What ``smsbot check`` verifies beyond the settings themselves: each returns (ok, line)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config.settings import Settings
from bot.storage.migrations import MIGRATIONS

Result = tuple[bool, str]


def database_problem(db_path: str) -> str | None:
    """A sentence if SMSBOT_DB cannot be used by this smsbot (not SQLite, or from a newer smsbot)."""
    path = Path(db_path).expanduser()
    if not path.exists():
        return None  # created at the first start
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as error:
        return (f"SMSBOT_DB={db_path!r} cannot be read as an SQLite database ({error}): point SMSBOT_DB at "
                "smsbot's database, or move that file away to start with a new one.")
    if version > len(MIGRATIONS):
        return (f"SMSBOT_DB={db_path!r} was written by a newer smsbot (schema {version}; this smsbot knows up to "
                f"{len(MIGRATIONS)}). Install that newer smsbot again, or restore the backup taken before the "
                "upgrade; this version will not touch the database.")
    return None


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
        return False, (f"Slack app token: FAILED: {slack_error(error)}. Check SLACK_APP_TOKEN (an xapp- token "
                       "with connections:write) and that Socket Mode is on in the app settings.")
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
            return True, (f"Alert channel: {channel} could not be checked (the bot token lacks channels:read/"
                          "groups:read). Slack has no dry-run post: make sure the bot is in that channel.")
        return False, (f"Alert channel: FAILED: {code} for {channel}. Copy the ID from the bottom of the "
                       "channel's details in Slack; for a private channel, invite the bot first.")
    except OSError as error:
        return False, f"Alert channel: FAILED: {slack_error(error)}"
    member = "the bot is a member" if info.get("is_member") else \
        "the bot is not a member: invite it with /invite @smsbot (public channels also work through chat:write.public)"
    return True, f"Alert channel: OK, #{info.get('name')} ({channel}); {member}"


def allow_lists(settings: Settings) -> Result:
    def size(ids: frozenset[str], empty: str = "everyone") -> str:
        return f"{len(ids)} ({', '.join(sorted(ids))})" if ids else f"none ({empty})"
    return True, (f"Allow-lists: OK, users {size(settings.allowed_users)}, channels {size(settings.allowed_channels)}, "
                  f"admins {size(settings.admin_users, 'anyone allowed to send may change groups')}")
