"""The few places where one SQL text cannot serve both backends: each spelled here, per backend.

``conn.dialect`` is ``"sqlite"`` (bot/storage/faults.py) or ``"postgresql"`` (bot/storage/postgres.py).
"""

from __future__ import annotations

from typing import Any


def is_postgres(conn: Any) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def indexed_by(conn: Any, index: str) -> str:
    """SQLite's ``INDEXED BY`` hint (its planner would otherwise pick an index that sorts the whole
    queue); PostgreSQL has no hints, and its planner uses the partial index for the same predicate."""
    return "" if is_postgres(conn) else f"INDEXED BY {index}"
