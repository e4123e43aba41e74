"""The accepted-SMS journal: gateway answers the database could not take yet, fsynced beside it.

When the gateway has accepted an SMS but the database refuses the write (locked, full,
read-only), the sender keeps the answer and retries; it also appends the answer here at
once (one JSON line: message id, tracking number, recipient, time), flushed and fsynced,
so neither a shutdown nor a crash can lose the tracking number. The next start applies
the journal before recovery marks anything unconfirmed, then removes it. Applying is
idempotent: an answer the database already holds is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

SUFFIX = ".accepted.jsonl"
SHOWN_LINES = 5  # unreadable lines logged with their text; the rest are counted (a garbage file has thousands)


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
            _sync_folder(self.path)

    def entries(self) -> list[Accepted]:
        """Every answer in the journal, oldest first. Lines that cannot be read (a torn last write,
        or a file that is not a journal at all) are skipped: the first few are logged at ERROR with
        their text, then one line with their count, and all of them are moved, byte for byte, to
        ``<journal>.unreadable-<UTC time>`` so that no tracking number is lost; the journal keeps
        the readable ones. Raises OSError when the journal exists but cannot be read."""
        try:
            with open(self.path, "rb") as file:
                lines = file.read().split(b"\n")
        except FileNotFoundError:
            return []
        found: list[Accepted] = []
        bad: list[tuple[int, bytes]] = []
        good: list[bytes] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line.decode("utf-8", errors="replace"))
                found.append(
                    Accepted(
                        int(data["message_id"]),
                        str(data["tracking_id"]),
                        str(data.get("recipient", "")),
                        float(data["sent_at"]),
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                bad.append((number, line))
            else:
                good.append(line)
        if bad:
            self._report(bad)
            self._set_aside(bad, good)
        return found

    def _report(self, bad: list[tuple[int, bytes]]) -> None:
        for number, line in bad[:SHOWN_LINES]:
            text = line[:200].decode("utf-8", errors="replace")
            log.error("event=journal_line_unreadable path=%s line=%d text=%s", self.path, number, json.dumps(text))
        if len(bad) > SHOWN_LINES:
            log.error(
                "event=journal_lines_unreadable path=%s count=%d shown=%d note=%s",
                self.path,
                len(bad),
                SHOWN_LINES,
                json.dumps("only the first few are logged; all are kept in the file named next"),
            )

    def _set_aside(self, bad: list[tuple[int, bytes]], good: list[bytes]) -> None:
        """The unreadable lines to a file of their own, then the journal rewritten with the others; each
        step durable before the next, so a crash leaves every line in at least one of the two files."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = f"{self.path}.unreadable-{stamp}"
        rest = f"{self.path}.rewrite"
        try:
            _write_durably(aside, b"".join(line + b"\n" for _, line in bad))
            if good:
                _write_durably(rest, b"".join(line + b"\n" for line in good))
                os.replace(rest, self.path)
            else:
                os.remove(self.path)
            _sync_folder(self.path)
        except OSError as error:
            log.warning("event=journal_unreadable_not_moved path=%s error=%s", self.path, error)
            return
        log.warning(
            "event=journal_unreadable_kept path=%s lines=%d note=%s",
            aside,
            len(bad),
            json.dumps("lines of the accepted-SMS journal that could not be read; delete the file once looked at"),
        )

    def clear(self) -> None:
        """Forget every answer (all are in the database now). If the file cannot be removed it is
        applied again at the next start, which skips what the database already holds."""
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("event=journal_not_removed path=%s error=%s", self.path, error)


def _write_durably(path: str, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_folder(path: str) -> None:
    """Make a new or renamed directory entry of ``path`` durable."""
    directory = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
