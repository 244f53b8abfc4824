"""The live polling budget: how often a caught-up source may ask for new clicks.

Polls that find nothing new are pure cost: they spend the credential's request
quota and deliver nothing. They may spend at most ``live_quota_share`` of it
(default 5%). The quota is what the endpoint's ``X-RateLimit-Limit`` says, per
``quota_period_secs`` (Mimecast documents its limits per hour, e.g. 10000/hour).

One budget per credential, shared by every source that uses it (the credential's
pacer owns it), so three sources on one credential poll a third as often each and
together spend the same share. It is a GCRA: each finished cycle is charged its
cost, which pushes the credential's next free moment by ``cost / rate``; a source
polls again at that moment. The charge of a cycle (see :func:`poll_cost`):

- a poll that delivered nothing, late sweeps included: every request it made
  (usually one; a sweep re-reading a busy quarter of an hour that has gone quiet,
  more, and the next polls wait accordingly);
- a poll that delivered new clicks, or read a catch-up (a pass cut into slices, such
  as the first one over ``initial_lookback_secs``): one request. The pages that carry new clicks,
  and on a busy tenant the sweep's re-reading, are the cost of the data, not of
  waiting for it, and keep the whole quota, as catch-up and backfill do.

Until the quota is known (before the first answer, or behind a gateway that strips
the headers) each source polls every ``UNKNOWN_QUOTA_INTERVAL_SECS``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("collector.polling")

# Conservative: 60 requests an hour per source, whatever the quota turns out to be.
UNKNOWN_QUOTA_INTERVAL_SECS = 60.0


def readiness_interval_secs(interval_secs: int | None, poll_interval_secs: float | None) -> int:
    """The interval readiness is judged by: the fixed one, or the budget's latest (at
    least the unknown-quota interval, so a short pause never flaps readiness)."""
    if interval_secs is not None:
        return interval_secs
    return math.ceil(max(poll_interval_secs or 0.0, UNKNOWN_QUOTA_INTERVAL_SECS))


def poll_cost(requests: int, events: int, *, catchup: bool = False) -> int:
    """What a finished cycle is charged against the live budget (module doc)."""
    return 1 if events > 0 or catchup else max(requests, 1)


class PollBudget:
    """The idle-polling budget of one credential (module doc)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._shares: dict[str, tuple[float, float]] = {}
        self._fixed: dict[str, int] = {}
        self._free_at = 0.0
        self.limit: int | None = None
        """Requests per period, from ``X-RateLimit-Limit``; None until an answer said."""

    def join(
        self, source: str, share: float, period_secs: float, interval_secs: int | None = None
    ) -> None:
        """Register a source of the credential. Every source counts when the budget is
        divided; one with a fixed ``interval_secs`` polls on its own clock, uncharged."""
        self._shares[source] = (share, period_secs)
        if interval_secs is not None:
            self._fixed[source] = interval_secs

    def learn_limit(self, limit: int) -> None:
        """An answer stated the quota; the first time, check the fixed intervals against it."""
        first = self.limit is None
        self.limit = limit
        if first and limit > 0:
            self._warn_fixed_intervals()

    def _warn_fixed_intervals(self) -> None:
        allowed = self.idle_interval_secs()
        for source, interval in self._fixed.items():
            if interval >= allowed:
                continue
            share, period = self._shares[source]
            spend = period / interval / (self.limit or 1)
            log.warning(
                "interval_above_budget",
                source=source,
                message=f"sources.{source}.interval_secs = {interval} polls more often than "
                f"live_quota_share = {share:g} allows ({allowed:.1f} s between polls with a "
                f"quota of {self.limit} requests and {self.sources} source(s) on the "
                f"credential): idle polling of this source alone spends {spend:.0%} of the quota",
            )

    @property
    def sources(self) -> int:
        """How many sources poll on this budget."""
        return max(len(self._shares), 1)

    def rate(self) -> float:
        """Requests per second that idle polls of every source together may spend."""
        if self.limit is None or self.limit <= 0 or not self._shares:
            return self.sources / UNKNOWN_QUOTA_INTERVAL_SECS
        # Sources on one credential may disagree: the most frugal setting wins.
        return min(share * self.limit / period for share, period in self._shares.values())

    def idle_interval_secs(self) -> float:
        """Seconds between two idle polls of one source, each one request."""
        return self.sources / self.rate()

    def charge(self, cost: int) -> float:
        """A cycle of ``cost`` requests is over; seconds until its source may poll again."""
        now = self._clock()
        self._free_at = max(self._free_at, now) + cost / self.rate()
        return self._free_at - now
