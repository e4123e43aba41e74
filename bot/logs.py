"""Logging: one line per event, key=value (default) or JSON (each key=value a field), with every secret masked.

The formatter is the single choke point for redaction: whatever a log call,
a library or a traceback puts in a record, ``redact()`` runs on the finished
line before it is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys

from bot.redact import redact


def _timestamp(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if not message.startswith("event="):
            message = "msg=" + json.dumps(message, ensure_ascii=False)
        line = f"ts={_timestamp(record)} level={record.levelname} logger={record.name} {message}"
        if record.exc_info:
            line += " exc=" + json.dumps(self.formatException(record.exc_info), ensure_ascii=False)
        return redact(line)


_KEY = re.compile(r"([a-z_][a-z0-9_]*)=")
_SPACE = re.compile(r"\s+")
_DECODER = json.JSONDecoder()


def fields(message: str) -> dict[str, str]:
    """The ``key=value`` pairs of an ``event=…`` line, in order; a value written JSON-quoted (``note="a b"``)
    is decoded. A word that is not ``key=…`` belongs to the value before it (``error=locked: database is
    locked``), and a key seen twice is kept as ``key_2``. Values stay strings, as written."""
    found: dict[str, str] = {}
    last: str | None = None
    at = 0
    while at < len(message):
        if message[at].isspace():
            at = _SPACE.match(message, at).end()  # type: ignore[union-attr]  # a space matches \s+
            continue
        key = _KEY.match(message, at)
        if key is None:  # a loose word: part of the previous value
            end = _SPACE.search(message, at)
            word = message[at : end.start() if end else len(message)]
            if last is None:
                last = _unique(found, "text")
                found[last] = word
            else:
                found[last] += " " + word
            at += len(word)
            continue
        at = key.end()
        value, at = _value(message, at)
        last = _unique(found, key.group(1))
        found[last] = value
    return found


def _value(message: str, at: int) -> tuple[str, int]:
    if message.startswith('"', at):
        try:
            value, after = _DECODER.raw_decode(message, at)
        except ValueError:
            pass
        else:
            if isinstance(value, str) and (after == len(message) or message[after].isspace()):
                return value, after
    space = _SPACE.search(message, at)
    stop = space.start() if space else len(message)
    return message[at:stop], stop


def _unique(found: dict[str, str], key: str) -> str:
    n, name = 1, key
    while name in found:
        n += 1
        name = f"{key}_{n}"
    return name


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the same names as the key=value format: ``ts``, ``level``,
    ``logger``, then each ``key=value`` of an ``event=…`` line as a field of its own (``event``,
    ``version``, …; values are strings, as written), or ``msg`` for a line of free text; ``exc`` for a
    traceback. A key that would overwrite one of these gets ``_2``."""

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())  # before JSON escapes a secret's quote or backslash
        entry = {"ts": _timestamp(record), "level": record.levelname, "logger": record.name}
        if message.startswith("event="):
            for key, value in fields(message).items():
                entry[_unique(entry, key)] = value
        else:
            entry["msg"] = message
        if record.exc_info:
            entry[_unique(entry, "exc")] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(entry, ensure_ascii=False))


def setup_logging(level: str = "INFO", fmt: str = "kv", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays at WARNING unless we debug.
    quiet = logging.WARNING if level != "DEBUG" else logging.DEBUG
    for name in ("urllib3", "slack_bolt", "slack_sdk", "waitress", "apscheduler"):
        logging.getLogger(name).setLevel(quiet)
