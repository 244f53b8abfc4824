"""Prometheus metrics and the health endpoints, served when ``[metrics]`` is set.

The numbers come straight from the per-source and per-sink counters the
Collector owns (``source_stats``, ``sink_stats``; :mod:`collector.stats`), read at
scrape time by a custom collector, so there is one set of books and the metrics
are exact by construction. Endpoints: ``/metrics``, ``/healthz`` (the process and
its event loop are alive) and ``/readyz`` (see :mod:`collector.health`).

The ``[metrics]`` model lives in :mod:`collector.metrics_config`, so the config
never imports this server (which reads a whole running Collector).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from collector.health import readiness_problems, snapshot
from collector.httpserver import STRICT_LIMITS, HttpServer, Request, Response
from collector.metrics_config import MetricsConfig
from collector.stats import Histogram

if TYPE_CHECKING:
    from collector.app import Collector

PREFIX = "mimecast_collector"


def _histogram(name: str, doc: str, label: str, values: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=[label])
    for key, histogram in values.items():
        cumulative, buckets = 0, []
        for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric([key], buckets, histogram.total)
    return family


def freshness_metrics(collector: Collector) -> Iterator[Metric]:
    """How fresh the delivered clicks are, per source: what a SOC puts on a dashboard."""
    yield _histogram(
        f"{PREFIX}_delivery_delay_seconds",
        "Seconds from a click's date to the moment every sink of its source acknowledged it.",
        "source",
        {name: runner.stats.delivery_delay for name, runner in collector.runners.items()},
    )
    interval = GaugeMetricFamily(
        f"{PREFIX}_poll_interval_seconds",
        "Seconds before the next poll of each source, as last chosen (the quota budget, "
        "or interval_secs).",
        labels=["source"],
    )
    for name, runner in collector.runners.items():
        if runner.stats.poll_interval_secs is not None:
            interval.add_metric([name], runner.stats.poll_interval_secs)
    yield interval


class StatsCollector:
    """A prometheus_client collector reading the collector's own counters."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family (called on each scrape)."""
        yield from self._source_metrics()
        yield from freshness_metrics(self._collector)
        yield from self._sink_metrics()
        yield from self._gate_metrics()

    def _gate_metrics(self) -> Iterator[Metric]:
        gates = self._collector.gates()
        closures = CounterMetricFamily(
            f"{PREFIX}_backpressure_closures",
            "Refusals (429, 503 with Retry-After) that closed an endpoint's gate.",
            labels=["endpoint"],
        )
        waits = CounterMetricFamily(
            f"{PREFIX}_backpressure_wait_seconds",
            "Seconds requests waited at an endpoint's gate.",
            labels=["endpoint"],
        )
        for endpoint, stats in gates.items():
            closures.add_metric([endpoint], stats.closures)
            waits.add_metric([endpoint], stats.wait_secs)
        yield from (closures, waits)

    def _source_metrics(self) -> Iterator[Metric]:
        sources = self._collector.source_stats
        now = time.time()

        def counter(name: str, doc: str, attribute: str) -> Metric:
            family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["source"])
            for source, stats in sources.items():
                family.add_metric([source], getattr(stats, attribute))
            return family

        yield counter("pages", "Pages read from Mimecast.", "pages")
        yield counter("events", "Clicks collected and delivered to every sink.", "events")
        yield counter("duplicates_skipped", "Clicks read again and recognised.", "duplicates")
        yield counter("retries", "Requests to Mimecast retried.", "retries")
        yield counter("rate_limited", "HTTP 429 answers from Mimecast.", "rate_limited")
        yield counter(
            "rate_limited_wait_seconds",
            "Seconds spent waiting after 429s.",
            "rate_limited_wait_secs",
        )
        yield counter("token_refreshes", "OAuth2 tokens fetched.", "token_fetches")
        requests = CounterMetricFamily(
            f"{PREFIX}_requests", "Requests to Mimecast by outcome.", labels=["source", "outcome"]
        )
        cycles = CounterMetricFamily(
            f"{PREFIX}_cycles", "Collection cycles by result.", labels=["source", "result"]
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_checkpoint_lag_seconds",
            "Now minus the date of the newest click delivered by this process.",
            labels=["source"],
        )
        cursor_lag = GaugeMetricFamily(
            f"{PREFIX}_cursor_lag_seconds",
            "Now minus the time up to which every click has been delivered.",
            labels=["source"],
        )
        success = GaugeMetricFamily(
            f"{PREFIX}_last_success_timestamp_seconds",
            "When the last cycle that caught up finished (Unix time).",
            labels=["source"],
        )
        for source, stats in sources.items():
            for outcome, count in sorted(stats.requests.items()):
                requests.add_metric([source, outcome], count)
            cycles.add_metric([source, "ok"], stats.cycles_ok)
            cycles.add_metric([source, "failed"], stats.cycles_failed)
            if stats.newest_delivered is not None:
                lag.add_metric([source], now - stats.newest_delivered)
            if stats.cursor is not None:
                cursor_lag.add_metric([source], now - stats.cursor)
            if stats.last_success_at is not None:
                success.add_metric([source], stats.last_success_at)
        yield from (requests, cycles, lag, cursor_lag, success)
        yield _histogram(
            f"{PREFIX}_cycle_duration_seconds",
            "Duration of collection cycles.",
            "source",
            {name: stats.cycle_duration for name, stats in sources.items()},
        )

    def _sink_metrics(self) -> Iterator[Metric]:
        sinks = self._collector.sink_stats
        for name, doc, attribute in (
            ("sink_events", "Events acknowledged by the sink.", "events"),
            ("sink_batches", "Pages acknowledged by the sink.", "batches"),
            ("sink_bytes", "Bytes sent by the sink (as encoded).", "bytes"),
            ("sink_retries", "Sends retried.", "retries"),
            (
                "sink_dead_lettered",
                "Events set aside in the dead-letter directory.",
                "dead_lettered",
            ),
            ("sink_truncated", "Messages cut to the receiver's size limit.", "truncated"),
            ("sink_already_stored", "Events the receiver already had (ES 409).", "already_stored"),
            (
                "sink_resent",
                "Batches re-sent after an unknown outcome (HEC ack timeout).",
                "resent",
            ),
        ):
            family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["sink"])
            for sink, stats in sinks.items():
                family.add_metric([sink], getattr(stats, attribute))
            yield family
        errors = CounterMetricFamily(
            f"{PREFIX}_sink_errors", "Failed sends by error type.", labels=["sink", "error_type"]
        )
        for sink, stats in sinks.items():
            for error_type, count in sorted(stats.errors.items()):
                errors.add_metric([sink, error_type], count)
        yield errors
        yield _histogram(
            f"{PREFIX}_sink_send_duration_seconds",
            "Time from handing a page to a sink to its acknowledgement.",
            "sink",
            {name: stats.send_latency for name, stats in sinks.items()},
        )


class MetricsServer:
    """Serves /metrics, /healthz and /readyz for one running Collector."""

    def __init__(self, collector: Collector, config: MetricsConfig) -> None:
        self._collector = collector
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(StatsCollector(collector))
        # Whoever reaches the port may be hostile: bounded connections, sizes and times.
        self._server = HttpServer(self._handle, config.host, config.port, limits=STRICT_LIMITS)

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.port

    async def start(self) -> None:
        """Start listening."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop listening and close connections."""
        await self._server.stop()

    async def _handle(self, request: Request) -> Response:
        if request.method != "GET":
            return Response(405, b"method not allowed\n", "text/plain")
        if request.path == "/metrics":
            return Response(200, generate_latest(self._registry), "text/plain; version=0.0.4")
        if request.path == "/healthz":
            return Response(200, b"ok\n", "text/plain")
        if request.path == "/readyz":
            problems = self.readiness_problems()
            body = orjson.dumps({"ready": not problems, "problems": problems})
            return Response(200 if not problems else 503, body)
        return Response(404, b"not found\n", "text/plain")

    def readiness_problems(self) -> list[str]:
        """Why the collector is not ready now (empty when ready)."""
        return readiness_problems(snapshot(self._collector), time.time())
