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

DELAY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
"""Seconds from a click's date to its acknowledgement by every sink: the live range
in detail (the goal is 30 s), then catch-up magnitudes."""


@dataclass(slots=True)
class Histogram:
    """Counts of observations per upper bound (seconds), Prometheus style."""

    bounds: tuple[float, ...] = DURATION_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """Record ``times`` observations of ``value``."""
        self.counts[bisect.bisect_left(self.bounds, value)] += times
        self.total += value * times

    def bucket_of(self, value: float) -> int:
        """The index of the bucket ``value`` falls into."""
        return bisect.bisect_left(self.bounds, value)

    def observe_total(self, value: float, times: int, total: float) -> None:
        """Record ``times`` observations that all fall into ``value``'s bucket and sum
        to ``total``."""
        self.counts[bisect.bisect_left(self.bounds, value)] += times
        self.total += total

    @property
    def count(self) -> int:
        """Number of observations."""
        return sum(self.counts)


def delay_histogram() -> Histogram:
    """An empty histogram of delivery delays."""
    return Histogram(DELAY_BUCKETS, [0] * (len(DELAY_BUCKETS) + 1))


@dataclass(slots=True)
class DelaySummary:
    """The median and maximum of one cycle's delivery delays, in bounded memory.

    Delays are kept exactly to 0.1 s below 10 minutes (the live range) and to three
    significant digits above (a catch-up), so a cycle holds a few thousand keys at
    most, however many clicks it delivers.
    """

    counts: Counter[float] = field(default_factory=Counter)
    max: float | None = None

    def observe(self, delay: float, times: int = 1) -> None:
        """Record ``times`` clicks delivered ``delay`` seconds after their date."""
        self.counts[self.key_of(delay)] += times
        self.max = delay if self.max is None else max(self.max, delay)

    @staticmethod
    def key_of(delay: float) -> float:
        """The delay as it is kept (see the class doc)."""
        return round(delay, 1) if delay < 600 else float(f"{delay:.3g}")

    @property
    def p50(self) -> float | None:
        """The median (the lower one for an even count); None without clicks."""
        total = sum(self.counts.values())
        seen = 0
        for delay in sorted(self.counts):
            seen += self.counts[delay]
            if 2 * seen >= total:
                return delay
        return None


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
    delivery_delay: Histogram = field(default_factory=delay_histogram)
    """Seconds from each click's date to the moment every sink acknowledged it."""
    last_error: str | None = None
    poll_interval_secs: float | None = None
    """The pause before the next poll, as last chosen (quota budget or interval_secs)."""


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
