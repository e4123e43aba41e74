"""Signals to a thread's stop event, for ``smsbot run`` and ``smsbot simulator``."""

from __future__ import annotations

import threading


def set_from_signal(event: threading.Event):
    """A signal handler that sets ``event`` from a thread of its own. Setting it in the handler itself
    can deadlock: the handler runs on the main thread, which may at that moment hold the event's lock
    inside ``event.wait()`` (a SIGTERM right after start-up hung ``smsbot run`` that way)."""

    def handler(signum, frame) -> None:
        threading.Thread(target=event.set, name="signal", daemon=True).start()

    return handler
