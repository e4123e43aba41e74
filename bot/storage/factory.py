"""Which database the settings name: the SQLite file at SMSBOT_DB, or PostgreSQL at SMSBOT_DATABASE_URL."""

from __future__ import annotations

from bot.config.settings import Settings
from bot.storage.db import Database


def open_database(settings: Settings) -> Database:
    """A ``Database`` (SQLite) or a ``PostgresDatabase`` when SMSBOT_DATABASE_URL is set (it wins over
    SMSBOT_DB, whose folder then only keeps this host's own files, such as the sender's journal)."""
    if settings.database_url:
        from bot.storage.postgres import PostgresDatabase  # its engine and pool only when used

        return PostgresDatabase(settings.database_url, settings.db_path)
    return Database(settings.db_path)
