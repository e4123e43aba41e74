"""The SQLite file and the tables it holds; one module owns each table's state changes."""

from __future__ import annotations

import enum


class SqlEnum(str, enum.Enum):
    """A state stored as text. SQL names its members (``f"status = '{Status.QUEUED}'"``): the value
    is what str() and f-strings give on every Python version."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)
