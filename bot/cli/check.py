"""``smsbot check``: every setting, SMS Office, Slack, the database and the callback URL. Each check
beyond the settings themselves returns (ok, line)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cli.environment import EXIT_FAILED, EXIT_OK, settings_or_exit
from bot.cli.run import print_callback
from bot.config.settings import Settings

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
                f"Alert channel: {channel} could not be checked (the bot token lacks channels:read/"
                "groups:read). Slack has no dry-run post: make sure the bot is in that channel."
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
    from bot.runtime import ensure_callback_secret
    from bot.storage.db import Database

    results = [(True, "Configuration: OK"), *((True, line) for line in region_lines(settings))]
    results.append(check_gateway(settings))
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
    path = Path(settings.db_path).expanduser().resolve()
    db = Database(settings.db_path)
    try:
        db.migrate()
        secret = ensure_callback_secret(db, settings)
    except sqlite3.Error as error:
        print(
            f"Database: FAILED: {error} ({path}). Check that the user running smsbot may write that file "
            "and its folder."
        )
        return EXIT_FAILED
    finally:
        db.close()
    print(f"Database: OK, {path}")
    print_callback(settings.public_url, secret)
    return EXIT_OK if all(ok for ok, _ in results) else EXIT_FAILED


def check_gateway(settings: Settings) -> tuple[bool, str]:
    from bot.sms.gateway import GatewayError, SmsOfficeClient

    if settings.simulated:
        return True, "SMS Office: the built-in simulator (SMSOFFICE_API_URL=simulator): NO REAL SMS is sent"
    gateway = SmsOfficeClient(settings.smsoffice_api_url, settings.smsoffice_username, settings.smsoffice_password)
    try:
        return True, f"SMS Office: OK, balance {gateway.balance():,.2f} credits"
    except GatewayError as error:
        return False, f"SMS Office: FAILED: {error}"
    finally:
        gateway.close()


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
