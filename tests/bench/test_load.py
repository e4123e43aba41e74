"""The load beside each benchmark figure: the range of the 1-minute load average while it was measured."""

import time

from bench.load import LoadMeter, load_range
from bench.report import Row


def test_a_load_that_did_not_move_is_one_number_else_its_range():
    assert load_range([2.04, 2.01]) == "2.0"
    assert load_range([2.4, 3.16, 2.9]) == "2.4-3.2"


def test_rows_are_stamped_with_the_load_seen_since_their_measurement_started():
    loads = iter([1.0, 2.0, 3.5, 3.5, 3.5])
    with LoadMeter(every=3600, read=lambda: next(loads)) as meter:  # one sample on entry (1.0), then on demand
        started = time.monotonic()
        assert meter.since(started) == "2.0"
        rows = meter.stamp([Row("ack p99", "8 ms"), Row("drain", "1.1x")], started)

    assert [row.load for row in rows] == ["2.0-3.5", "2.0-3.5"]
    assert rows[0].figure == "ack p99" and rows[0].value == "8 ms"
