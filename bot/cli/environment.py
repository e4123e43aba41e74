"""What every subcommand starts from: the settings (the environment, then ``.env``), refused with a
sentence per problem, and the exit codes: 0 stopped cleanly (or every check passed), 2 a configuration
problem (restarting will not help: systemd's RestartPreventExitStatus=2), 1 anything else."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

from bot.config.settings import SIMULATOR, ConfigError, Settings, load_dotenv_file, load_settings, read_only
from bot.storage.migrations import MIGRATIONS

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def settings_or_exit(simulator: bool = False) -> Settings:
    load_dotenv_file(Path.cwd() / ".env")
    if simulator:
        os.environ["SMSOFFICE_API_URL"] = SIMULATOR
    try:
        settings = load_settings()
    except ConfigError as error:
        refuse(error.problems)
    from bot.cli.database import backup_dir_warning, postgres_newer

    for warning in [*settings.warnings, backup_dir_warning(settings)]:
        if warning:
            print(f"smsbot: warning: {warning}", file=sys.stderr)
    if (
        problem := postgres_newer(settings.database_url)
        if settings.database_url
        else database_problem(settings.db_path)
    ):
        refuse([problem])
    return settings


def refuse(problems: list[str]) -> NoReturn:
    print("smsbot cannot start; fix these settings (environment or .env):", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


def database_problem(db_path: str) -> str | None:
    """A sentence if SMSBOT_DB cannot be used by this smsbot (not SQLite, or from a newer smsbot)."""
    path = Path(db_path).expanduser()
    if not path.exists():
        return None  # created at the first start
    try:
        conn = read_only(str(path))
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as error:
        return (
            f"SMSBOT_DB={db_path!r} cannot be read as an SQLite database ({error}): point SMSBOT_DB at "
            "smsbot's database, or move that file away to start with a new one."
        )
    if version > len(MIGRATIONS):
        return (
            f"SMSBOT_DB={db_path!r} was written by a newer smsbot (schema {version}; this smsbot knows up to "
            f"{len(MIGRATIONS)}). Install that newer smsbot again, or restore the backup taken before the "
            "upgrade; this version will not touch the database."
        )
    return None
