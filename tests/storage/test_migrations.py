"""Migrations (bot/storage/migrations.py): the schema after migrate(), read back with sqlite-utils;
old files are upgraded keeping their rows, with a copy of the old file kept beside it; a newer schema is
refused."""

import logging
import sqlite3

import pytest

from bot.storage.db import MIGRATIONS, Database

pytestmark = pytest.mark.sqlite_only(
    reason="SQLite's own steps, read back with sqlite-utils; test_schema.py holds PostgreSQL's baseline to them"
)


def test_migrations_are_idempotent_and_refuse_a_newer_schema(tmp_path):
    db = Database(str(tmp_path / "m.db"))
    try:
        assert db.migrate() == db.migrate()
        db.conn.execute("PRAGMA user_version = 999")
        with pytest.raises(RuntimeError, match="newer smsbot"):
            db.migrate()
    finally:
        db.close()


# -- the schema after migrate(), read back with sqlite-utils -----------------------------------------
def schema(db: Database) -> dict:
    """Every table's columns, primary key, foreign keys and indexes, as sqlite-utils sees them."""
    utils = db.utils
    return {
        name: {
            "columns": utils[name].columns_dict,
            "pks": utils[name].pks,
            "fks": sorted((fk.column, fk.other_table, fk.other_column) for fk in utils[name].foreign_keys),
            "indexes": sorted((i.name, i.unique, i.partial, tuple(i.columns)) for i in utils[name].indexes),
        }
        for name in utils.table_names()
    }


def test_migrate_builds_every_store_the_bot_keeps(db):
    tables = set(db.utils.table_names())
    assert {
        "kv",
        "batches",
        "messages",
        "outbox",
        "reports",
        "balance_history",
        "groups",
        "group_members",
        "pending_sends",
    } <= tables
    messages = db.utils["messages"]
    assert {"batch_id", "recipient", "status", "tracking_id", "attempts", "next_attempt_at"} <= set(
        messages.columns_dict
    )
    assert ("batch_id", "batches", "id") in schema(db)["messages"]["fks"]
    members = db.utils["group_members"]
    assert members.pks == ["group_name", "number"]  # a number is in a group at most once
    assert [(fk.column, fk.other_table) for fk in members.foreign_keys] == [("group_name", "groups")]


def test_lookups_the_bot_makes_often_have_an_index(db):
    def indexed(table):
        return [i.columns for i in db.utils[table].indexes]

    assert ["tracking_id"] in indexed("messages")  # delivery reports find their SMS by tracking number
    assert ["batch_id"] in indexed("messages")
    assert any(cols[0] == "status" for cols in indexed("messages"))  # the sender's claim
    assert any(cols[0] == "state" for cols in indexed("outbox"))  # the notifier's due jobs
    assert ["tracking_id"] in indexed("reports")


def test_only_one_pending_outbox_job_per_thing_is_enforced_by_the_schema(db):
    [coalesce] = [i for i in db.utils["outbox"].indexes if i.unique]
    assert coalesce.partial and coalesce.columns == ["kind", "key"]


def test_running_migrate_again_changes_nothing(db):
    before = schema(db)
    db.migrate()
    assert schema(db) == before


def test_an_old_database_is_upgraded_and_keeps_its_rows(tmp_path):
    old = Database(str(tmp_path / "old.db"))
    try:
        with old.transaction() as conn:  # a file written by the first release
            MIGRATIONS[0](old.utils)
            conn.execute("PRAGMA user_version = 1")
        old.utils["kv"].insert({"key": "callback_secret", "value": "kept"})
        old.utils["batches"].insert({"id": 7, "user_id": "U0ANN", "text": "Generator running", "parts": 1})
        assert old.migrate() == len(MIGRATIONS)
        assert old.get_kv("callback_secret") == "kept"
        assert old.utils["batches"].get(7)["text"] == "Generator running"
        assert "group_members" in old.utils.table_names()
    finally:
        old.close()


def test_a_batch_from_before_schema_5_keeps_where_its_status_message_is(tmp_path):
    """Slack's columns moved out of ``batches`` into ``slack_posts`` (sqlite-utils' transform), data kept."""
    from bot.slack.posts import SlackPosts

    old = Database(str(tmp_path / "old.db"))
    try:
        with old.transaction() as conn:  # a file written by the release before schema 5
            for step in MIGRATIONS[:4]:
                step(old.utils)
            conn.execute("PRAGMA user_version = 4")
            conn.execute(
                "INSERT INTO batches (id, created_at, team_id, user_id, user_name, channel_id, channel_name, "
                "text, encoding, parts, recipients, response_url, status_channel, status_ts, posted_where) "
                "VALUES (3, 1.0, 'T0', 'U0ANN', 'ann', 'C0OPS', 'ops', 'Drill', 'GSM-7', 1, 1, "
                "'https://hooks/r', 'D0ANN', '1700000000.000100', 'dm')"
            )
        old.migrate()
        row = SlackPosts(old).batch(3)
        assert (row["text"], row["user_id"], row["origin"]) == ("Drill", "U0ANN", "slack")
        assert (row["channel_id"], row["channel_name"], row["response_url"]) == ("C0OPS", "ops", "https://hooks/r")
        assert (row["status_channel"], row["status_ts"], row["posted_where"]) == ("D0ANN", "1700000000.000100", "dm")
        assert "status_ts" not in old.utils["batches"].columns_dict  # the queue's table knows nothing of Slack
        assert "batches_created" in {index.name for index in old.utils["batches"].indexes}
    finally:
        old.close()


def test_schema_12_counts_the_credits_of_an_older_file_as_the_limits_now_do(tmp_path):
    """The ledger of charges is back-filled from every SMS of a file written before schema 12: sent and
    unconfirmed SMS count on their send's day against its requester, failed, cancelled and missed ones
    do not, and a sent SMS keeps the attempt that went out (usage says it was sent)."""
    from bot.storage.usage import UsageReport
    from bot.usecases.spend import SpendLimits

    old = Database(str(tmp_path / "old.db"))
    try:
        with old.transaction() as conn:  # a file written by the release with schema 11
            for step in MIGRATIONS[:11]:
                step(old.utils)
            conn.execute("PRAGMA user_version = 11")
            conn.execute(
                "INSERT INTO batches (id, created_at, user_id, text, encoding, parts, recipients, origin) "
                "VALUES (1, 1000.0, 'U0ANN', 'Drill', 'GSM-7', 2, 5, 'slack')"
            )
            for number, (status, recipient) in enumerate(
                [
                    ("sent", "27831000001"),
                    ("unconfirmed", "27831000002"),
                    ("failed", "27831000003"),
                    ("cancelled", "27831000004"),
                    ("missed", "27831000005"),
                ],
                start=1,
            ):
                conn.execute(
                    "INSERT INTO messages (id, batch_id, recipient, status, attempts, queued_at, updated_at) "
                    "VALUES (?, 1, ?, ?, 1, 1000.0, 1001.0)",
                    (number, recipient, status),
                )
            conn.execute(
                "INSERT INTO attempts (message_id, tracking_id, attempted_at, outcome, recorded_at) "
                "VALUES (1, '555001', 1000.5, 'sent', 1001.0), (2, NULL, 1000.6, 'unconfirmed', 1001.0)"
            )
        assert old.migrate() == len(MIGRATIONS)
        limits = SpendLimits(old, user_limit=10, bot_limit=None, timezone="UTC")
        assert limits.today("U0ANN", 1000.0).user_used == 4  # 2 SMS of 2 parts: the sent and the unconfirmed
        (row,) = UsageReport(old).rows(0.0, 86400.0)
        assert (row.user_id, row.sms, row.credits, row.sent, row.unconfirmed) == ("U0ANN", 2, 4, 1, 1)
    finally:
        old.close()


# -- a copy kept before an upgrade (issue 20, item 3) ------------------------------------------------------
def old_file(path, version: int) -> None:
    """A file as smsbot at schema ``version`` left it, with one send in it."""
    old = Database(str(path))
    try:
        with old.transaction() as conn:
            for step in MIGRATIONS[:version]:
                step(old.utils)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("INSERT INTO batches (id, created_at, text, parts) VALUES (7, 1.0, 'Generator running', 1)")
    finally:
        old.close()


def version_and_text(path) -> tuple[int, str]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0], conn.execute("SELECT text FROM batches").fetchone()[0]
    finally:
        conn.close()


def test_an_upgrade_keeps_a_copy_of_the_old_file_and_the_next_upgrade_removes_it(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path, newest = tmp_path / "smsbot.db", len(MIGRATIONS)
    old_file(path, 10)
    (tmp_path / "smsbot.db.before-schema-9").write_bytes(b"an earlier upgrade's copy")
    db = Database(str(path))
    try:
        assert db.migrate() == newest
        copy = tmp_path / f"smsbot.db.before-schema-{newest}"
        assert version_and_text(copy) == (10, "Generator running")  # the old file, as it was
        assert not (tmp_path / "smsbot.db.before-schema-9").exists()  # that upgrade went well: not kept
        said = [r.getMessage() for r in caplog.records if "event=db_copied_before_upgrade" in r.getMessage()]
        assert len(said) == 1 and f"path={path}.before-schema-{newest} from=10 to={newest}" in said[0]
        assert "retention" in said[0]
        assert db.migrate() == newest and copy.exists()  # kept until the next upgrade
    finally:
        db.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "schema" in p.name) == [copy.name]


def test_a_new_database_gets_no_copy_and_a_copy_from_an_earlier_try_is_kept_as_it_is(tmp_path):
    fresh = Database(str(tmp_path / "new.db"))
    try:
        fresh.migrate()
    finally:
        fresh.close()
    assert not list(tmp_path.glob("new.db.before-schema-*"))
    old_file(tmp_path / "smsbot.db", 11)
    copy = tmp_path / f"smsbot.db.before-schema-{len(MIGRATIONS)}"
    old_file(copy, 10)  # made by a start that then failed midway (schema 10 → 11 → crash)
    db = Database(str(tmp_path / "smsbot.db"))
    try:
        db.migrate()
    finally:
        db.close()
    assert version_and_text(copy)[0] == 10  # not replaced by the half-upgraded file


def test_without_its_copy_an_old_file_is_not_upgraded(tmp_path):
    path = tmp_path / "smsbot.db"
    old_file(path, 10)
    (tmp_path / f"smsbot.db.before-schema-{len(MIGRATIONS)}.partial").mkdir()  # the copy cannot be written
    db = Database(str(path))
    try:
        with pytest.raises(RuntimeError, match="was not upgraded to schema .* Free some space"):
            db.migrate()
    finally:
        db.close()
    assert version_and_text(path)[0] == 10
