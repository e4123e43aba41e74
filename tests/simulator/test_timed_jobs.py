"""Timed jobs (bot/simulator/timed_jobs.py): each job runs once at its moment, in time order; close()
drops what is pending and ends the thread."""

import threading
import time

from bot.simulator.timed_jobs import TimedJobs
from tests.conftest import wait_for


def test_jobs_run_in_the_order_of_their_moments_not_the_order_added():
    jobs, ran = TimedJobs("test-jobs"), []
    try:
        start = time.monotonic()
        jobs.add(start + 0.2, lambda: ran.append(("late", time.monotonic() - start)))
        jobs.add(start + 0.05, lambda: ran.append(("early", time.monotonic() - start)))
        assert wait_for(lambda: len(ran) == 2)
        assert [name for name, _ in ran] == ["early", "late"]
        assert ran[0][1] >= 0.05 and ran[1][1] >= 0.2  # never before its moment
    finally:
        jobs.close()


def test_close_drops_pending_jobs_and_ends_the_thread():
    jobs, ran = TimedJobs("test-jobs"), []
    jobs.add(time.monotonic() + 60, lambda: ran.append("too late"))
    jobs.close(timeout=2)
    assert not [t for t in threading.enumerate() if t.name == "test-jobs"]
    jobs.add(time.monotonic(), lambda: ran.append("after close"))  # ignored once closed
    time.sleep(0.05)
    assert ran == []
