"""Quota-aware pacing: spend Mimecast's request quota evenly instead of hitting 429s.

Every Mimecast response carries ``X-RateLimit-Limit`` (the bucket),
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (milliseconds until at least
one more request is allowed). While plenty remain, requests go out at once.
When the bucket is down to ``reserve``, each request waits until the bucket
refills by one: a long drain then runs at the quota's own rate, with no 429s.

One pacer is shared by every source and slice that uses the same credential,
because Mimecast counts the quota per application (API 2.0) or per user (1.0).
A 429 still waits as the retry policy says; the pacer just makes it rare.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from collector.sources.mimecast.responses import rate_limit_wait_secs


class QuotaPacer:
    """Paces requests of one credential from the rate-limit headers of its responses."""

    def __init__(
        self,
        *,
        reserve: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._reserve = reserve
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._remaining: int | None = None
        self._in_flight = 0
        self._next_at = 0.0
        self._interval = 0.0
        self.waited_secs = 0.0
        self.waits = 0

    async def acquire(self) -> None:
        """Wait, if needed, before sending one request; pair with :meth:`finished`."""
        async with self._lock:
            if self._remaining is not None and self._remaining <= self._reserve:
                now = self._clock()
                wait = self._next_at - now
                if wait > 0:
                    # Holding the lock while waiting queues the other requests behind
                    # us, each one refill interval later.
                    self.waits += 1
                    self.waited_secs += wait
                    await self._sleep(wait)
                self._next_at = max(self._next_at, now) + self._interval
            elif self._remaining is not None:
                self._remaining -= 1
            self._in_flight += 1

    def finished(self, headers: Mapping[str, str] | None, status: int = 200) -> None:
        """One request is over; learn the quota's state from its ``X-RateLimit-*`` headers.

        ``headers`` is None when no answer came (a timeout, a dropped connection).
        """
        self._in_flight = max(0, self._in_flight - 1)
        if headers is None:
            return
        remaining = headers.get("X-RateLimit-Remaining")
        if remaining is None or not remaining.isdigit():
            # No quota information (e.g. an answer from a proxy or gateway that strips
            # it): what we knew is stale, so stop pacing rather than crawl forever.
            self._remaining = None
            return
        wait = rate_limit_wait_secs(headers.get("X-RateLimit-Reset")) or 0.0
        # The count was taken when this request was served: the requests still in
        # flight (prefetch, parallel slices) will spend from it too.
        self._remaining = int(remaining) - self._in_flight
        self._next_at = self._clock() + wait
        if self._remaining <= self._reserve and wait > 0:
            # Near empty, Reset is the time until the next whole request is refilled:
            # at most one refill interval, often less (a part had refilled already).
            # The largest seen is the best estimate of the interval, our pace.
            self._interval = max(self._interval, wait)
        if status == 429:
            # We went too fast anyway (another client shares the quota, or it shrank).
            self._remaining = 0
            self._interval = max(self._interval * 1.25, wait)


class PacerRegistry:
    """One pacer per credential, shared by the sources that use it."""

    def __init__(self) -> None:
        self._pacers: dict[tuple[str, ...], QuotaPacer] = {}

    def for_credential(self, key: tuple[str, ...]) -> QuotaPacer:
        """The pacer of the credential identified by ``key`` (not a secret)."""
        pacer = self._pacers.get(key)
        if pacer is None:
            pacer = self._pacers[key] = QuotaPacer()
        return pacer
