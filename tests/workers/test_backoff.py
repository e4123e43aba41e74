"""Capped exponential backoff: a quick first retry, doubling while the trouble lasts, never past the cap."""

from itertools import pairwise

import pytest

from bot.workers.backoff import backoff_delay


def test_backoff_starts_within_seconds_and_is_capped_near_five_minutes():
    delays = [backoff_delay(n) for n in range(1, 12)]
    assert delays[0] <= 5 and delays == sorted(delays)
    assert max(delays) == 300


@pytest.mark.parametrize("first,cap", [(2.0, 300.0), (1.0, 60.0), (0.5, 4.0)])
def test_each_failure_doubles_the_wait_until_the_cap(first, cap):
    delays = [backoff_delay(n, first=first, cap=cap) for n in range(1, 20)]
    assert delays[0] == first
    for before, after in pairwise(delays):
        assert after == min(cap, before * 2)
    assert delays[-1] == cap


@pytest.mark.parametrize("failures", [0, -3])
def test_no_failures_yet_waits_no_less_than_the_first_retry(failures):
    assert backoff_delay(failures, first=1.5) == 1.5
