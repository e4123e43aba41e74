"""``smsbot migrate-to postgresql://…``: move a team's SQLite history into an empty PostgreSQL database.

Stop smsbot first: the command takes the SQLite file's run lock for the whole copy, so a bot cannot
start on it meanwhile (and it refuses while one runs). The SQLite file is brought to the newest schema
as `smsbot run` would (keeping ``<db>.before-schema-N`` as it does), the target gets the same schema,
then every row goes across in one transaction with counts checked (bot/storage/copy.py). The SQLite
file is left as it was: keep it until the team has checked the new database.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from bot.cli.environment import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from bot.config.settings import POSTGRES_SCHEMES, db_path_from, load_dotenv_file, url_password
from bot.redact import register_secret

EXAMPLE_URL = "postgresql://smsbot:PASSWORD@db.example:5432/smsbot"


def command(args) -> int:
    load_dotenv_file(Path.cwd() / ".env")
    register_secret(url_password(args.url))
    if urlsplit(args.url).scheme.lower() not in POSTGRES_SCHEMES or "://" not in args.url:
        return _fail(f"the target must be a PostgreSQL URL such as {EXAMPLE_URL}", EXIT_CONFIG)
    db_path = db_path_from(args.db)
    source_file = Path(db_path).expanduser().resolve()
    if not source_file.is_file():
        return _fail(
            f"there is no SQLite database at {source_file} (SMSBOT_DB, or --db): give the file smsbot has used",
            EXIT_CONFIG,
        )

    from bot.storage.copy import CopyRefused, copy_sqlite_to_postgres
    from bot.storage.db import Database
    from bot.storage.errors import DatabaseError
    from bot.storage.lock import SUFFIX, AlreadyRunning, hold_database, holder, lock_path
    from bot.storage.postgres import PostgresDatabase, shown_url

    shown = shown_url(args.url)
    try:
        lock = hold_database(str(source_file))
    except AlreadyRunning:
        return _fail(
            f"another smsbot ({holder(lock_path(str(source_file)))}) is running on {source_file}: stop it first, "
            "so that nothing is written to the file during the copy"
        )
    except OSError as error:
        return _fail(f"cannot take the lock file {source_file}{SUFFIX} beside the database: {error.strerror}")
    source = Database(str(source_file))
    target = PostgresDatabase(args.url, str(source_file))
    started = time.monotonic()
    try:
        try:
            version = source.migrate()
        except RuntimeError as error:  # a newer schema, or the copy before upgrading could not be made
            return _fail(f"the SQLite database {source_file} cannot be upgraded: {error}")
        except DatabaseError as error:
            return _fail(f"the SQLite database {source_file} cannot be read: {error}")
        try:
            target.migrate()
        except RuntimeError as error:  # written by a newer smsbot
            return _fail(str(error))
        except DatabaseError as error:
            return _fail(
                f"cannot prepare the PostgreSQL database {shown}: {_first_line(error)}. Check that it is reachable, "
                "that it exists (createdb) and that this user may create tables in it"
            )
        print(f"Copying {source_file} (schema {version}) into {shown} …", flush=True)
        try:
            copied = copy_sqlite_to_postgres(source, target)
        except CopyRefused as error:
            return _fail(str(error))
        except DatabaseError as error:
            return _fail(f"the copy stopped and nothing was kept in {shown}: {_first_line(error)}")
    finally:
        source.close()
        target.close()
        lock.release()
    width = max(len(c.table) for c in copied)
    for each in copied:
        print(f"  {each.table:<{width}}  {each.rows:>12,}")
    total = sum(c.rows for c in copied)
    print(
        f"Copied {total:,} rows in {len(copied)} tables in {time.monotonic() - started:.1f} s; "
        "each table's count checked on both sides."
    )
    print(
        f"Next: set SMSBOT_DATABASE_URL to that URL (in .env or the environment) and start smsbot. "
        f"{source_file} was left as it is: keep it until you have checked the new database, then remove it "
        "(it holds texts and numbers)."
    )
    return EXIT_OK


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _fail(sentence: str, code: int = EXIT_FAILED) -> int:
    print(f"smsbot migrate-to: {sentence}", file=sys.stderr)
    return code
