"""``smsbot run``: the bot until SIGTERM or SIGINT, with its start-up summary; why it cannot listen,
said as a sentence with the right exit code."""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading

from bot.cli.environment import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, settings_or_exit
from bot.config.settings import Settings
from bot.workers.signals import set_from_signal


def run(args) -> int:
    settings = settings_or_exit(args.simulator)
    from bot.cli.summary import startup_lines
    from bot.logs import setup_logging
    from bot.runtime import Bot

    setup_logging(settings.log_level, settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, set_from_signal(stop))
    try:
        bot = Bot(settings)
        bot.start()
    except OSError as error:
        return cannot_listen(error, settings)
    except RuntimeError as error:
        print(f"smsbot cannot start: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not settings.simulated:  # the simulator reports to this bot by itself
        # The full URL carries the secret: print it at start-up only when it is new (it has to be pasted
        # into SMS Office); otherwise stdout ends up in journald or `docker logs` on every start.
        print_callback(settings.public_url, bot.callback_secret, full=bot.callback_secret_generated)
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


def cannot_listen(error: OSError, settings: Settings) -> int:
    """A port in use may clear when an old process ends (1); a wrong address or port will not (2)."""
    where = f"SMSBOT_HOST={settings.host} SMSBOT_PORT={settings.port}"
    if error.errno == errno.EADDRINUSE:
        print(
            f"smsbot cannot listen on {where}: the port is already in use (an old smsbot still stopping, or "
            "another program). Stop that program or choose another SMSBOT_PORT.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if error.errno == errno.EACCES:
        print(
            f"smsbot cannot listen on {where}: ports below 1024 need privileges. Use a port above 1024 "
            "(e.g. 3000) behind your reverse proxy.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if error.errno == errno.EADDRNOTAVAIL:
        print(
            f"smsbot cannot listen on {where}: that address is not one of this machine's. Use 0.0.0.0 (every "
            "interface) or 127.0.0.1.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    print(f"smsbot cannot listen on {where}: {error.strerror or error}.", file=sys.stderr)
    return EXIT_FAILED


def print_callback(public_url: str | None, secret: str, *, full: bool = True) -> None:
    from bot.web.routes import callback_path, masked_callback_url

    path = callback_path(secret)
    if not full:
        shown = masked_callback_url((public_url or "") + path)
        print(f"Delivery-report callback URL: {shown} (run `smsbot check` to see it whole)", flush=True)
    elif public_url:
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
