"""The start-up summary: what an operator needs to see at a glance, secrets masked."""

from __future__ import annotations

from pathlib import Path

from bot import __version__
from bot.simulator.embedded import BANNER
from bot.web.routes import CALLBACK_PREFIX
from bot.wording import plural

IMAGE_MARKER = Path("/etc/smsbot-image")  # written by the Dockerfile: holds the data volume's path


def startup_lines(bot, *, image_marker: Path = IMAGE_MARKER) -> list[str]:
    """One line per fact: listener, Slack identity, gateway and balance, alerts, allow-lists,
    callback URL (masked: the full one comes from ``smsbot check``), database."""
    s = bot.settings
    lines = [
        f"  version:        smsbot {__version__}",
        f"  listening on:   {s.host}:{bot.server.port} (Slack requests, delivery reports, /healthz, /metrics)"
        + ("; Slack events over Socket Mode" if s.slack_app_token else ""),
    ]
    identity = bot.identity
    if identity.user_id:
        lines.append(
            f"  Slack:          @{identity.user_name} ({identity.user_id}) in {identity.team_name} ({identity.team_id})"
        )
    else:
        lines.append(
            "  Slack:          NOT reachable at start (auth.test failed, see the log); requests are still served"
        )
    lines.append(f"  SMS Office:     {_gateway(bot)}")
    lines.append(f"  alert channel:  {s.alert_channel or 'off (set SMSBOT_ALERT_CHANNEL to get balance alerts)'}")
    lines.append(
        f"  allow-lists:    users {_size(bot.access.users)} · channels {_size(bot.access.channels)} · "
        f"admins {_size(s.admin_users, 'anyone allowed to send')}"
    )
    lines.append(
        f"  spend limits:   {_limit(s.daily_limit_user)} per user · {_limit(s.daily_limit)} in all, per day "
        f"({s.timezone})"
    )
    lines.append(f"  retention:      SMS texts and numbers erased {s.retention_days} days after a send ends")
    lines.append(f"  callback URL:   {_masked_callback(bot)}")
    shown = f"PostgreSQL {bot.db.shown}" if s.database_url else _database(s.db_path, image_marker)  # no password
    lines.append(f"  database:       {shown}")
    banner = [f"!!! {BANNER}"] if bot.simulator is not None else []
    return [*banner, "smsbot started:", *lines, *banner]


FIRST_CHECK_WAIT_SECONDS = 5.0


def _gateway(bot) -> str:
    """What the balance watch's first check (run at start) found: no second call on the one connection."""
    where = "the built-in simulator, NO REAL SMS" if bot.simulator is not None else bot.settings.smsoffice_api_url
    reading = bot.watch.first_reading(FIRST_CHECK_WAIT_SECONDS)
    if reading is None:
        return f"not answered yet ({where}): the balance check is still waiting; see /healthz and the log"
    if reading.balance is None:
        return f"NOT reachable or refused ({where}): {reading.error}"
    return f"reachable ({where}), balance {reading.balance:,.2f} credits"


def _size(ids: frozenset[str], empty: str = "everyone") -> str:
    return str(len(ids)) if ids else f"0 ({empty})"


def _limit(credits: int | None) -> str:
    return "no limit" if credits is None else plural(credits, "credit", thousands=True)


def _masked_callback(bot) -> str:
    if bot.simulator is not None:
        return "set for you: the simulator reports to this bot"
    if bot.callback_secret_generated:  # `smsbot run` printed it whole just above: not a second time
        return "new, printed whole above: paste it into your SMS Office account's API settings"
    path = CALLBACK_PREFIX + "***"
    if bot.settings.public_url:
        return f"{bot.settings.public_url}{path} (the full URL: smsbot check)"
    return f"<this bot's public https address>{path} (set SMSBOT_PUBLIC_URL; the full URL: smsbot check)"


def _database(db_path: str, image_marker: Path) -> str:
    path = Path(db_path).expanduser().resolve()
    try:
        volume = Path(image_marker.read_text().strip())
    except OSError:
        return str(path)  # not in our container image
    if volume in path.parents:
        return str(path)
    return (
        f"{path}  WARNING: outside the {volume} volume, so it is lost with the container (history, "
        f"groups and the callback secret). Remove SMSBOT_DB from the --env-file or point it into {volume}."
    )
