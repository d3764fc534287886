"""Prometheus metrics of the bot: the install's table metrics plus this process's Telegram
traffic.

Table metrics (`picasso_jobs_total`, queue, timings, painters) are derived at scrape time from
`JobStore.metrics_snapshot()`, so every bot of an install reports the same numbers; the
Telegram counters (updates, API errors, flood waits) count what this process saw.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from jobs.monitoring import Histogram, MetricsSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _histogram(name: str, documentation: str, histogram: Histogram) -> HistogramMetricFamily:
    buckets = [(repr(b), c) for b, c in zip(histogram.bounds, histogram.cumulative, strict=True)]
    buckets.append(("+Inf", histogram.count))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=histogram.total)


def table_metrics(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """The metric families of one snapshot of the job table."""
    jobs = CounterMetricFamily(
        "picasso_jobs", "Jobs that ended, by outcome (whole install)", labels=["status"]
    )
    for status, count in snapshot.finished.items():
        jobs.add_metric([status], count)
    yield jobs
    yield GaugeMetricFamily("picasso_queue_depth", "Jobs waiting to be painted", snapshot.queued)
    yield GaugeMetricFamily("picasso_jobs_running", "Jobs being painted now", snapshot.running)
    yield GaugeMetricFamily(
        "picasso_oldest_queued_seconds",
        "How long the oldest queued job has waited (0: queue empty)",
        snapshot.oldest_queued_age or 0.0,
    )
    yield GaugeMetricFamily(
        "picasso_undelivered_jobs",
        "Finished jobs whose result the bot has not sent yet",
        snapshot.undelivered,
    )
    yield _histogram(
        "picasso_job_seconds", "Painting time of done jobs (claim to done)", snapshot.job_seconds
    )
    yield _histogram(
        "picasso_wait_seconds",
        "Time in the queue of finished jobs (enqueued to claimed)",
        snapshot.wait_seconds,
    )
    yield GaugeMetricFamily(
        "picasso_painters_up",
        "Painters (engine workers) with a fresh heartbeat",
        sum(p.alive for p in snapshot.painters),
    )
    age = GaugeMetricFamily(
        "picasso_painter_heartbeat_age_seconds",
        "Seconds since each registered painter's last heartbeat",
        labels=["worker", "device"],
    )
    busy = GaugeMetricFamily(
        "picasso_painter_busy", "1 while the painter works on a job", labels=["worker"]
    )
    for painter in snapshot.painters:
        age.add_metric([painter.worker_id, painter.device], painter.heartbeat_age)
        busy.add_metric([painter.worker_id], int(painter.busy))
    yield age
    yield busy


class _TableCollector(Collector):
    """Yields the snapshot handed to `BotMetrics.render` (none outside a render)."""

    def __init__(self) -> None:
        self.snapshot: MetricsSnapshot | None = None

    def collect(self) -> Iterator[Metric]:
        if self.snapshot is not None:
            yield from table_metrics(self.snapshot)


class BotMetrics:
    """The bot process's registry: its own counters, its process stats, the table."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.updates = Counter(
            "picasso_telegram_updates", "Updates received from Telegram", registry=self.registry
        )
        self.api_errors = Counter(
            "picasso_telegram_errors",
            "Bot API requests that failed, by method and HTTP status ('network': no answer)",
            ["method", "code"],
            registry=self.registry,
        )
        self.flood_waits = Counter(
            "picasso_telegram_flood_waits",
            "Requests Telegram answered with 429 (flood control)",
            registry=self.registry,
        )
        self.flood_wait_seconds = Counter(
            "picasso_telegram_flood_wait_seconds",
            "Seconds Telegram asked the bot to wait (retry_after of 429s)",
            registry=self.registry,
        )
        self._table = _TableCollector()
        self.registry.register(self._table)

    def render(self, snapshot: MetricsSnapshot) -> bytes:
        """The exposition text, with `snapshot` as the table metrics (synchronous: no other
        render can interleave on the event loop)."""
        self._table.snapshot = snapshot
        try:
            return generate_latest(self.registry)
        finally:
            self._table.snapshot = None
