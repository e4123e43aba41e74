"""``smsbot run``: the bot until SIGTERM or SIGINT, with its start-up summary; why it cannot start
(the database in use by another smsbot, the port, a file it cannot read or write), said as a sentence
with the right exit code."""

from __future__ import annotations

import errno
import os
import pwd
import signal
import sys
import threading

from bot.cli.environment import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, settings_or_exit
from bot.config.settings import Settings, public_url_warning
from bot.workers.signals import set_from_signal

_held: list[object] = []  # the database's run lock, for the life of the process


def run(args) -> int:
    settings = settings_or_exit(args.simulator)
    if warning := public_url_warning(settings):  # Slack needs https; the callback secret would travel in clear
        print(f"smsbot: warning: {warning}", file=sys.stderr)
    from bot.cli.database import unreachable
    from bot.cli.summary import startup_lines
    from bot.logs import setup_logging
    from bot.runtime import Bot, CannotListen
    from bot.storage.errors import DatabaseError
    from bot.storage.lock import AlreadyRunning, hold_database

    setup_logging(settings.log_level, settings.log_format)
    # Python's own thread switch interval (5 ms) stays: 1 ms cost the HTTP server half its requests a second
    # (delivery reports, /healthz) for no measurable gain in the ack's p99 (docs/benchmark.md).
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, set_from_signal(stop))
    try:
        # Before anything reads or migrates the database: one smsbot per file. Held until the process
        # ends (the kernel releases it then, whatever the way); never released by hand.
        # On PostgreSQL (SMSBOT_DATABASE_URL) several processes share the database: no file lock.
        if not settings.database_url:
            _held.append(hold_database(settings.db_path))
        # SQLite: the file lock above proves this is the only process, so it leads at once. PostgreSQL: the
        # replicas take turns through the lease (bot/workers/leadership.py).
        bot = Bot(settings, exclusive=not settings.database_url)
        bot.start()
    except AlreadyRunning as error:
        print(f"smsbot cannot start: {error}", file=sys.stderr)
        return EXIT_FAILED  # it may clear when the other one stops
    except CannotListen as error:
        return cannot_listen(error.cause, settings)
    except OSError as error:
        return cannot_use_file(error)
    except RuntimeError as error:
        print(f"smsbot cannot start: {error}", file=sys.stderr)
        return EXIT_FAILED
    except DatabaseError as error:
        if not settings.database_url:
            raise
        print(f"smsbot cannot start: {unreachable(settings.database_url, error)}", file=sys.stderr)
        return EXIT_FAILED  # a server down or refusing may clear: systemd restarts it
    if not settings.simulated and bot.callback_secret_generated:
        # The full URL carries the secret: print it only when it is new (it has to be pasted into
        # SMS Office); the summary's one `callback URL:` line shows it masked on every other start.
        print_callback(settings.public_url, bot.callback_secret)
    print("\n".join(startup_lines(bot)), flush=True)
    print(f"smsbot is running on {settings.host}:{bot.server.port}; Ctrl-C or SIGTERM stops it.", flush=True)
    stop.wait()
    bot.stop()
    exit_now(EXIT_OK)
    return EXIT_OK


def exit_now(status: int) -> None:
    """Exit without waiting for threads: bot.stop() stopped ours within its budget, and a thread
    still blocked somewhere (a DNS lookup, a Slack call) must neither delay the exit nor run after
    ``event=stopped``."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


# errno → what to do, and whether it may clear by itself (1) or only a person can fix it (2)
_LISTEN_PROBLEMS = {
    errno.EADDRINUSE: (
        "the port is already in use (an old smsbot still stopping, or another program). Stop that program or "
        "choose another SMSBOT_PORT.",
        EXIT_FAILED,
    ),
    errno.EACCES: (
        "ports below 1024 need privileges. Use a port above 1024 (e.g. 3000) behind your reverse proxy.",
        EXIT_CONFIG,
    ),
    errno.EADDRNOTAVAIL: (
        "that address is not one of this machine's. Use 0.0.0.0 (every interface) or 127.0.0.1.",
        EXIT_CONFIG,
    ),
}


def cannot_listen(error: OSError, settings: Settings) -> int:
    """A port in use may clear when an old process ends (1); a wrong address or port will not (2)."""
    where = f"SMSBOT_HOST={settings.host} SMSBOT_PORT={settings.port}"
    sentence, code = _LISTEN_PROBLEMS.get(error.errno or 0, (f"{error.strerror or error}.", EXIT_FAILED))
    print(f"smsbot cannot listen on {where}: {sentence}", file=sys.stderr)
    return code


# errno → (what is wrong with the file, what to do, exit code): 2 when restarting cannot help
_FILE_PROBLEMS = {
    errno.EACCES: ("smsbot, running as {user}, may not read or write it", "give {user} read and write access to it", 2),
    errno.EPERM: ("smsbot, running as {user}, may not read or write it", "give {user} read and write access to it", 2),
    errno.EISDIR: ("it is a folder where smsbot keeps a file", "move that folder out of the way", 2),
    errno.ENOTDIR: ("a part of its path is a file, not a folder", "fix SMSBOT_DB or move that file away", 2),
    errno.ENOENT: ("its folder does not exist", "create the folder or fix SMSBOT_DB", 2),
    errno.EROFS: ("its file system is read-only", "mount it read-write or point SMSBOT_DB elsewhere", 2),
    errno.ENOSPC: ("the disk is full", "free some space; smsbot may then be started again", 1),
    errno.EDQUOT: ("the disk quota is used up", "free some space or raise the quota", 1),
}


def cannot_use_file(error: OSError) -> int:
    """Any OSError at start but the listener's: the file it is about, what is wrong, what to do, and exit 2
    when only a person can fix it (systemd then does not restart it in a loop), else 1."""
    user = _user()
    problem, fix, status = _FILE_PROBLEMS.get(
        error.errno or 0, (error.strerror or str(error), "fix that and start smsbot again", 1)
    )
    named = isinstance(error.filename, (str, bytes, os.PathLike))
    what = os.path.abspath(os.fsdecode(error.filename)) if named else "a file it needs"
    fix = fix.format(user=user)
    print(f"smsbot cannot start: {what}: {problem.format(user=user)}. {fix[0].upper()}{fix[1:]}.", file=sys.stderr)
    return status


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def print_callback(public_url: str | None, secret: str) -> None:
    from bot.web.routes import callback_path

    path = callback_path(secret)
    if public_url:
        print(
            "Delivery-report callback URL (paste it into your SMS Office account's API settings):\n  "
            f"{public_url + path}",
            flush=True,
        )
    else:
        print(
            "Delivery-report callback path (prefix it with this bot's public https address, or set "
            f"SMSBOT_PUBLIC_URL to print the whole URL):\n  {path}",
            flush=True,
        )
