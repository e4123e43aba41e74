"""Leases (bot/storage/leases.py): one holder at a time, a new epoch at every term, expiry and release.

Two Database objects on one file stand in for two processes (no OS file lock is taken here)."""

import threading

import pytest

from bot.storage.leases import Leases
from tests.conftest import same_database

NAME = "sender:acme"
TTL = 10.0


@pytest.fixture
def other(db):
    """A second process's view of the same file."""
    database = same_database(db)
    yield database
    database.close()


def test_the_first_acquire_takes_the_lease_in_epoch_1_and_a_live_lease_is_refused_to_others(db, other):
    a, b = Leases(db), Leases(other)
    term = a.acquire(NAME, "a", 1000.0, TTL)
    assert term is not None and (term.epoch, term.previous) == (1, None)
    assert b.acquire(NAME, "b", 1009.9, TTL) is None  # 0.1 s before it expires
    lease = b.current(NAME)
    assert lease is not None and (lease.holder, lease.epoch, lease.expires_at) == ("a", 1, 1010.0)
    assert lease.live(1009.9) and not lease.live(1010.0)


def test_renewal_keeps_it_and_expiry_lets_another_take_it_in_the_next_epoch(db, other):
    a, b = Leases(db), Leases(other)
    a.acquire(NAME, "a", 1000.0, TTL)
    assert a.renew(NAME, "a", 1, 1008.0, TTL)  # now held until 1018
    assert b.acquire(NAME, "b", 1015.0, TTL) is None
    term = b.acquire(NAME, "b", 1018.0, TTL)  # expired, unrenewed
    assert term is not None and term.epoch == 2
    assert term.previous is not None and (term.previous.holder, term.previous.expires_at) == ("a", 1018.0)
    assert not a.renew(NAME, "a", 1, 1019.0, TTL)  # deposed: its renewal changes nothing
    lease = a.current(NAME)
    assert lease is not None and (lease.holder, lease.epoch, lease.acquired_at) == ("b", 2, 1018.0)


def test_each_new_term_has_a_new_epoch_even_for_the_same_holder_and_an_old_epoch_cannot_renew(db):
    leases = Leases(db)
    epochs = [leases.acquire(NAME, "a", 1000.0 + i, TTL) for i in range(3)]
    assert [t.epoch for t in epochs if t is not None] == [1, 2, 3]
    assert not leases.renew(NAME, "a", 2, 1004.0, TTL)
    assert leases.renew(NAME, "a", 3, 1004.0, TTL)


def test_release_lets_the_next_process_take_it_at_once_and_says_it_was_released(db, other):
    a, b = Leases(db), Leases(other)
    a.acquire(NAME, "a", 1000.0, TTL)
    assert not a.release(NAME, "a", 7, 1001.0)  # not its term: nothing changes
    assert a.release(NAME, "a", 1, 1001.0)
    term = b.acquire(NAME, "b", 1001.5, TTL)
    assert term is not None and term.epoch == 2 and term.previous is not None and term.previous.released


def test_force_takes_a_live_lease_for_the_one_process_the_file_lock_lets_in(db, other):
    Leases(db).acquire(NAME, "killed", 1000.0, TTL)  # a predecessor killed with -9: its lease still looks live
    term = Leases(other).acquire(NAME, "b", 1001.0, TTL, force=True)
    assert term is not None and term.epoch == 2 and term.previous is not None and term.previous.holder == "killed"


def test_leases_are_per_name(db):
    leases = Leases(db)
    assert leases.acquire("sender:acme", "a", 1000.0, TTL) is not None
    assert leases.acquire("sender:other", "b", 1000.0, TTL) is not None
    assert leases.current("sender:nobody") is None


@pytest.mark.parametrize("expired", [False, True], ids=["no-lease-yet", "expired-lease"])
def test_only_one_of_20_processes_racing_for_the_lease_gets_it(db, expired):
    if expired:
        Leases(db).acquire(NAME, "gone", 900.0, TTL)
    databases = [same_database(db) for _ in range(20)]
    start = threading.Barrier(20)
    won: list[tuple[str, int]] = []

    def race(i: int) -> None:
        start.wait()
        term = Leases(databases[i]).acquire(NAME, f"p{i}", 1000.0, TTL)
        if term is not None:
            won.append((f"p{i}", term.epoch))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for database in databases:
            database.close()
    assert len(won) == 1
    lease = Leases(db).current(NAME)
    assert lease is not None and (lease.holder, lease.epoch) == won[0] == (won[0][0], 2 if expired else 1)
