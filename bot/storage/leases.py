"""Leases: which process leads, per SMS Office account; the only writer of the ``leases`` table.

One row per name (``sender:<SMSOFFICE_USERNAME>``): the ``holder`` (a process's id, ``host:pid:random``),
its term (``epoch``), and until when it holds the lease (``expires_at``), which the holder pushes forward
(``renew``) every third of its time-to-live. A term ends when the lease expires unrenewed, or when its
holder releases it (``holder`` empty: it stopped cleanly, nothing of it is on the wire).

Every change is one write transaction, and each ``UPDATE`` carries its own condition (compare and set),
so two processes racing for an expired lease cannot both win, on SQLite (one writer) or on PostgreSQL
under READ COMMITTED (the second update re-reads the row the first one changed, and matches nothing).
Times are the callers' clocks (seconds since the epoch): hosts sharing a lease keep their clocks in
sync (NTP), and the leader stops well before its lease ends (bot/workers/leadership.py).

Portable SQL only: this module runs unchanged on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.db import Database

RELEASED = ""  # the holder of a lease given up cleanly


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str  # RELEASED when given up cleanly
    epoch: int
    acquired_at: float
    renewed_at: float
    expires_at: float

    @property
    def released(self) -> bool:
        return self.holder == RELEASED

    def live(self, now: float) -> bool:
        """Someone holds it now."""
        return not self.released and self.expires_at > now


@dataclass(frozen=True)
class Term:
    """A lease just taken: its epoch, and the lease as it was before (None: there was none)."""

    epoch: int
    previous: Lease | None


@dataclass(frozen=True)
class Fence:
    """What a claim proves in the same statement (bot/storage/queue.py): the lease ``name`` is still held by
    ``holder`` in term ``epoch``, and, when ``live``, is unexpired at the claim's time. ``live`` is False only
    where nothing else can take the lease (SQLite: the file lock keeps every other smsbot out)."""

    name: str
    holder: str
    epoch: int
    live: bool = True


_COLUMNS = "name, holder, epoch, acquired_at, renewed_at, expires_at"


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def acquire(self, name: str, holder: str, now: float, ttl: float, *, force: bool = False) -> Term | None:
        """A new term for ``holder``: taken when there is no lease yet, when it was released or has expired,
        or when ``holder`` holds it already (each call is a new term: the epoch goes up by one every time).
        ``force`` takes it whoever holds it (only where nothing else can hold it: see Fence.live).
        None when another holder's lease is live, or another process took it first."""
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM leases WHERE name = ?", (name,)).fetchone()
            if row is None:
                taken = conn.execute(
                    f"INSERT INTO leases ({_COLUMNS}) VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (name) DO NOTHING "
                    "RETURNING epoch",
                    (name, holder, now, now, now + ttl),
                ).fetchone()
                return None if taken is None else Term(1, None)
            previous = _lease(row)
            if not force and previous.live(now) and previous.holder != holder:
                return None
            # The condition is checked again on the row as it is when written: a holder that renewed, or
            # another process that took it meanwhile, makes this match nothing.
            taken = conn.execute(
                "UPDATE leases SET holder = ?, epoch = epoch + 1, acquired_at = ?, renewed_at = ?, expires_at = ? "
                "WHERE name = ? AND epoch = ? AND (? OR holder = ? OR holder = ? OR expires_at <= ?) RETURNING epoch",
                (holder, now, now, now + ttl, name, previous.epoch, force, RELEASED, holder, now),
            ).fetchone()
            return None if taken is None else Term(int(taken[0]), previous)

    def renew(self, name: str, holder: str, epoch: int, now: float, ttl: float) -> bool:
        """Hold the lease ``ttl`` seconds from ``now``; False when ``holder`` no longer holds it in that term."""
        with self.db.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE leases SET renewed_at = ?, expires_at = ? WHERE name = ? AND holder = ? AND epoch = ? "
                    "RETURNING epoch",
                    (now, now + ttl, name, holder, epoch),
                ).fetchone()
                is not None
            )

    def release(self, name: str, holder: str, epoch: int, now: float) -> bool:
        """Give the lease up now (at SIGTERM, once nothing of ``holder`` is on the wire): the next process takes
        it at once, without waiting for this one's calls to end. False if it was no longer ``holder``'s."""
        with self.db.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE leases SET holder = ?, renewed_at = ?, expires_at = ? "
                    "WHERE name = ? AND holder = ? AND epoch = ? RETURNING epoch",
                    (RELEASED, now, now, name, holder, epoch),
                ).fetchone()
                is not None
            )

    def current(self, name: str) -> Lease | None:
        """The lease as it is (for /healthz and the metrics); None before anyone took it."""
        row = self.db.conn.execute(f"SELECT {_COLUMNS} FROM leases WHERE name = ?", (name,)).fetchone()
        return None if row is None else _lease(row)


def _lease(row) -> Lease:
    return Lease(
        name=row[0],
        holder=row[1],
        epoch=int(row[2]),
        acquired_at=float(row[3]),
        renewed_at=float(row[4]),
        expires_at=float(row[5]),
    )
