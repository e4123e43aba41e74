"""SMSBOT_DATABASE_URL: unset is the SQLite file at SMSBOT_DB; a PostgreSQL URL opens PostgreSQL; anything
else is refused with a sentence; its password never reaches a repr, a message or a log line."""

import pytest

from bot.config.settings import ConfigError, load_settings
from bot.redact import redact
from bot.storage.db import Database
from bot.storage.factory import open_database
from bot.storage.postgres import PostgresDatabase
from tests.conftest import base_env


def test_unset_means_the_sqlite_file_as_before(tmp_path):
    settings = load_settings(base_env(tmp_path))
    assert settings.database_url is None
    database = open_database(settings)
    try:
        assert type(database) is Database and database.path == str(tmp_path / "smsbot.db")
    finally:
        database.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_a_postgresql_url_opens_postgresql_and_keeps_its_password_out_of_every_text(tmp_path, scheme):
    url = f"{scheme}://smsbot:Zq9%40secret@db.example:5432/smsbot"
    settings = load_settings(base_env(tmp_path, SMSBOT_DATABASE_URL=url))
    database = open_database(settings)  # nothing is connected until first use
    try:
        assert isinstance(database, PostgresDatabase) and database.path == str(tmp_path / "smsbot.db")
        assert "Zq9" not in repr(settings) + repr(database) + database.shown
        masked = f"failed: {scheme}://smsbot:***@db.example:5432/smsbot and ***"
        assert redact(f"failed: {url} and Zq9@secret") == masked
    finally:
        database.close()


def test_another_scheme_is_refused_with_a_sentence_that_shows_no_password(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_settings(base_env(tmp_path, SMSBOT_DATABASE_URL="mysql://smsbot:Hunter22x@db.example/smsbot"))
    [problem] = refused.value.problems
    assert "SMSBOT_DATABASE_URL must be a PostgreSQL URL" in problem and "mysql://" in problem
    assert "leave it unset to use the SQLite file at SMSBOT_DB" in problem and "Hunter22x" not in problem
