"""The accepted-SMS journal: gateway answers the database could not take yet, fsynced beside it.

When the gateway has accepted an SMS but the database refuses the write (locked, full,
read-only), the sender keeps the answer and retries; it also appends the answer here at
once (one JSON line: message id, tracking number, recipient, time), flushed and fsynced,
so neither a shutdown nor a crash can lose the tracking number. The next start applies
the journal before recovery marks anything unconfirmed, then removes it. Applying is
idempotent: an answer the database already holds is skipped.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

SUFFIX = ".accepted.jsonl"


@dataclass(frozen=True)
class Accepted:
    message_id: int
    tracking_id: str
    recipient: str
    sent_at: float


class Journal:
    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def beside(cls, db_path: str) -> Journal:
        """The journal of the database at ``db_path``: the same name plus ``.accepted.jsonl``."""
        return cls(db_path + SUFFIX)

    def append(self, entry: Accepted) -> None:
        """Add one answer and make it durable (file and, when new, its directory entry).
        Raises OSError if that cannot be done."""
        created = not os.path.exists(self.path)
        line = json.dumps(asdict(entry), sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
        if created:
            directory = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def entries(self) -> list[Accepted]:
        """Every answer in the journal, oldest first. A line that cannot be read (a torn last
        write) is logged at ERROR with its text, so its tracking number is not lost, and skipped."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as file:
                lines = file.read().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                found.append(
                    Accepted(
                        int(data["message_id"]),
                        str(data["tracking_id"]),
                        str(data.get("recipient", "")),
                        float(data["sent_at"]),
                    )
                )
            except (ValueError, KeyError, TypeError):
                log.error(
                    "event=journal_line_unreadable path=%s line=%d text=%s", self.path, number, json.dumps(line[:200])
                )
        return found

    def clear(self) -> None:
        """Forget every answer (all are in the database now). If the file cannot be removed it is
        applied again at the next start, which skips what the database already holds."""
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("event=journal_not_removed path=%s error=%s", self.path, error)
