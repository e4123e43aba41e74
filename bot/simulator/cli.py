"""``smsbot simulator``: the simulator on a port of its own, printing the lines to paste into .env."""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.config.help import HelpFormatter
from bot.config.settings import ConfigError, db_path_from, is_placeholder, load_log_settings, read_only
from bot.logs import setup_logging
from bot.redact import register_secret
from bot.simulator.embedded import START_BALANCE
from bot.simulator.simulator import DLR_SEQUENCES, Simulator


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount: use a number of credits, e.g. 100") from None


def _number(minimum: float, *, above: bool, example: str) -> Callable[[str], float]:
    """A float flag of at least (or above) ``minimum``; anything else is a sentence, not a traceback."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (value > minimum if above else value >= minimum) or value == float("inf"):
            bound = "above" if above else "at least"
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: use a number {bound} {minimum:g}, e.g. {example}")
        return value

    return parse


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use a number from 1 to 65535, e.g. 8085")
    return int(text)


EXIT_CODES = """exit status:
  0  stopped cleanly by SIGTERM or SIGINT (Ctrl-C)
  1  it cannot listen on --host:--port (e.g. the port is in use)
  2  a flag, SMSBOT_LOG_LEVEL or SMSBOT_LOG_FORMAT is not valid"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsbot simulator",
        description="Run a local SMS Office API: no SMS leaves the machine and no credit is spent. "
        "Reads .env like smsbot does, prints the lines to paste into it, and logs as smsbot does "
        "(SMSBOT_LOG_LEVEL, SMSBOT_LOG_FORMAT).",
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for a bot on another one)",
    )
    parser.add_argument("--port", type=_port, default=8085, help="the port to listen on (default 8085)")
    parser.add_argument(
        "--username", help="the login it accepts (default: SMSOFFICE_USERNAME unless .env.example's, else demo)"
    )
    parser.add_argument(
        "--password", help="the login it accepts (default: SMSOFFICE_PASSWORD unless .env.example's, else demo)"
    )
    parser.add_argument(
        "--balance",
        type=_amount,
        default=START_BALANCE,
        help=f"credits to start with (default {START_BALANCE:,}, as with SMSOFFICE_API_URL=simulator)",
    )
    parser.add_argument(
        "--callback-url",
        help="where to send delivery reports (default: smsbot's own "
        "callback, from SMSBOT_PUBLIC_URL or 127.0.0.1:SMSBOT_PORT and the callback secret)",
    )
    parser.add_argument(
        "--dlr-mode",
        choices=list(DLR_SEQUENCES),
        default="delivered",
        help="the delivery reports each SMS gets: delivered (100 then 200, the default), failed (100 then a "
        "failure), route (no route to the network), none, duplicate (the 200 twice) or out_of_order (200 "
        "before 100)",
    )
    parser.add_argument(
        "--speed",
        type=_number(0, above=True, example="60 (retries after 1 min, 3 min, 12 min)"),
        default=1.0,
        help="divide the report retry intervals (60 min, 3 h, 12 h) by this",
    )
    parser.add_argument(
        "--dlr-delay",
        type=_number(0, above=False, example="1"),
        default=1.0,
        help="seconds between a send and each of its reports",
    )
    return parser


def _login(args) -> tuple[str, str, bool]:
    """(username, password, from_settings): flags, else smsbot's settings (not .env.example's
    placeholders, which smsbot refuses), else demo/demo."""
    username = args.username or _setting("SMSOFFICE_USERNAME") or "demo"
    password = args.password or _setting("SMSOFFICE_PASSWORD") or "demo"
    return username, password, bool(_setting("SMSOFFICE_PASSWORD")) and not args.password


def _setting(name: str) -> str | None:
    value = os.environ.get(name)
    return None if not value or is_placeholder(name, value) else value


def bot_callback_url() -> tuple[str | None, str]:
    """smsbot's delivery-report URL from its settings (the secret from SMSBOT_CALLBACK_SECRET, else the
    one smsbot keeps in its database), or None and the reason."""
    from bot.web.routes import callback_path

    base = os.environ.get("SMSBOT_PUBLIC_URL") or f"http://127.0.0.1:{os.environ.get('SMSBOT_PORT') or 3000}"
    secret = os.environ.get("SMSBOT_CALLBACK_SECRET") or _stored_secret(db_path_from())
    if not secret:
        return None, (
            "smsbot has no callback secret yet: start smsbot once in this folder, or set "
            "SMSBOT_CALLBACK_SECRET, then start the simulator again"
        )
    register_secret(secret)  # printed once below, masked in every log line
    return base.rstrip("/") + callback_path(secret), ""


def _stored_secret(db_path: str) -> str | None:
    """The secret smsbot generated and stored, read without changing the database (None if absent)."""
    path = Path(db_path).expanduser()
    if not path.is_file():
        return None
    try:
        conn = read_only(str(path))
        try:
            row = conn.execute("SELECT value FROM kv WHERE key = 'callback_secret'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _print_setup(simulator: Simulator, from_settings: bool, note: str) -> None:
    lines = [f"SMSOFFICE_API_URL={simulator.api_url}"]
    if from_settings:
        lines.append(
            "# SMSOFFICE_USERNAME and SMSOFFICE_PASSWORD: keep the ones in your settings; the simulator accepts them"
        )
    else:
        lines += [f"SMSOFFICE_USERNAME={simulator.username}", f"SMSOFFICE_PASSWORD={simulator.password}"]
    lines.append(
        "# ↑ put these lines in smsbot's .env and restart smsbot. No real SMS is sent; "
        f"the account starts with {simulator.balance:,.2f} simulated credits."
    )
    if simulator.callback_url:
        lines.append(f"# Delivery reports go to {simulator.callback_url}")
    else:
        lines.append(f"# Delivery reports are not sent ({note}); give --callback-url to send them.")
    print("\n".join(lines), flush=True)


def run(argv: list[str] | None, stop: threading.Event) -> int:
    """Serve a simulator configured by ``argv`` (and smsbot's settings) until ``stop`` is set."""
    args = build_parser().parse_args(argv)
    try:
        level, fmt = load_log_settings()
    except ConfigError as error:
        print("smsbot simulator cannot start; fix these settings (environment or .env):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    setup_logging(level, fmt)  # the same lines as smsbot's own
    username, password, from_settings = _login(args)
    callback_url, note = (args.callback_url, "") if args.callback_url else bot_callback_url()
    simulator = Simulator(
        username,
        password,
        args.balance,
        callback_url=callback_url,
        dlr_mode=args.dlr_mode,
        speed=args.speed,
        dlr_delay=args.dlr_delay,
    )
    try:
        simulator.start(args.host, args.port)
    except OSError as exc:
        print(
            f"Cannot listen on {args.host}:{args.port} ({exc.strerror or exc}): "
            "pick another port with --port (or another --host).",
            file=sys.stderr,
        )
        return 1
    try:
        _print_setup(simulator, from_settings, note)
        stop.wait()
    finally:
        simulator.stop()
    return 0


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM; the previous handlers come back afterwards."""
    from bot.workers.signals import set_from_signal

    stop = threading.Event()
    previous = {sig: signal.signal(sig, set_from_signal(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """``smsbot simulator``: print the lines to paste into .env and serve until SIGINT or SIGTERM."""
    from bot.config.settings import load_dotenv_file

    load_dotenv_file(Path.cwd() / ".env")
    with _stop_on_signals() as stop:
        return run(argv, stop)
