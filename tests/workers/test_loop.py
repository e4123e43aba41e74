"""The worker loop: a named thread that repeats run_once, wakes early when told, and stops cleanly."""

import threading

from bot.workers.loop import Worker
from tests.conftest import wait_for


class Counter(Worker):
    """Does ``work`` units of work, then idles; records what the loop did."""

    name = "counter"
    idle_poll = 30.0  # long: only wake() or stop() can end an idle wait in these tests

    def __init__(self, work=0, fail_first=False):
        super().__init__()
        self.work, self.fail_first = work, fail_first
        self.runs, self.stopped_on = 0, None
        self.busy = threading.Event()

    def run_once(self, now=None):
        self.runs += 1
        if self.fail_first and self.runs == 1:
            raise RuntimeError("a bad row")
        if self.work:
            self.work -= 1
            return True
        self.busy.set()
        return False

    def on_stop(self):
        self.stopped_on = threading.current_thread().name


def test_work_is_done_back_to_back_then_the_loop_idles():
    worker = Counter(work=5)
    worker.start()
    try:
        assert wait_for(worker.busy.is_set)
        assert worker.runs == 6 and worker.is_alive()
    finally:
        assert worker.stop(timeout=5)


def test_wake_ends_an_idle_wait_at_once():
    worker = Counter()
    worker.start()
    try:
        assert wait_for(worker.busy.is_set)
        runs = worker.runs
        worker.wake()
        assert wait_for(lambda: worker.runs > runs, timeout=2)  # long before idle_poll
    finally:
        worker.stop()


def test_stop_ends_the_thread_and_runs_on_stop_on_it():
    worker = Counter()
    worker.start()
    assert wait_for(worker.busy.is_set)
    assert worker.stop(timeout=2) is True
    assert not worker.is_alive() and worker.stopped_on == "counter"


def test_a_unit_of_work_that_raises_is_logged_and_the_loop_goes_on(caplog):
    worker = Counter(work=1, fail_first=True)
    worker.start()
    try:
        assert wait_for(lambda: worker.runs == 1)
        assert worker.is_alive()
        worker.wake()  # after an error the loop idles as after no work; the next wake-up goes on
        assert wait_for(worker.busy.is_set) and worker.work == 0
    finally:
        worker.stop()
    assert "event=worker_error name=counter" in caplog.text and "a bad row" in caplog.text


def test_stopping_a_worker_that_never_started_is_fine():
    assert Counter().stop() is True and not Counter().is_alive()
