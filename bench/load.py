"""The machine's load beside each figure: the benchmark shares its machine, so a time means little without it.

A thread samples the 1-minute load average every second; :meth:`LoadMeter.stamp` writes the range seen while
a group of figures was measured into their rows."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable

from bench.report import Row


def load_range(loads: list[float]) -> str:
    """``2.1-2.8``, or ``2.4`` when it did not move (one decimal)."""
    low, high = f"{min(loads):.1f}", f"{max(loads):.1f}"
    return low if low == high else f"{low}-{high}"


class LoadMeter:
    def __init__(self, every: float = 1.0, read: Callable[[], float] = lambda: os.getloadavg()[0]) -> None:
        self._read = read
        self._every = every
        self._samples: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def __enter__(self) -> LoadMeter:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def _sample(self) -> None:
        with self._lock:
            self._samples.append((time.monotonic(), self._read()))

    def since(self, started: float) -> str:
        """The load's range from ``started`` (time.monotonic()) until now."""
        self._sample()
        with self._lock:
            loads = [load for at, load in self._samples if at >= started]
        return load_range(loads)

    def stamp(self, rows: list[Row], started: float) -> list[Row]:
        """``rows`` with the load's range since ``started`` written into each."""
        span = self.since(started)
        return [dataclasses.replace(row, load=span) for row in rows]

    def overall(self) -> str:
        with self._lock:
            return load_range([load for _, load in self._samples])
