"""Whether this server's clock looks wrong, judged by the signed Slack requests that arrive.

Slack stamps each request with its own time; one outside the 5-minute window is refused (401).
A replayed or delayed request does that now and then; when most correctly signed requests do, it
is this server's clock that is off, and every user is being refused. That is logged once, with the
offset, so the operator looks at the clock instead of the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections import deque

log = logging.getLogger(__name__)

SAMPLE = 20  # the last this many correctly signed requests are judged
AT_LEAST = 5  # no verdict on fewer


class ClockSkew:
    def __init__(self, signing_secret: str, sample: int = SAMPLE, at_least: int = AT_LEAST) -> None:
        self._secret = signing_secret.encode()
        self._offsets: deque[float | None] = deque(maxlen=sample)  # None: within the window
        self._at_least = at_least
        self._lock = threading.Lock()
        self.told = False

    def observe(self, environ, body: bytes, now: float, problem: str | None) -> None:
        """One request and what the signature check said of it (``signature_problem``)."""
        if problem is None:
            self.signed(None)
        elif problem == "stale_timestamp":  # outside the window: was it signed by Slack all the same?
            timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
            mac = hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
            if hmac.compare_digest("v0=" + mac, environ.get("HTTP_X_SLACK_SIGNATURE", "")):
                self.signed(int(timestamp) - now)

    def signed(self, offset: float | None) -> None:
        """A request with a correct signature arrived; ``offset`` (Slack's time minus ours, in
        seconds) when it was outside the window, else None."""
        with self._lock:
            self._offsets.append(offset)
            off = sorted(o for o in self._offsets if o is not None)
            if self.told or len(self._offsets) < self._at_least or 2 * len(off) <= len(self._offsets):
                return
            self.told = True
        median = off[len(off) // 2]
        log.error(
            "event=server_clock_suspect skewed=%d of=%d offset_s=%.0f note=%s",
            len(off),
            len(self._offsets),
            median,
            '"most correctly signed Slack requests are stamped more than 5 minutes away from this '
            "server's clock, so they are refused (401): this server's clock looks wrong by about the "
            'offset: set it right (e.g. timedatectl set-ntp true); no restart is needed"',
        )
