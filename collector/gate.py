"""One backpressure gate per endpoint: after a "wait", nothing is sent until it has passed.

An endpoint that answers 429 (Mimecast's quota, a receiver's throttle) or 503 with
``Retry-After`` speaks for itself as a whole, not for the one request it answered:
Mimecast counts its quota per credential, a receiver sheds load for every client.
So each endpoint has one :class:`BackpressureGate`, shared by every request that
goes there (every source and slice of a credential, prefetch and retries; every page
a sink delivers). A refusal *closes* the gate until the wait has passed, and every
request *waits* at the gate before it is sent. Only requests already on the wire when
the refusal arrives get through; an answer that arrives meanwhile never opens the gate
early, whatever its headers say.

How long: what the endpoint asked for, when it gave a usable figure; otherwise the
retry policy's backoff for this many refusals in a row (:meth:`RetryPolicy.refusal_wait`).
A wait longer than the caller's budget is not waited out: :meth:`wait` raises
:class:`~collector.errors.BackpressureTooLongError`, so the cycle fails with a clear
message and the checkpoint stays where it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from collector.errors import BackpressureTooLongError
from collector.retry import RetryPolicy
from collector.stats import GateStats

log = structlog.get_logger("collector.gate")

# Waits at least this long are logged (shorter ones are routine and only counted).
LOG_WAIT_SECS = 5.0


class BackpressureGate:
    """The gate of one endpoint (a Mimecast credential, an HTTP sink)."""

    def __init__(
        self,
        endpoint: str,
        *,
        policy: RetryPolicy | None = None,
        stats: GateStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.stats = stats or GateStats()
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._open_at = 0.0
        self._refusals = 0

    def __repr__(self) -> str:
        return f"BackpressureGate({self.endpoint!r}, closed_for={self.closed_for():.3f})"

    def closed_for(self) -> float:
        """Seconds until the gate opens; 0 when open."""
        return max(0.0, self._open_at - self._clock())

    async def wait(self, budget_secs: float | None = None) -> float:
        """Return once the gate is open; the seconds waited.

        Raises BackpressureTooLongError, without waiting, when the gate stays closed
        longer than ``budget_secs``.
        """
        waited = 0.0
        while (delay := self._open_at - self._clock()) > 0:
            # The gate may be closed again while we sleep: look again after each sleep.
            if budget_secs is not None and waited + delay > budget_secs:
                raise BackpressureTooLongError(
                    f"{self.endpoint} asked to wait {describe_secs(delay)} before the next "
                    f"request, longer than the retry budget (retry_max_secs = "
                    f"{budget_secs:g}); stopping this cycle, the checkpoint is unchanged"
                )
            if delay >= LOG_WAIT_SECS:
                log.warning("backpressure_wait", endpoint=self.endpoint, wait_secs=round(delay, 3))
            started = self._clock()
            await self._sleep(delay)
            waited += self._clock() - started
        self.stats.wait_secs += waited
        return waited

    def close(self, requested_secs: float | None) -> float:
        """The endpoint refused a request: keep every request back; the chosen wait.

        ``requested_secs`` is what it asked for (``X-RateLimit-Reset``, ``Retry-After``),
        or None when it said nothing usable; never shortens a wait already in force.
        """
        self._refusals += 1
        wait = self._policy.refusal_wait(requested_secs, self._refusals)
        self._open_at = max(self._open_at, self._clock() + wait)
        self.stats.closures += 1
        return self.closed_for()

    def hold(self, secs: float) -> None:
        """Keep requests back for ``secs`` without counting a refusal (a quota's pace)."""
        self._open_at = max(self._open_at, self._clock() + secs)

    def passed(self) -> None:
        """A request was accepted: the next refusal starts the backoff over."""
        self._refusals = 0


def describe_secs(secs: float) -> str:
    """A duration as a person reads it: 300 ms, 8.0 s, 12.5 min, 27.8 h."""
    if secs < 1:
        return f"{secs * 1000:.0f} ms"
    if secs < 120:
        return f"{secs:.1f} s"
    if secs < 7200:
        return f"{secs / 60:.1f} min"
    return f"{secs / 3600:.1f} h"
