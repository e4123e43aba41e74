"""``smsbot backup PATH``: a consistent copy of the database, even while smsbot runs."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.cli.environment import EXIT_FAILED, EXIT_OK
from bot.config.settings import db_path_from, load_dotenv_file


def backup_command(args) -> int:
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
