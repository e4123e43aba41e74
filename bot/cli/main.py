"""``smsbot run | check | simulator | backup | send-list | optout | export | vacuum | migrate-to``: the parser, and each
subcommand dispatched to its module (imported only when used, so `smsbot --help` stays quick). Exit
codes are in bot/cli/environment.py."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from bot import __version__
from bot.config.help import HelpFormatter
from bot.config.settings import load_dotenv_file

SETTINGS_FROM = "Settings come from the environment, then from .env in this folder (README: Configuration)."
RUN_DESCRIPTION = (
    "Run the bot until SIGTERM or SIGINT: /sms from Slack (over HTTP at /slack/events, or over Socket Mode "
    "when SLACK_APP_TOKEN is set), the sender, the gateway's delivery reports, /healthz and /metrics, "
    "all on SMSBOT_HOST:SMSBOT_PORT. The first start creates the database and the callback URL's secret, "
    "and prints that URL whole once. " + SETTINGS_FROM
)
RUN_EXIT_CODES = """exit status:
  0  stopped cleanly by SIGTERM or SIGINT
  1  anything else, e.g. the port is in use: it may clear, so systemd restarts it
  2  configuration: a setting, the listen address or the database's version;
     restarting will not help (systemd: RestartPreventExitStatus=2)"""
CHECK_DESCRIPTION = (
    "Check every setting, then SMS Office (the balance with your login; for an http:// address, whether "
    "https works too), Slack (the bot token, the app token, the alert channel) and the database, and print "
    "the delivery-report callback URL to paste into SMS Office. Changes nothing: no SMS is sent (unless "
    "--test-sms), no Socket Mode connection is opened, no database is created or upgraded. " + SETTINGS_FROM
)
DB_HELP = (
    "an SQLite database file, for this run (default: SMSBOT_DATABASE_URL when set, else SMSBOT_DB, or ./smsbot.db)"
)
CHECK_EXIT_CODES = """exit status:
  0  every check passed (warnings may still be printed: read them)
  1  SMS Office, Slack or the database failed its check: each FAILED line says what to fix
  2  a setting is missing or invalid: each is named, with its fix"""


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def call(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)

    return call


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
    vacuum = sub.add_parser(
        "vacuum",
        help="turn on incremental auto-vacuum and give free space back to the disk (PostgreSQL: VACUUM (ANALYZE))",
    )
    vacuum.set_defaults(func=command(cc.vacuum))
    for p in (imp, exp, export, vacuum):
        p.add_argument("--db", help=DB_HELP)


def _test_sms_options(check: argparse.ArgumentParser) -> None:
    """``smsbot check --test-sms NUMBER --as U… --channel C…``: two real SMS, queued through the running
    bot and followed to their delivery reports (bot/cli/test_sms.py)."""
    group = check.add_argument_group("a first real SMS, checked end to end (needs `smsbot run` running)")
    group.add_argument(
        "--test-sms",
        metavar="NUMBER",
        help="send two test SMS to NUMBER through the running bot (a 4-part GSM-7 text with € [ ~ where parts "
        "join, and the longest Unicode text), print them, and wait for their delivery reports",
    )
    group.add_argument("--as", dest="user", metavar="U…", help="the Slack user ID it is sent for (their limits apply)")
    group.add_argument("--channel", metavar="C…", help="the Slack channel ID for the status message")
    group.add_argument("--yes", action="store_true", help="send without asking")
    group.add_argument(
        "--wait", type=float, default=120.0, metavar="SECONDS", help="how long to wait for the reports (120)"
    )
    plain = check.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        if args.test_sms is not None:
            if not args.wait > 0:
                check.error("--wait takes a number of seconds above 0, e.g. --wait 120")
            return _lazy("bot.cli.test_sms", "command")(args)
        if args.user or args.channel or args.yes:
            check.error("--as, --channel and --yes go with --test-sms NUMBER")
        return plain(args)

    check.set_defaults(func=dispatch)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its options are its own (see `smsbot simulator --help`)
        return _simulator(argv[1:])
    parser = argparse.ArgumentParser(prog="smsbot", description="Send SMS through SMS Office from Slack.")
    parser.add_argument("--version", action="version", version=f"smsbot {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{run,check,simulator,backup,send-list,optout,export,vacuum,migrate-to}"
    )
    run = sub.add_parser(
        "run",
        help="run the bot until SIGTERM/SIGINT",
        description=RUN_DESCRIPTION,
        epilog=RUN_EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    run.add_argument(
        "--simulator",
        action="store_true",
        help="use the built-in SMS Office simulator (no real SMS, no credentials needed)",
    )
    run.set_defaults(func=_lazy("bot.cli.run", "run"))
    sub.add_parser(
        "check",
        help="check the configuration, the gateway and Slack; print the callback URL",
        description=CHECK_DESCRIPTION,
        epilog=CHECK_EXIT_CODES,
        formatter_class=HelpFormatter,
    ).set_defaults(func=_lazy("bot.cli.check", "check"))
    sub.add_parser("simulator", help="a local SMS Office API for trying the bot (see `smsbot simulator --help`)")
    backup = sub.add_parser(
        "backup", help="copy the database consistently, even while smsbot runs (PostgreSQL: pg_dump -Fc)"
    )
    backup.add_argument("path", help="the copy's file name, or a folder (created if missing) for a dated copy")
    backup.add_argument("--db", help=DB_HELP)
    backup.set_defaults(func=_lazy("bot.cli.backup", "backup_command"))
    send = sub.add_parser("send-list", help="send a personalised list (CSV) for a Slack user, from a script")
    send.add_argument("file", help="CSV with a header row: a number, phone or mobile column, others {placeholders}")
    send.add_argument("--text", required=True, help='the message, e.g. "Hi {name}, order {order} is ready"')
    send.add_argument("--channel", required=True, help="the Slack channel ID (C…) for the status message")
    send.add_argument("--as", dest="user", required=True, help="the Slack user ID (U…) it is sent for")
    send.add_argument("--yes", action="store_true", help="send without asking (for scripts)")
    send.set_defaults(func=_lazy("bot.cli.send_list", "command"))
    _compliance_parsers(sub)
    move = sub.add_parser(
        "migrate-to",
        help="copy the SQLite database into an empty PostgreSQL database (stop smsbot first)",
        description="Copy every row of the SQLite database (SMSBOT_DB, or --db) into an empty PostgreSQL database, "
        "in one transaction, with each table's count checked; the SQLite file is left as it is. Stop smsbot "
        "first: the copy holds the database's run lock. " + SETTINGS_FROM,
        epilog="exit status:\n  0  copied and checked\n  1  nothing was kept: the sentence says why\n"
        "  2  the URL or the SQLite file given is not usable",
        formatter_class=HelpFormatter,
    )
    move.add_argument("url", help="the target, e.g. postgresql://smsbot:PASSWORD@db.example:5432/smsbot")
    move.add_argument("--db", help="the SQLite database to copy (default: SMSBOT_DB, or ./smsbot.db)")
    move.set_defaults(func=_lazy("bot.cli.migrate_to", "command"))
    _test_sms_options(sub.choices["check"])
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
