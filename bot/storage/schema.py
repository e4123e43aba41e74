"""The PostgreSQL baseline: the schema as SQLite's steps 1-13 leave it, defined once with SQLAlchemy.

A new PostgreSQL database starts here (``PostgresDatabase.migrate``) and then runs the steps after
``BASELINE`` in ``bot/storage/migrations.py``, which are written once for both backends.
``tests/storage/test_schema.py`` compares these tables, columns and indexes with a migrated SQLite
file, so the two cannot drift apart.

Types: ids are BIGINT identity columns (SQLite's INTEGER PRIMARY KEY), references to them BIGINT;
other whole numbers INTEGER (so ``sum()`` of them is a BIGINT, read as a Python int); times are
DOUBLE PRECISION epoch seconds (SQLite's REAL); texts TEXT; a stored HTTP body BYTEA.

``group_members`` has one column SQLite gives every table implicitly: ``rowid``, the order in which
members were added (SQLite orders a group by it); here it is an identity column of that name, so
the same ``ORDER BY added_at, rowid`` reads both.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)

VERSION_TABLE = "smsbot_schema"  # one row: the schema version of a PostgreSQL database

metadata = MetaData()


def _id() -> Column:
    return Column("id", BigInteger, Identity(), primary_key=True)


def _time(name: str, **kwargs) -> Column:
    return Column(name, Double, **kwargs)


def _text(name: str, **kwargs) -> Column:
    return Column(name, Text, **kwargs)


def _int(name: str, **kwargs) -> Column:
    return Column(name, Integer, **kwargs)


kv = Table("kv", metadata, _text("key", primary_key=True), _text("value"))

batches = Table(
    "batches",
    metadata,
    _id(),
    _time("created_at"),
    _text("user_id"),
    _text("user_name"),
    _text("text"),
    _text("encoding"),
    _int("parts"),
    _int("recipients"),
    _text("origin"),
    _text("notes"),
    _time("scheduled_for"),
    _text("template"),
    _int("credits"),
    _time("erased_at"),
    Index("batches_created", "created_at"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    Column("batch_id", BigInteger, ForeignKey("batches.id"), nullable=False),
    _text("recipient", nullable=False),
    _text("status", nullable=False),
    _text("tracking_id"),
    _int("attempts", server_default=text("0")),
    _time("next_attempt_at"),
    _text("last_error"),
    _time("queued_at"),
    _time("sending_at"),
    _time("sent_at"),
    _time("failed_at"),
    _time("unconfirmed_at"),
    _time("updated_at"),
    _int("dlr_status_id"),
    _text("dlr_status"),
    _time("dlr_at"),
    _text("failure"),
    _text("text"),
    _int("parts"),
    _text("country"),
    _int("held", nullable=False, server_default=text("0")),
    Index("messages_due", "status", "next_attempt_at", "id"),
    Index("messages_batch", "batch_id"),
    Index("messages_tracking", "tracking_id"),
    Index("messages_recipient", "recipient", "status"),
    Index("messages_ready", "id", postgresql_where=text("status = 'queued' AND held = 0")),
    Index("messages_held", "next_attempt_at", postgresql_where=text("status = 'queued' AND held = 1")),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    _text("kind", nullable=False),
    _text("key"),
    Column("batch_id", BigInteger),
    _text("channel"),
    _text("payload"),
    _text("state", nullable=False, server_default=text("'pending'")),
    _time("created_at"),
    _time("next_attempt_at"),
    _int("attempts", server_default=text("0")),
    _text("last_error"),
    _time("done_at"),
    Index("outbox_due", "state", "next_attempt_at", "id"),
    Index(
        "outbox_coalesce", "kind", "key", unique=True, postgresql_where=text("state = 'pending' AND key IS NOT NULL")
    ),
    Index("outbox_state_id", "state", "id"),
    Index("outbox_batch", "batch_id"),
    Index("outbox_done", "state", "done_at"),
)

reports = Table(
    "reports",
    metadata,
    _id(),
    _time("received_at"),
    Column("message_id", BigInteger),
    _text("tracking_id"),
    _text("recipient"),
    _text("sender"),
    _int("status_id"),
    _text("status_message"),
    _text("raw"),
    _text("outcome"),
    Index("reports_message", "message_id", "id"),
    Index("reports_tracking", "tracking_id"),
)

balance_history = Table(
    "balance_history",
    metadata,
    _id(),
    _time("checked_at"),
    Column("balance", Double),
    _text("outcome"),
    _text("error"),
    Index("balance_history_time", "checked_at"),
)

groups = Table("groups", metadata, _text("name", primary_key=True), _time("created_at"), _text("created_by"))

group_members = Table(
    "group_members",
    metadata,
    Column("group_name", Text, ForeignKey("groups.name"), primary_key=True),
    _text("number", primary_key=True),
    _time("added_at"),
    _text("added_by"),
    Column("rowid", BigInteger, Identity(), nullable=False),  # SQLite's implicit rowid: the order of adding
)

pending_sends = Table(
    "pending_sends",
    metadata,
    _text("id", primary_key=True),
    _time("created_at"),
    _time("expires_at"),
    _text("user_id"),
    _text("channel_id"),
    _text("plan"),
    _text("origin"),
    _text("state", nullable=False),
    _time("decided_at"),
    Column("batch_id", BigInteger),
)

slack_posts = Table(
    "slack_posts",
    metadata,
    Column("batch_id", BigInteger, ForeignKey("batches.id"), primary_key=True, autoincrement=False),
    _text("team_id"),
    _text("channel_id"),
    _text("channel_name"),
    _text("response_url"),
    _text("status_channel"),
    _text("status_ts"),
    _text("posted_where"),
)

slack_digested = Table(
    "slack_digested",
    metadata,
    Column("batch_id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", BigInteger, primary_key=True, autoincrement=False),
)

attempts = Table(
    "attempts",
    metadata,
    _id(),
    Column("message_id", BigInteger, ForeignKey("messages.id"), nullable=False),
    _text("tracking_id"),
    _time("attempted_at"),
    _text("outcome", nullable=False),
    _time("recorded_at"),
    _int("dlr_status_id"),
    _time("dlr_at"),
    Index("attempts_tracking", "tracking_id"),
    Index("attempts_message", "message_id", "id"),
)

slack_requests = Table(
    "slack_requests",
    metadata,
    _text("key", primary_key=True),
    _time("received_at"),
    _time("expires_at"),
    _int("status"),
    _text("content_type"),
    Column("body", LargeBinary),
    Index("slack_requests_expiry", "expires_at"),
)

templates = Table(
    "templates", metadata, _text("name", primary_key=True), _text("text"), _time("created_at"), _text("created_by")
)

opt_outs = Table(
    "opt_outs", metadata, _text("number", primary_key=True), _text("reason"), _text("added_by"), _time("added_at")
)

access_entries = Table(
    "access_entries",
    metadata,
    _text("kind", primary_key=True),
    _text("id", primary_key=True),
    _text("added_by"),
    _time("added_at"),
)

audit_log = Table("audit_log", metadata, _id(), _time("at"), _text("user_id"), _text("action"), _text("args"))

charges = Table(
    "charges",
    metadata,
    _id(),
    Column("message_id", BigInteger, ForeignKey("messages.id"), nullable=False),
    Column("batch_id", BigInteger),
    _text("user_id"),
    _time("counted_at", nullable=False),
    _int("credits", nullable=False),
    Column("attempt_id", BigInteger),
    _time("released_at"),
    Index("charges_user_day", "user_id", "counted_at", "credits", postgresql_where=text("released_at IS NULL")),
    Index("charges_day", "counted_at", "credits", postgresql_where=text("released_at IS NULL")),
    Index("charges_message", "message_id", "id"),
)

access_modes = Table("access_modes", metadata, _text("kind", primary_key=True), _text("closed_by"), _time("closed_at"))


def baseline_ddl() -> list[str]:
    """The statements that create the baseline on PostgreSQL, tables in dependency order, then indexes."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = postgresql.dialect()
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        statements.extend(str(CreateIndex(index).compile(dialect=dialect)).strip() for index in table.indexes)
    return statements
