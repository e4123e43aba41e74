"""Wake-ups after commit: in this process on either backend, and across replicas on PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from bot.storage.db import Database
from bot.storage.wakeups import Wakeups
from tests.tcp_proxy import TcpProxy


def _kv_write(db, waker) -> None:
    with db.transaction() as conn:
        db.set_kv(conn, "k", "v")
        db.on_commit(waker)


def test_a_commit_wakes_this_processs_subscribers_once_and_a_rollback_none(tmp_path):
    db = Database(str(tmp_path / "smsbot.db"))
    db.migrate()
    wakeups = Wakeups(db)
    woken: list[str] = []
    wakeups.subscribe("sender", lambda: woken.append("sender"))
    try:
        with db.transaction() as conn:
            db.set_kv(conn, "k", "1")
            db.on_commit(wakeups.waker("sender"))
            db.on_commit(wakeups.waker("sender"))  # ten changes in one transaction wake once
            assert woken == []  # not before the commit
        assert woken == ["sender"]
        with pytest.raises(RuntimeError), db.transaction() as conn:
            db.set_kv(conn, "k", "2")
            db.on_commit(wakeups.waker("sender"))
            raise RuntimeError("rolled back")
        assert woken == ["sender"]
    finally:
        wakeups.stop()
        db.close()


@pytest.fixture
def replicas(pg_url):
    """Two replicas of one PostgreSQL database (two pools, two listeners)."""
    from bot.storage.postgres import PostgresDatabase

    made = []

    def make(url=pg_url, path="unused.db"):
        db = PostgresDatabase(url, path)
        db.migrate()
        wakeups = Wakeups(db)
        made.append((db, wakeups))
        return db, wakeups

    yield make
    for db, wakeups in made:
        assert wakeups.stop(5)
        db.close()


@pytest.mark.postgres
def test_a_send_committed_on_one_replica_wakes_the_sender_on_the_other(replicas):
    leader_db, leader = replicas()
    standby_db, standby = replicas()
    woken = threading.Event()
    leader.subscribe("sender", woken.set)
    leader.start()
    assert leader.listening.wait(5)
    woken.clear()  # the listener wakes every topic once when it starts
    _kv_write(standby_db, standby.waker("sender"))
    assert woken.wait(5)
    assert leader.heard == 1


@pytest.mark.postgres
def test_a_listener_cut_from_the_database_listens_again_and_misses_nothing(replicas, pg_url):
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        via_proxy = urlunsplit((parts.scheme, f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}", *parts[2:]))
        _, leader = replicas(via_proxy)
        standby_db, standby = replicas()
        woken = threading.Event()
        leader.subscribe("notifier", woken.set)
        leader.start()
        assert leader.listening.wait(5)
        proxy.refuse()  # the path to the database is down: the listener is cut and cannot come back yet
        assert wait_until(lambda: not leader.listening.is_set())
        woken.clear()
        _kv_write(standby_db, standby.waker("notifier"))  # sent while the leader cannot hear it
        assert not woken.wait(0.5)
        proxy.restore()
        assert woken.wait(10)  # heard again: every topic is woken once when it listens again
        assert leader.listening.is_set()
    finally:
        proxy.stop()


def wait_until(predicate, timeout=10.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        done.wait(0.05)
    return predicate()


@pytest.mark.postgres
def test_the_leader_wakes_its_own_workers_without_a_notify(replicas):
    """On the leader the workers to wake are its own: no NOTIFY round trip; a standby still sends one."""
    listening_db, listening = replicas()
    heard_by_the_other = threading.Event()
    listening.subscribe("sender", heard_by_the_other.set)
    listening.start()
    assert listening.listening.wait(5)
    heard_by_the_other.clear()  # the listener wakes every topic once when it starts
    leads = [True]
    db, _ = replicas()
    wakeups = Wakeups(db, here_only=lambda: leads[0])
    woken_here: list[str] = []
    wakeups.subscribe("sender", lambda: woken_here.append("sender"))
    _kv_write(db, wakeups.waker("sender"))  # as the leader
    leads[0] = False
    _kv_write(db, wakeups.waker("sender"))  # as a standby
    assert heard_by_the_other.wait(5)
    assert woken_here == ["sender", "sender"] and listening.heard == 1  # only the standby's commit notified
