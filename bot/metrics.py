"""Prometheus metrics, in a registry of the bot's own (so several bots in one test run don't clash).

Counters and histograms are updated where things happen; gauges that describe
stored state (queue depth, outbox depth, balance) are read from the database at
scrape time, so they are never stale.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot import __version__
from bot.sms import dlr

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
GATEWAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
KNOWN_REPORT_STATUSES = {str(int(status)) for status in dlr.DlrStatus}

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Gauge("smsbot_build_info", "Always 1: which smsbot this is", ["version", "python"], registry=r).labels(
            __version__, platform.python_version()
        ).set(1)
        self.sms = Counter(
            "smsbot_sms_total", "SMS send outcomes (sent, failed, unconfirmed, retrying)", ["result"], registry=r
        )
        self.parts = Counter("smsbot_sms_parts_sent_total", "SMS parts accepted by the gateway", registry=r)
        self.reports = Counter(
            "smsbot_delivery_reports_total", "Delivery reports received, by StatusID", ["status"], registry=r
        )
        self.slack_posts = Counter(
            "smsbot_slack_writes_total", "Slack writes from the outbox, by result", ["kind", "result"], registry=r
        )
        self.ack_latency = Histogram(
            "smsbot_slack_ack_seconds", "Time to answer a Slack request", buckets=ACK_BUCKETS, registry=r
        )
        self.gateway_latency = Histogram(
            "smsbot_gateway_request_seconds",
            "SMS Office request time",
            ["op", "outcome"],
            buckets=GATEWAY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("smsbot_queue_depth", "SMS queued or being sent", registry=r)
        self.outbox_depth = Gauge("smsbot_outbox_depth", "Slack writes waiting", registry=r)
        self.balance = Gauge("smsbot_balance_credits", "Balance seen by the last successful check", registry=r)
        self.alerts_undeliverable = Gauge(
            "smsbot_alerts_undeliverable", "1 while the alert channel refuses balance alerts", registry=r
        )
        self.gateway_idle = Gauge(
            "smsbot_gateway_seconds_since_success", "Seconds since the last successful gateway call", registry=r
        )
        self.leader = Gauge("smsbot_leader", "1 on the process that leads (runs the sender), else 0", registry=r)
        self.leader_changes = Counter(
            "smsbot_leader_changes_total", "New leadership terms this process has seen begin", registry=r
        )
        self.lease_age = Gauge(
            "smsbot_lease_age_seconds",
            "Seconds since the leader last renewed its lease (above SMSBOT_LEASE_SECONDS: nobody leads)",
            registry=r,
        )

    def watch_leadership(self, *, leader: Callable[[], bool], lease: Callable[[], float | None]) -> None:
        """Whether this process leads, and the age of the lease's last renewal (NaN: nobody holds it)."""
        self.leader.set_function(_as_gauge(leader))
        self.lease_age.set_function(lambda: _or_nan(lease()))

    def read_at_scrape(
        self,
        *,
        queue_depth: Callable[[], int],
        outbox_depth: Callable[[], int],
        balance: Callable[[], float | None],
        last_success: Callable[[], float | None],
    ) -> None:
        """Gauges computed when /metrics is read (NaN when unknown)."""
        self.queue_depth.set_function(queue_depth)
        self.outbox_depth.set_function(outbox_depth)
        self.balance.set_function(lambda: _or_nan(balance()))
        self.gateway_idle.set_function(lambda: _or_nan(_since(last_success())))

    def watch_operations(
        self,
        *,
        now: Callable[[], float],
        oldest_queued_at: Callable[[], float | None],
        oldest_job_at: Callable[[], float | None],
        oldest_report_at: Callable[[], float | None],
        threads: dict[str, Callable[[], bool | None]],
        live_balance: Callable[[], float | None],
        stored_balance: Callable[[], float | None],
        low_balance: float,
    ) -> None:
        """What alerts watch: ages of the oldest waiting work (0 when none waits), each thread's
        liveness (not shown while it is None: a leader's thread on a standby), and the balance from the
        latest read of any kind (else the last stored check)."""
        r = self.registry
        Gauge(
            "smsbot_queue_oldest_age_seconds", "Age of the oldest SMS queued or being sent (0: none)", registry=r
        ).set_function(lambda: _age(now(), oldest_queued_at()))
        Gauge(
            "smsbot_outbox_oldest_age_seconds", "Age of the oldest Slack write waiting (0: none)", registry=r
        ).set_function(lambda: _age(now(), oldest_job_at()))
        Gauge(
            "smsbot_reports_oldest_age_seconds",
            "Age of the oldest delivery report taken in and not yet applied (0: none)",
            registry=r,
        ).set_function(lambda: _age(now(), oldest_report_at()))
        r.register(_Threads(threads))
        self.balance.set_function(lambda: _or_nan(_first(live_balance(), stored_balance())))
        Gauge("smsbot_low_balance_credits", "SMSBOT_LOW_BALANCE: the balance alert threshold", registry=r).set(
            low_balance
        )

    def observe_gateway(self, op: str, seconds: float, outcome: str) -> None:
        self.gateway_latency.labels(op, outcome).observe(seconds)

    def observe_report(self, status_id: int) -> None:
        status = str(status_id)
        self.reports.labels(status if status in KNOWN_REPORT_STATUSES else "other").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Threads:
    """``smsbot_thread_up``: one sample per thread expected to run in this process."""

    def __init__(self, threads: dict[str, Callable[[], bool | None]]) -> None:
        self.threads = threads

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("smsbot_thread_up", "1 while the named background thread runs", labels=["thread"])

    def describe(self):
        return [self._family()]

    def collect(self):
        family = self._family()
        for name, alive in self.threads.items():
            up = alive()
            if up is not None:
                family.add_metric([name], 1.0 if up else 0.0)
        yield family


def _since(t: float | None) -> float | None:
    return None if t is None else max(0.0, time.time() - t)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _age(now: float, since: float | None) -> float:
    return 0.0 if since is None else max(0.0, now - since)


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _as_gauge(alive: Callable[[], bool]) -> Callable[[], float]:
    return lambda: 1.0 if alive() else 0.0
