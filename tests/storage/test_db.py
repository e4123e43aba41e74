"""The database layer: group commit keeps each write's own outcome."""
import os
import sqlite3
import threading

import pytest

from bot.storage.db import MIGRATIONS, Database, DatabaseClosed, DatabaseGone


def insert(value):
    def fn(conn):
        conn.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (value, value))
        return value
    return fn


def test_writes_from_many_threads_are_all_committed(db):
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(db.write(insert(f"k{i}")))) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(f"k{i}" for i in range(40))
    assert db.conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 40


def test_a_failing_write_is_undone_alone_and_its_error_raised(db):
    def half_then_fail(conn):
        conn.execute("INSERT INTO kv (key, value) VALUES ('half', 'x')")
        raise ValueError("bad report")

    with pytest.raises(ValueError, match="bad report"):
        db.write(half_then_fail)
    assert db.write(insert("after")) == "after"
    assert [r[0] for r in db.conn.execute("SELECT key FROM kv")] == ["after"]


def test_a_storage_error_fails_the_write(db):
    db.conn.execute("CREATE TRIGGER full BEFORE INSERT ON kv BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(Exception, match="disk full"):
        db.write(insert("lost"))


def test_after_close_late_work_gets_a_clear_error_and_no_connection_is_opened(db):
    db.write(insert("one"))
    db.close()
    late = []

    def background_work():  # a thread that was still running when the bot closed the database
        for attempt in (lambda: db.conn, lambda: db.write(insert("two")), lambda: db.transaction().__enter__()):
            try:
                attempt()
            except DatabaseClosed as error:
                late.append(str(error))

    worker = threading.Thread(target=background_work)
    worker.start()
    worker.join()
    assert len(late) == 3 and all("is closed (smsbot is stopping)" in text for text in late)
    assert db._all == []  # nothing was opened, so nothing leaks
    check = sqlite3.connect(db.path)
    assert [r[0] for r in check.execute("SELECT key FROM kv")] == ["one"]
    check.close()


def test_a_deleted_file_is_never_written_nor_created_again_and_a_copy_is_saved(db, tmp_path, caplog):
    db.write(insert("before"))
    db.conn.execute("SELECT 1")  # this thread's connection is open, as every worker's is
    for name in ("smsbot.db", "smsbot.db-wal", "smsbot.db-shm"):
        os.remove(tmp_path / name)
    with pytest.raises(DatabaseGone, match="was deleted while smsbot was running"):
        with db.transaction() as conn:
            conn.execute("INSERT INTO kv (key, value) VALUES ('after', 'x')")
    with pytest.raises(DatabaseGone):
        db.write(insert("report"))
    other = []

    def new_thread():  # a thread without a connection yet must not open (and so create) the file
        try:
            db.conn
        except DatabaseGone as error:
            other.append(error)

    thread = threading.Thread(target=new_thread)
    thread.start()
    thread.join()
    assert len(other) == 1
    assert not (tmp_path / "smsbot.db").exists()  # never created anew, empty
    assert [r for r in caplog.records if r.levelname == "ERROR" and "event=database_gone" in r.getMessage()]
    copies = list(tmp_path.glob("smsbot.db.rescued-*"))
    assert len(copies) == 1
    rescued = sqlite3.connect(copies[0])
    assert [r[0] for r in rescued.execute("SELECT key FROM kv")] == ["before"]
    rescued.close()


def test_a_replaced_file_is_left_as_it_is(db, tmp_path):
    db.write(insert("ours"))
    stranger = tmp_path / "other.db"
    conn = sqlite3.connect(stranger)
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    conn.commit()
    conn.close()
    os.replace(stranger, tmp_path / "smsbot.db")
    before = (tmp_path / "smsbot.db").read_bytes()
    with pytest.raises(DatabaseGone, match="was replaced while smsbot was running"):
        db.write(insert("into the stranger"))
    assert (tmp_path / "smsbot.db").read_bytes() == before
    wal = tmp_path / "smsbot.db-wal"
    assert b"into the stranger" not in (wal.read_bytes() if wal.exists() else b"")


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
    return {name: {"columns": utils[name].columns_dict, "pks": utils[name].pks,
                   "fks": sorted((fk.column, fk.other_table, fk.other_column) for fk in utils[name].foreign_keys),
                   "indexes": sorted((i.name, i.unique, i.partial, tuple(i.columns)) for i in utils[name].indexes)}
            for name in utils.table_names()}


def test_migrate_builds_every_store_the_bot_keeps(db):
    tables = set(db.utils.table_names())
    assert {"kv", "batches", "messages", "outbox", "reports", "balance_history", "groups", "group_members",
            "pending_sends"} <= tables
    messages = db.utils["messages"]
    assert {"batch_id", "recipient", "status", "tracking_id", "attempts", "next_attempt_at"} <= set(
        messages.columns_dict)
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
            conn.execute("INSERT INTO batches (id, created_at, team_id, user_id, user_name, channel_id, channel_name, "
                         "text, encoding, parts, recipients, response_url, status_channel, status_ts, posted_where) "
                         "VALUES (3, 1.0, 'T0', 'U0ANN', 'ann', 'C0OPS', 'ops', 'Drill', 'GSM-7', 1, 1, "
                         "'https://hooks/r', 'D0ANN', '1700000000.000100', 'dm')")
        old.migrate()
        row = SlackPosts(old).batch(3)
        assert (row["text"], row["user_id"], row["origin"]) == ("Drill", "U0ANN", "slack")
        assert (row["channel_id"], row["channel_name"], row["response_url"]) == ("C0OPS", "ops", "https://hooks/r")
        assert (row["status_channel"], row["status_ts"], row["posted_where"]) == ("D0ANN", "1700000000.000100", "dm")
        assert "status_ts" not in old.utils["batches"].columns_dict  # the queue's table knows nothing of Slack
        assert "batches_created" in {index.name for index in old.utils["batches"].indexes}
    finally:
        old.close()


def test_wake_ups_run_after_the_commit_once_and_never_after_a_rollback(db):
    woken = []

    def wake():  # what the sender's wake() does: it must see the committed row
        woken.append(db.conn.execute("SELECT count(*) FROM kv").fetchone()[0])

    with db.transaction() as conn:
        conn.execute("INSERT INTO kv (key, value) VALUES ('a', '1')")
        db.on_commit(wake)
        db.on_commit(wake)   # ten changes in one transaction wake a worker once
        assert woken == []   # not inside the transaction
    assert woken == [1]
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction() as conn:
            db.on_commit(wake)
            conn.execute("INSERT INTO kv (key, value) VALUES ('a', 'again')")  # a duplicate key: rolled back
    assert woken == [1]


def test_in_a_group_commit_a_failed_write_takes_its_wake_ups_with_it(db):
    woken = []

    def failing(conn):
        db.on_commit(lambda: woken.append("failed one"))
        raise ValueError("refused")

    def fine(conn):
        db.on_commit(lambda: woken.append("fine one"))
        conn.execute("INSERT INTO kv (key, value) VALUES ('b', '1')")

    with pytest.raises(ValueError):
        db.write(failing)
    db.write(fine)
    assert woken == ["fine one"]
