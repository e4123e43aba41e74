"""``smsbot backup PATH``: a consistent copy of the database, even while smsbot runs: SQLite's online
backup of the file at SMSBOT_DB, or, with SMSBOT_DATABASE_URL, ``pg_dump -Fc`` when it is on PATH."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.cli.database import target_for
from bot.cli.environment import EXIT_FAILED, EXIT_OK
from bot.config.settings import load_dotenv_file

PROG = "smsbot backup"


def backup_command(args) -> int:
    from bot.storage.backup import BackupError, backup, pg_dump

    load_dotenv_file(Path.cwd() / ".env")
    target = target_for(args.db, PROG)
    try:
        written = pg_dump(target.url, args.path) if target.url is not None else backup(target.path, args.path)
    except BackupError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_FAILED
    if target.postgres:
        print(
            f"Backed up {target.shown} to {written.resolve()} (pg_dump custom format; restore it into an empty "
            "database with pg_restore --no-owner -d URL FILE)"
        )
    else:
        print(f"Backed up {target.shown} to {written.resolve()}")
    return EXIT_OK
