"""Prometheus metrics and the health endpoints, served when ``[metrics]`` is set.

The numbers come straight from the per-source and per-sink counters the
Collector owns (``source_stats``, ``sink_stats``; :mod:`collector.stats`), read at
scrape time by a custom collector, so there is one set of books and the metrics
are exact by construction. Endpoints: ``/metrics``, ``/healthz`` (the process and
its event loop are alive) and ``/readyz`` (see :mod:`collector.health`), served by
prometheus-client's WSGI app and server, bounded by :mod:`collector.metrics_server`.

The ``[metrics]`` model lives in :mod:`collector.metrics_config`, so the config
never imports this server (which reads a whole running Collector).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import orjson
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from collector.health import readiness_problems, snapshot
from collector.metrics_config import MetricsConfig
from collector.metrics_server import BoundedWsgiServer
from collector.stats import Histogram

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from collector.app import Collector

PREFIX = "mimecast_collector"
TEXT = "text/plain; charset=utf-8"

LOOP_ANSWER_SECS = 4.0
"""How long /healthz waits for the event loop: under the probes' 5 s timeout."""


def _histogram(name: str, doc: str, label: str, values: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=[label])
    for key, histogram in values.items():
        cumulative, buckets = 0, []
        counts = list(histogram.counts)  # one snapshot, as the loop may add to it meanwhile
        for bound, count in zip((*histogram.bounds, float("inf")), counts, strict=True):
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
        {name: runner.stats.delivery_delay for name, runner in list(collector.runners.items())},
    )
    interval = GaugeMetricFamily(
        f"{PREFIX}_poll_interval_seconds",
        "Seconds before the next poll of each source, as last chosen (the quota budget, "
        "or interval_secs).",
        labels=["source"],
    )
    for name, runner in list(collector.runners.items()):
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
        sources = dict(self._collector.source_stats)  # a copy: the loop adds to it
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
            for outcome, count in sorted(stats.requests.items()):  # sorted() copies first
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
        sinks = dict(self._collector.sink_stats)
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
    """Serves /metrics, /healthz and /readyz for one running Collector.

    prometheus-client's WSGI app answers /metrics; a small dispatcher in front of it
    answers the health paths, on :class:`~collector.metrics_server.BoundedWsgiServer`'s
    threads. Those read the Collector's counters while the event loop updates them:
    plain reads of ints and floats, and copies of dicts before iterating them.
    """

    def __init__(self, collector: Collector, config: MetricsConfig) -> None:
        self._collector = collector
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StatsCollector(collector))
        self._metrics_app: WSGIApplication = make_wsgi_app(registry)
        self._server = BoundedWsgiServer(self._dispatch, config.host, config.port)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.port

    async def start(self) -> None:
        """Start listening. Raises OSError if the address is unusable (e.g. taken)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._server.start)  # a host name may need a DNS lookup

    async def stop(self) -> None:
        """Stop listening and close connections."""
        await asyncio.to_thread(self._server.stop)

    def _dispatch(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET":
            status, body, content_type = "405 Method Not Allowed", b"method not allowed\n", TEXT
        elif path == "/metrics":
            return self._metrics_app(environ, start_response)
        elif path == "/healthz":
            if self._loop_answers():
                status, body, content_type = "200 OK", b"ok\n", TEXT
            else:
                status, content_type = "503 Service Unavailable", TEXT
                body = f"event loop stalled: no answer within {LOOP_ANSWER_SECS:g} s\n".encode()
        elif path == "/readyz":
            problems = self.readiness_problems()
            status = "200 OK" if not problems else "503 Service Unavailable"
            body = orjson.dumps({"ready": not problems, "problems": problems})
            content_type = "application/json"
        else:
            status, body, content_type = "404 Not Found", b"not found\n", TEXT
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    def _loop_answers(self) -> bool:
        """Whether the event loop runs a callback: /healthz is answered on another thread."""
        answered = threading.Event()
        if self._loop is None:
            return False
        try:
            self._loop.call_soon_threadsafe(answered.set)
        except RuntimeError:  # the loop is closed
            return False
        return answered.wait(LOOP_ANSWER_SECS)

    def readiness_problems(self) -> list[str]:
        """Why the collector is not ready now (empty when ready)."""
        return readiness_problems(snapshot(self._collector), time.time())
