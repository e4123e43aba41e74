"""``smsbot run | check | simulator``."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from dotenv import dotenv_values

from bot.config import ConfigError, Settings, load_settings


def load_dotenv_file(path: Path) -> None:
    """Fill settings from ``.env``; the real environment wins, but an empty variable counts as unset."""
    for key, value in dotenv_values(path).items():
        if value is not None and not os.environ.get(key):
            os.environ[key] = value


def _settings_or_exit() -> Settings:
    load_dotenv_file(Path.cwd() / ".env")
    try:
        return load_settings()
    except ConfigError as error:
        print("smsbot cannot start; fix these settings (environment or .env):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _run(args) -> int:
    settings = _settings_or_exit()
    from bot.logs import setup_logging
    from bot.runtime import Bot

    setup_logging(settings.log_level, settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        bot = Bot(settings)
        bot.start()
    except OSError as error:
        print(f"smsbot cannot start: {error}. Is SMSBOT_PORT={settings.port} already in use?", file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f"smsbot cannot start: {error}", file=sys.stderr)
        return 1
    _print_callback(settings.public_url, bot.callback_secret)
    print(f"smsbot is running on {settings.host}:{bot.server.port}; Ctrl-C or SIGTERM stops it.", flush=True)
    stop.wait()
    bot.stop()
    _exit_now(0)
    return 0


def _exit_now(status: int) -> None:
    """Exit without waiting for threads: bot.stop() stopped ours within its budget, and a thread
    still blocked somewhere (a DNS lookup, a Slack call) must neither delay the exit nor run after
    ``event=stopped``."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _print_callback(public_url: str | None, secret: str) -> None:
    from bot.web.routes import callback_path

    url = public_url + callback_path(secret) if public_url else None
    if url:
        print(f"Delivery-report callback URL (paste it into your SMS Office account's API settings):\n  {url}",
              flush=True)
    else:
        print("Delivery-report callback path (prefix it with this bot's public https address, or set "
              f"SMSBOT_PUBLIC_URL to print the whole URL):\n  {callback_path(secret)}", flush=True)


def _check(args) -> int:
    settings = _settings_or_exit()
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.storage.db import Database
    from bot.sms.gateway import GatewayError, SmsOfficeClient
    from bot.runtime import ensure_callback_secret

    ok = True
    print("Configuration: OK")
    gateway = SmsOfficeClient(settings.smsoffice_api_url, settings.smsoffice_username, settings.smsoffice_password)
    try:
        print(f"SMS Office: OK, balance {gateway.balance():,.2f} credits")
    except GatewayError as error:
        ok = False
        print(f"SMS Office: FAILED: {error}")
    finally:
        gateway.close()
    try:
        result = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10).auth_test()
        print(f"Slack: OK, signed in as @{result.get('user')} in {result.get('team')}")
    except SlackApiError as error:
        ok = False
        print(f"Slack: FAILED: {error.response.get('error')}. Check SLACK_BOT_TOKEN and SLACK_API_URL.")
    except Exception as error:  # unreachable: DNS, refused, timeout
        ok = False
        print(f"Slack: FAILED: {type(error).__name__}. Check SLACK_API_URL and this server's network.")
    db = Database(settings.db_path)
    db.migrate()
    secret = ensure_callback_secret(db, settings)
    db.close()
    _print_callback(settings.public_url, secret)
    return 0 if ok else 1


def _simulator(argv: list[str]) -> int:
    from bot.testing import simulator

    return simulator.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its options are its own (see `smsbot simulator --help`)
        return _simulator(argv[1:])
    parser = argparse.ArgumentParser(prog="smsbot", description="Send SMS through SMS Office from Slack.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,check,simulator}")
    sub.add_parser("run", help="run the bot until SIGTERM/SIGINT").set_defaults(func=_run)
    sub.add_parser("check", help="check the configuration, the gateway and Slack; print the callback URL") \
        .set_defaults(func=_check)
    sub.add_parser("simulator", help="a local SMS Office API for trying the bot (see `smsbot simulator --help`)")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
