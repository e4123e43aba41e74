"""One choke point for keeping secrets out of text that people or logs see.

Every secret the process knows (gateway password, Slack tokens, signing secret,
callback secret) is registered here once, at start-up. ``redact()`` replaces each
of them, in raw and URL-encoded form, with ``***``. The log formatter, the gateway
client's error messages and anything rendered into Slack pass through it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_LEN = 3  # shorter "secrets" would mangle every line without protecting anything


class Redactor:
    """A set of secret strings and the text forms they may take in a URL."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < _MIN_LEN:
            return
        forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
        with self._lock:
            merged = set(self._forms) | forms
            # longest first, so a secret containing another is masked whole
            self._forms = tuple(sorted(merged, key=len, reverse=True))

    def __call__(self, text: object) -> str:
        out = str(text)
        for form in self._forms:
            if form in out:
                out = out.replace(form, MASK)
        return out


_GLOBAL = Redactor()


def register_secret(secret: str | None) -> None:
    """Remember a secret for the whole process; redact() masks it from now on."""
    _GLOBAL.add(secret)


def redact(text: object) -> str:
    """Text with every registered secret masked."""
    return _GLOBAL(text)
