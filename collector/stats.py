"""Plain counters kept per source and per sink, read by logs and metrics."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


@dataclass(slots=True)
class Histogram:
    """Counts of observations per upper bound (seconds), Prometheus style."""

    bounds: tuple[float, ...] = DURATION_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        """Record one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        """Number of observations."""
        return sum(self.counts)


@dataclass(slots=True)
class GateStats:
    """What one endpoint's backpressure gate did (:mod:`collector.gate`)."""

    closures: int = 0
    """Refusals (429, 503) that closed the gate."""
    wait_secs: float = 0.0
    """Seconds requests spent waiting at the gate."""


@dataclass(slots=True)
class SourceStats:
    """What one source has done since the process started."""

    requests: Counter[str] = field(default_factory=Counter)
    """Requests to Mimecast by outcome: ok, rate_limited, server_error, timeout, ..."""
    retries: int = 0
    rate_limited: int = 0
    rate_limited_wait_secs: float = 0.0
    paced_wait_secs: float = 0.0
    """Time spent waiting for the quota pacer (so that no 429 happens)."""
    token_fetches: int = 0
    pages: int = 0
    events: int = 0
    duplicates: int = 0
    cycles_ok: int = 0
    cycles_failed: int = 0
    last_success_at: float | None = None
    """Wall-clock time of the last cycle that finished caught up."""
    newest_delivered: int | None = None
    """Epoch seconds of the newest click every sink has acknowledged."""
    cursor: int | None = None
    """Epoch seconds up to which every click has been delivered (the checkpoint)."""
    cycle_duration: Histogram = field(default_factory=Histogram)
    last_error: str | None = None


@dataclass(slots=True)
class SinkStats:
    """What one sink has done since the process started."""

    events: int = 0
    batches: int = 0
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    dead_lettered: int = 0
    truncated: int = 0
    """Messages cut to the receiver's size limit (syslog)."""
    already_stored: int = 0
    """Events the receiver said it already had (Elasticsearch 409 on create)."""
    resent: int = 0
    """Batches sent again because their outcome was unknown (HEC ack timeout)."""
    send_latency: Histogram = field(default_factory=Histogram)
    backpressure: GateStats = field(default_factory=GateStats)
    """The sink's gate (HTTP sinks: 429 and 503 with Retry-After)."""
