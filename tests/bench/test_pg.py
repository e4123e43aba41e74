"""The benchmark's PostgreSQL helpers: a database of its own on the named server, created and dropped."""

import pytest

from bench import pg
from tests.conftest import TEST_DATABASE_URL, needs_postgres


def test_a_url_names_another_database_on_the_same_server_and_shows_no_password():
    url = "postgresql://bench:s3cret@db.example:6543/test?sslmode=require"

    assert (
        pg.with_database(url, "smsbot_bench_1")
        == "postgresql://bench:s3cret@db.example:6543/smsbot_bench_1?sslmode=require"
    )
    assert pg.database_name(pg.with_database(url, "x")) == "x"
    assert "s3cret" not in pg.shown(url) and "bench:***@db.example:6543" in pg.shown(url)
    assert pg.libpq_url("postgresql+psycopg://u@h/d") == "postgresql://u@h/d"


def test_the_benchmarks_reads_take_sqlites_placeholders():
    assert pg.placeholders("SELECT count(*) FROM messages WHERE status IN (?,?)") == (
        "SELECT count(*) FROM messages WHERE status IN (%s,%s)"
    )


def test_an_unreachable_server_is_said_in_a_sentence():
    reason = pg.unreachable("postgresql://postgres@127.0.0.1:1/test", timeout=1)

    assert reason is not None and reason.startswith("no PostgreSQL at postgresql://postgres@127.0.0.1:1/test")


def test_a_fresh_database_is_there_during_the_run_and_dropped_after():
    needs_postgres()
    assert TEST_DATABASE_URL is not None
    with pg.fresh_database(TEST_DATABASE_URL, prefix="smsbot_test_bench") as url:
        reader = pg.Reader(url)
        try:
            assert reader.sql("SELECT current_database()") == [(pg.database_name(url),)]
        finally:
            reader.close()
    reader = pg.Reader(TEST_DATABASE_URL)
    try:
        assert reader.sql("SELECT count(*) FROM pg_database WHERE datname = ?", pg.database_name(url)) == [(0,)]
    finally:
        reader.close()


@pytest.mark.parametrize("backend", [None, "postgresql"])
def test_a_scratch_database_is_migrated_and_empty(backend):
    if backend:
        needs_postgres()
    with pg.scratch_database(TEST_DATABASE_URL if backend else None) as db:
        assert db.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
