"""``smsbot send-list FILE --text TEMPLATE --channel C… --as U… [--yes]``: a personalised list from a
script, under the rules of the compose form. It writes the send in one transaction (SQLite's file
lock makes that safe beside the running bot, whose sender and notifier find it on their next poll)."""
from __future__ import annotations

import re
import sqlite3
import sys
import time
from pathlib import Path

from bot.access import Access
from bot.config import Settings
from bot.routine import log_audit
from bot.sms.errors import SmsRuleError
from bot.sms.lists import MAX_BYTES, ListError, read_list
from bot.slack.notices import SlackNotices
from bot.slack.posts import SlackPosts
from bot.slack.render import list_lines
from bot.storage.db import Database
from bot.storage.outbox import Outbox
from bot.storage.queue import SendQueue
from bot.usecases import store_send
from bot.wording import plural

SAMPLES = 3


def send_list(args, settings: Settings, *, ask=input, out=print, clock=time.time) -> int:
    """0 queued, 1 refused or not confirmed (a sentence on stderr says why)."""
    problem = _who_and_where(args.channel, args.user, settings)
    if problem is None:
        try:
            data = _read(Path(args.file))
            read = read_list(data, args.text, settings.sms_default_region, settings.allowed_countries,
                             settings.max_list_rows)
        except (OSError, ListError, SmsRuleError) as error:
            problem = str(error)
    if problem is not None:
        print(f"smsbot send-list: {problem}", file=sys.stderr)
        return 1
    for line in list_lines(read, markdown=False):
        out(line)
    for to, text in list(zip(read.plan.recipients, read.plan.texts))[:SAMPLES]:
        out(f"To {to}: {text}")
    if not args.yes and not _confirmed(ask):
        print("smsbot send-list: nothing was sent (answer yes to send, or pass --yes).", file=sys.stderr)
        return 1
    return _queue(read.plan, args, settings, out, clock)


def _who_and_where(channel: str, user: str, settings: Settings) -> str | None:
    if not re.fullmatch(r"[CGD][A-Z0-9]{2,}", channel):
        return f"--channel {channel!r} is not a channel ID: use the channel's ID (C…), shown in its details in Slack."
    if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
        return f"--as {user!r} is not a Slack user ID: use the member ID (U…) from the person's profile."
    return Access(settings).may_send(user, channel)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_BYTES + 1)  # one byte more tells a file over the limit
    except FileNotFoundError:
        raise OSError(f"there is no file {str(path)!r}: check the path.") from None
    except IsADirectoryError:
        raise OSError(f"{str(path)!r} is a folder: give the CSV file.") from None


def _confirmed(ask) -> bool:
    if not sys.stdin.isatty() and ask is input:
        print("smsbot send-list: not on a terminal, so I can't ask: pass --yes to send.", file=sys.stderr)
        return False
    try:
        return ask("Send? Type yes to send: ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _queue(plan, args, settings: Settings, out, clock) -> int:
    db = Database(settings.db_path)
    try:
        db.migrate()
        outbox = Outbox(db)
        notices = SlackNotices(outbox, SlackPosts(db))
        origin = {"user_id": args.user, "channel_id": args.channel}
        with db.transaction() as conn:
            batch_id = store_send(conn, SendQueue(db), notices, plan, origin, clock())
    except sqlite3.Error as error:
        print(f"smsbot send-list: nothing was sent: the database refused the write ({error}). Try again; "
              "if it keeps happening, check SMSBOT_DB and that this user may write it.", file=sys.stderr)
        return 1
    finally:
        db.close()
    log_audit(args.user, "send_list", {"batch": batch_id, "recipients": len(plan.recipients), "via": "cli"})
    out(f"Queued send #{batch_id}: {len(plan.recipients)} SMS, {plural(plan.credits, 'credit')}. The running smsbot "
        f"sends it and posts its status in {args.channel}.")
    return 0
