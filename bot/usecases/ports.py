"""What the use cases need of Slack, as small interfaces: bot/slack implements them (``SlackNotices``,
``SlackPosts``), the runtime hands those in, and nothing here imports Slack's side."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Protocol

from bot.usecases.access import Viewer


class Notices(Protocol):
    """What people are told of a send, written in the caller's transaction (delivered after commit)."""

    def batch_created(self, conn: sqlite3.Connection, batch_id: int, origin: Mapping, now: float) -> None: ...

    def changed(self, conn: sqlite3.Connection, batch_id: int, now: float) -> None: ...

    def send_event(self, conn: sqlite3.Connection, event: str, message: sqlite3.Row) -> None: ...

    def resent(self, conn: sqlite3.Connection, message: sqlite3.Row, user_id: str) -> None: ...


class Posts(Protocol):
    """Where each send was requested (its channel), and which sends a viewer may see."""

    def batch(self, batch_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None: ...

    def recent(self, viewer: Viewer, limit: int) -> list[sqlite3.Row]: ...

    def visible(self, viewer: Viewer, batch_ids: Iterable[int]) -> set[int]: ...
