"""SMSOFFICE_API_URL=simulator: the bundled simulator inside the bot, reporting to the bot's own callback."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

from bot.config.settings import Settings
from bot.simulator.simulator import Simulator

log = logging.getLogger(__name__)

START_BALANCE = Decimal("1000")  # both simulators start with it: this one and `smsbot simulator`
BANNER = (
    "SIMULATOR MODE: SMSOFFICE_API_URL=simulator. No real SMS is sent and no credit is spent: the "
    "bundled SMS Office simulator answers inside this process and reports delivery itself."
)


def prepare(settings: Settings) -> tuple[Simulator | None, Settings]:
    """Start the simulator on a free loopback port if asked for; the settings then point at it."""
    if not settings.simulated:
        return None, settings
    simulator = Simulator(settings.smsoffice_username, settings.smsoffice_password, START_BALANCE).start()
    log.warning('event=simulator_mode api_url=%s note="no real SMS is sent"', simulator.api_url)
    return simulator, replace(settings, smsoffice_api_url=simulator.api_url)


def connect(simulator: Simulator | None, host: str, port: int, path: str) -> None:
    """Send the simulator's delivery reports to this bot's own callback (``path`` holds the secret)."""
    if simulator is not None:
        simulator.callback_url = f"http://{_loopback(host)}:{port}{path}"


def _loopback(host: str) -> str:
    """An address of the listener this process can reach."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
