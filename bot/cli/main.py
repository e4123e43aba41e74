"""``smsbot run | check | simulator | backup | send-list | optout | export | vacuum``.

Exit codes: 0 stopped cleanly (or every check passed), 2 a configuration problem (restarting
will not help: systemd's RestartPreventExitStatus=2), 1 anything else.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from bot.config.settings import SIMULATOR, ConfigError, Settings, db_path_from, load_dotenv_file, load_settings
from bot.workers.signals import set_from_signal

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _settings_or_exit(simulator: bool = False) -> Settings:
    load_dotenv_file(Path.cwd() / ".env")
    if simulator:
        os.environ["SMSOFFICE_API_URL"] = SIMULATOR
    try:
        settings = load_settings()
    except ConfigError as error:
        _refuse(error.problems)
    for warning in settings.warnings:
        print(f"smsbot: warning: {warning}", file=sys.stderr)
    from bot.cli.check import database_problem

    if problem := database_problem(settings.db_path):
        _refuse([problem])
    return settings


def _refuse(problems: list[str]):
    print("smsbot cannot start; fix these settings (environment or .env):", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


def _run(args) -> int:
    settings = _settings_or_exit(args.simulator)
    from bot.logs import setup_logging
    from bot.runtime import Bot
    from bot.cli.summary import startup_lines

    setup_logging(settings.log_level, settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, set_from_signal(stop))
    try:
        bot = Bot(settings)
        bot.start()
    except OSError as error:
        return _cannot_listen(error, settings)
    except RuntimeError as error:
        print(f"smsbot cannot start: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not settings.simulated:  # the simulator reports to this bot by itself
        # The full URL carries the secret: print it at start-up only when it is new (it has to be pasted
        # into SMS Office); otherwise stdout ends up in journald or `docker logs` on every start.
        _print_callback(settings.public_url, bot.callback_secret, full=bot.callback_secret_generated)
    print("\n".join(startup_lines(bot)), flush=True)
    print(f"smsbot is running on {settings.host}:{bot.server.port}; Ctrl-C or SIGTERM stops it.", flush=True)
    stop.wait()
    bot.stop()
    _exit_now(EXIT_OK)
    return EXIT_OK


def _exit_now(status: int) -> None:
    """Exit without waiting for threads: bot.stop() stopped ours within its budget, and a thread
    still blocked somewhere (a DNS lookup, a Slack call) must neither delay the exit nor run after
    ``event=stopped``."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _cannot_listen(error: OSError, settings: Settings) -> int:
    """A port in use may clear when an old process ends (1); a wrong address or port will not (2)."""
    where = f"SMSBOT_HOST={settings.host} SMSBOT_PORT={settings.port}"
    if error.errno == errno.EADDRINUSE:
        print(f"smsbot cannot listen on {where}: the port is already in use (an old smsbot still stopping, or "
              "another program). Stop that program or choose another SMSBOT_PORT.", file=sys.stderr)
        return EXIT_FAILED
    if error.errno == errno.EACCES:
        print(f"smsbot cannot listen on {where}: ports below 1024 need privileges. Use a port above 1024 "
              "(e.g. 3000) behind your reverse proxy.", file=sys.stderr)
        return EXIT_CONFIG
    if error.errno == errno.EADDRNOTAVAIL:
        print(f"smsbot cannot listen on {where}: that address is not one of this machine's. Use 0.0.0.0 (every "
              "interface) or 127.0.0.1.", file=sys.stderr)
        return EXIT_CONFIG
    print(f"smsbot cannot listen on {where}: {error.strerror or error}.", file=sys.stderr)
    return EXIT_FAILED


def _print_callback(public_url: str | None, secret: str, *, full: bool = True) -> None:
    from bot.web.routes import callback_path, masked_callback_url

    path = callback_path(secret)
    if not full:
        shown = masked_callback_url((public_url or "") + path)
        print(f"Delivery-report callback URL: {shown} (run `smsbot check` to see it whole)", flush=True)
    elif public_url:
        print("Delivery-report callback URL (paste it into your SMS Office account's API settings):\n  "
              f"{public_url + path}", flush=True)
    else:
        print("Delivery-report callback path (prefix it with this bot's public https address, or set "
              f"SMSBOT_PUBLIC_URL to print the whole URL):\n  {path}", flush=True)


def _check(args) -> int:
    settings = _settings_or_exit()
    from slack_sdk import WebClient

    from bot.cli import check as checks
    from bot.runtime import ensure_callback_secret
    from bot.storage.db import Database

    results = [(True, "Configuration: OK"), *((True, line) for line in region_lines(settings))]
    results.append(_check_gateway(settings))
    try:
        result = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10).auth_test()
        results.append((True, f"Slack: OK, signed in as @{result.get('user')} in {result.get('team')}"))
    except Exception as error:
        results.append((False, f"Slack: FAILED: {checks.slack_error(error)}. Check SLACK_BOT_TOKEN and "
                               "SLACK_API_URL (and this server's network)."))
    results += [checks.app_token(settings), checks.alert_channel(settings), checks.allow_lists(settings)]
    for _, line in results:
        print(line)
    path = Path(settings.db_path).expanduser().resolve()
    db = Database(settings.db_path)
    try:
        db.migrate()
        secret = ensure_callback_secret(db, settings)
    except sqlite3.Error as error:
        print(f"Database: FAILED: {error} ({path}). Check that the user running smsbot may write that file "
              "and its folder.")
        return EXIT_FAILED
    finally:
        db.close()
    print(f"Database: OK, {path}")
    _print_callback(settings.public_url, secret)
    return EXIT_OK if all(ok for ok, _ in results) else EXIT_FAILED


def _check_gateway(settings: Settings) -> tuple[bool, str]:
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


def _backup(args) -> int:
    from bot.storage.backup import BackupError, backup

    load_dotenv_file(Path.cwd() / ".env")
    db_path = db_path_from(args.db)
    try:
        written = backup(db_path, args.path)
    except BackupError as error:
        print(f"smsbot backup: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Backed up {Path(db_path).expanduser().resolve()} to {written.resolve()}")
    return EXIT_OK


def _send_list(args) -> int:
    from bot.cli.send_list import send_list

    return send_list(args, _settings_or_exit())


def region_lines(settings: Settings) -> list[str]:
    """What SMS_DEFAULT_REGION and SMSBOT_ALLOWED_COUNTRIES mean, by country name: SA is Saudi
    Arabia (+966), an easy slip for South Africa (ZA)."""
    import phonenumbers

    from bot.sms.numbers import country_name

    def named(code: str) -> str:
        return f"{code} = {country_name(code)} (+{phonenumbers.country_code_for_region(code)})"

    region = settings.sms_default_region
    lines = [f"SMS_DEFAULT_REGION: {named(region)}; numbers typed with a leading 0 are read as "
             f"{country_name(region)} numbers" if region else
             "SMS_DEFAULT_REGION: unset; numbers must be typed in international form"]
    allowed = sorted(settings.allowed_countries)
    lines.append("SMSBOT_ALLOWED_COUNTRIES: " + (", ".join(map(named, allowed)) if allowed else "any country"))
    if region == "SA" or "SA" in allowed:
        lines.append("  Warning: SA is Saudi Arabia (+966). For South Africa (+27) use ZA.")
    return lines


def _simulator(argv: list[str]) -> int:
    from bot.simulator import cli

    return cli.main(argv)


def _compliance_parsers(sub) -> None:
    """``smsbot optout import|export``, ``smsbot export`` and ``smsbot vacuum`` (bot/cli/compliance.py)."""
    from bot.cli import compliance as cc

    def command(func):
        def run(args) -> int:
            load_dotenv_file(Path.cwd() / ".env")
            return func(args)
        return run

    optout = sub.add_parser("optout", help="import or export the do-not-contact list as CSV")
    actions = optout.add_subparsers(dest="action", required=True, metavar="{import,export}")
    imp = actions.add_parser("import", help="add the numbers of a CSV (number[,reason]); nothing if a row is bad")
    imp.add_argument("file")
    exp = actions.add_parser("export", help="write the list as CSV (number,reason)")
    exp.add_argument("--out", help="a file to write (default: standard output)")
    imp.set_defaults(func=command(cc.optout_import))
    exp.set_defaults(func=command(cc.optout_export))
    export = sub.add_parser("export", help="write every SMS queued between two days as CSV, for billing")
    export.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (SMSBOT_TIMEZONE)")
    export.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD, included")
    export.add_argument("--out", required=True, help="the CSV file to write")
    export.set_defaults(func=command(cc.export))
    vacuum = sub.add_parser("vacuum", help="turn on incremental auto-vacuum and give free space back to the disk")
    vacuum.set_defaults(func=command(cc.vacuum))
    for p in (imp, exp, export, vacuum):
        p.add_argument("--db", help="the database (default: SMSBOT_DB, or ./smsbot.db)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its options are its own (see `smsbot simulator --help`)
        return _simulator(argv[1:])
    parser = argparse.ArgumentParser(prog="smsbot", description="Send SMS through SMS Office from Slack.")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{run,check,simulator,backup,send-list,optout,export,vacuum}")
    run = sub.add_parser("run", help="run the bot until SIGTERM/SIGINT")
    run.add_argument("--simulator", action="store_true",
                     help="use the built-in SMS Office simulator (no real SMS, no credentials needed)")
    run.set_defaults(func=_run)
    sub.add_parser("check", help="check the configuration, the gateway and Slack; print the callback URL") \
        .set_defaults(func=_check)
    sub.add_parser("simulator", help="a local SMS Office API for trying the bot (see `smsbot simulator --help`)")
    backup = sub.add_parser("backup", help="copy the database consistently, even while smsbot runs")
    backup.add_argument("path", help="the copy's file name, or a folder (created if missing) for a dated copy")
    backup.add_argument("--db", help="the database to copy (default: SMSBOT_DB, or ./smsbot.db)")
    backup.set_defaults(func=_backup)
    send = sub.add_parser("send-list", help="send a personalised list (CSV) for a Slack user, from a script")
    send.add_argument("file", help="CSV with a header row: a number, phone or mobile column, others {placeholders}")
    send.add_argument("--text", required=True, help='the message, e.g. "Hi {name}, order {order} is ready"')
    send.add_argument("--channel", required=True, help="the Slack channel ID (C…) for the status message")
    send.add_argument("--as", dest="user", required=True, help="the Slack user ID (U…) it is sent for")
    send.add_argument("--yes", action="store_true", help="send without asking (for scripts)")
    send.set_defaults(func=_send_list)
    _compliance_parsers(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
