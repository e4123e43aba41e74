"""``smsbot optout import|export``, ``smsbot export`` and ``smsbot vacuum``: the compliance commands
run against the database (SMSBOT_DATABASE_URL, else the file at SMSBOT_DB, or ``--db FILE``), without
Slack or the gateway (they work while smsbot runs)."""

from __future__ import annotations

import csv
import getpass
import io
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from bot.cli.database import Target, fail, open_migrated, target_for, unreachable
from bot.sms.errors import RecipientError
from bot.sms.numbers import read_number
from bot.storage.audit import Audit
from bot.storage.db import Database
from bot.storage.optouts import OptOuts
from bot.storage.usage import UsageReport, day_bounds, safe

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_HEADER_WORDS = ("number", "phone", "mobile", "msisdn", "cell", "recipient", "to")


def _db(args, prog: str) -> Database:
    return open_migrated(target_for(args.db, prog), prog)


def read_optout_csv(text: str, region: str | None) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(rows to import as (number, reason), problems as "row N: …"). One number per row, an optional
    reason in the second column, an optional header row (its first cell has no digit)."""
    rows, problems = [], []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        header = n == 1 and not any(ch.isdigit() for ch in cells[0])
        if header and (cells[0].lower().strip("# ") in _HEADER_WORDS or len(cells) > 1):
            continue  # a header row
        if len(cells) > 2 and any(cells[2:]):
            problems.append(
                f"row {n}: {len(cells)} columns; use the number and, optionally, a reason "
                "(quote a reason that holds commas)"
            )
            continue
        try:
            number = read_number(cells[0], region, sms_rules=False).number
        except RecipientError as error:
            problems.append(f"row {n}: {error}")
            continue
        rows.append((number, (cells[1] if len(cells) > 1 else "")[:200] or None))
    return rows, problems


def optout_import(args) -> int:
    path = Path(args.file)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"smsbot optout import: cannot read {path}: {error} (save it as UTF-8 CSV)", file=sys.stderr)
        return EXIT_FAILED
    rows, problems = read_optout_csv(text, os.environ.get("SMS_DEFAULT_REGION") or None)
    if problems:
        print(
            f"smsbot optout import: nothing was imported; fix these {len(problems)} row(s) and run it again:",
            file=sys.stderr,
        )
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILED
    if not rows:
        print(f"smsbot optout import: {path} has no numbers; nothing was imported.", file=sys.stderr)
        return EXIT_FAILED
    db = _db(args, "smsbot optout import")
    try:
        now, by = time.time(), f"cli:{getpass.getuser()}"
        with db.transaction() as conn:
            added = 0
            for number, reason in rows:
                added += len(OptOuts(db).add(conn, [number], reason, by, now)[0])
            Audit.record(
                conn, by, "optout import", f"{path.name}: {added} added, {len(rows) - added} already listed", now
            )
    finally:
        db.close()
    print(f"Imported {path}: {added} number(s) added to the do-not-contact list, {len(rows) - added} already on it.")
    return EXIT_OK


def optout_export(args) -> int:
    db = _db(args, "smsbot optout export")
    try:
        entries = OptOuts(db).entries()
    finally:
        db.close()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["number", "reason"])
    for entry in entries:
        writer.writerow([entry.number, safe(entry.reason)])
    _write(out.getvalue(), args.out)
    return EXIT_OK


def _write(text: str, out: str | None) -> None:
    data = "\ufeff" + text  # UTF-8 with BOM: spreadsheets then read it as UTF-8
    if out:
        Path(out).write_text(data, encoding="utf-8", newline="")
    else:
        sys.stdout.write(data)


def export(args) -> int:
    """The billing CSV of `/sms export`, for SMS queued from ``--from`` to ``--to`` (days included)."""
    timezone = os.environ.get("SMSBOT_TIMEZONE") or "Africa/Johannesburg"
    try:
        start, end = day_bounds(args.start, args.end, timezone)
    except (ValueError, KeyError) as error:
        print(
            f"smsbot export: {error}: give --from and --to as YYYY-MM-DD, the first day not after the last "
            f"(days in SMSBOT_TIMEZONE, {timezone}).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    db = _db(args, "smsbot export")
    try:
        text = UsageReport(db).billing_csv(start, end, timezone)
    finally:
        db.close()
    try:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
    except OSError as error:
        print(f"smsbot export: cannot write {args.out}: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Wrote {text.count(chr(10)) - 1} SMS counted from {args.start} to {args.end} to {args.out}")
    return EXIT_OK


def vacuum(args) -> int:
    """Turn on ``auto_vacuum=INCREMENTAL`` with the one full VACUUM an existing file needs (then the
    retention job gives freed pages back by itself), or, once on, give free pages back now. On PostgreSQL:
    VACUUM (ANALYZE) of smsbot's tables (:func:`vacuum_postgres`)."""
    target = target_for(args.db, "smsbot vacuum")
    if target.postgres:
        return vacuum_postgres(target)
    path = Path(target.path).expanduser()
    if not path.is_file():
        print(f"smsbot vacuum: there is no database at {path} (set SMSBOT_DB or --db).", file=sys.stderr)
        return EXIT_USAGE
    before = path.stat().st_size
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    try:
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            conn.execute("PRAGMA incremental_vacuum").fetchall()
            what = "auto_vacuum was already INCREMENTAL; free pages given back"
        else:
            free = shutil.disk_usage(path.parent).free
            if free < before * 2.2:  # the copy VACUUM writes, and the WAL it fills
                print(
                    f"smsbot vacuum: VACUUM needs free disk of about twice the file ({before:,} bytes); only "
                    f"{free:,} bytes are free next to {path}. Free some space and run it again.",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            print(f"Running a full VACUUM of {path} ({before:,} bytes); writes wait until it ends…", flush=True)
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            what = "auto_vacuum is now INCREMENTAL: the daily retention job gives freed space back from now on"
    except sqlite3.OperationalError as error:
        print(
            f"smsbot vacuum: {error}. The database was busy: run it again when smsbot is quiet, or stop smsbot first.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    finally:
        conn.close()
    print(f"{what}. {path}: {before:,} → {path.stat().st_size:,} bytes.")
    return EXIT_OK


def vacuum_postgres(target: Target) -> int:
    """VACUUM (ANALYZE) of every table in smsbot's schema: dead row versions (updated, erased or deleted
    rows) are cleared for reuse and the planner's statistics refreshed. Other sessions keep reading and
    writing meanwhile (no table is locked against them)."""
    from bot.storage.errors import DatabaseError

    prog = "smsbot vacuum"
    db = target.open()
    try:
        try:
            tables = [
                r[0]
                for r in db.conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
                )
            ]
            if "kv" not in tables:
                fail(prog, f"there are no smsbot tables at {target.shown} yet: nothing to vacuum.", EXIT_USAGE)
            before = _pg_size(db, tables)
            print(f"Running VACUUM (ANALYZE) on {len(tables)} tables of {target.shown}…", flush=True)
            db.vacuum(tables, analyze=True)  # type: ignore[attr-defined]
            after = _pg_size(db, tables)
        except DatabaseError as error:
            fail(prog, unreachable(target.url or "", error))
    finally:
        db.close()
    print(
        f"VACUUM (ANALYZE) done on {len(tables)} tables: the space of erased and updated "
        f"rows is free for new rows, and the planner's statistics are fresh. Size: {before:,} → {after:,} bytes "
        "(PostgreSQL keeps freed space for reuse; only VACUUM FULL gives it back to the disk, and it locks each "
        "table while it runs: do that with smsbot stopped, if ever). Autovacuum does this on its own too, and "
        "smsbot's retention vacuums the tables it erased from after each daily pass."
    )
    return EXIT_OK


def _pg_size(db: Database, tables: list[str]) -> int:
    marks = ", ".join("?" * len(tables))
    return int(
        db.conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname IN ({marks})",
            tables,
        ).fetchone()[0]
    )
