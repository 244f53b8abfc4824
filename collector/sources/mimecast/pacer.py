"""Quota-aware pacing: spend Mimecast's request quota evenly instead of hitting 429s.

Every Mimecast response carries ``X-RateLimit-Limit`` (the bucket),
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (milliseconds until at least
one more request is allowed). While plenty remain, requests go out at once.
When the bucket is down to ``reserve``, each request waits until the bucket
refills by one: a long drain then runs at the quota's own rate, with no 429s.

One pacer is shared by every source and slice that uses the same credential,
because Mimecast counts the quota per application (API 2.0) or per user (1.0).
It owns that credential's :class:`~collector.gate.BackpressureGate`: a 429 closes
it for every request of the credential, and no answer that arrives meanwhile (say
one with plenty of ``X-RateLimit-Remaining``) opens it early. The pacer makes 429s
rare; the gate makes sure that the ones that happen are honoured by everyone.

A pace longer than the caller's retry budget is not slept: the request fails with
:class:`~collector.errors.BackpressureTooLongError` and the pace is forgotten, so
the next cycle asks again instead of trusting a 27-hour ``X-RateLimit-Reset``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from pydantic import SecretStr

from collector.errors import BackpressureTooLongError
from collector.gate import LOG_WAIT_SECS, BackpressureGate, describe_secs
from collector.polling import PollBudget
from collector.sources.mimecast.auth import OAuth2TokenProvider
from collector.sources.mimecast.responses import rate_limit_wait_secs
from collector.stats import GateStats

log = structlog.get_logger("collector.pacer")


class QuotaPacer:
    """Paces requests of one credential from the rate-limit headers of its responses."""

    def __init__(
        self,
        *,
        endpoint: str = "Mimecast",
        reserve: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gate = BackpressureGate(endpoint, stats=GateStats(), clock=clock, sleep=sleep)
        # The credential's live polling budget: sized by the quota learnt here.
        self.poll_budget = PollBudget(clock=clock)
        self._reserve = reserve
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._remaining: int | None = None
        self._in_flight = 0
        self._next_at = 0.0
        self._interval = 0.0
        self._longest_reset = 0.0
        self._tickets = 0
        self._learnt = 0
        self.waited_secs = 0.0

    async def acquire(self, budget_secs: float | None = None) -> int:
        """Wait, if needed, before sending one request; pair with :meth:`finished`.

        Returns the request's ticket (its place in sending order) for :meth:`finished`.

        The quota's pace first, then the gate: a request paced past a 429 that
        arrived meanwhile still stops at the gate.
        """
        async with self._lock:
            if self._remaining is not None and self._remaining <= self._reserve:
                now = self._clock()
                wait = self._next_at - now
                if wait > 0:
                    self._check_budget(wait, budget_secs)
                    if wait >= LOG_WAIT_SECS:
                        log.warning(
                            "quota_pacing_wait",
                            endpoint=self.gate.endpoint,
                            wait_secs=round(wait, 3),
                            message="X-RateLimit-Remaining is down to the reserve: waiting "
                            "for the quota to refill",
                        )
                    # Holding the lock while waiting queues the other requests behind
                    # us, each one refill interval later.
                    self.waited_secs += wait
                    await self._sleep(wait)
                self._next_at = max(self._next_at, now) + self._interval
            elif self._remaining is not None:
                self._remaining -= 1
            self._in_flight += 1
            self._tickets += 1
            ticket = self._tickets
        try:
            await self.gate.wait(budget_secs)
        except BaseException:
            self._in_flight = max(0, self._in_flight - 1)
            raise
        return ticket

    def _check_budget(self, wait: float, budget_secs: float | None) -> None:
        if budget_secs is None or wait <= budget_secs:
            return
        # Forget what we learnt: the next cycle sends one request and learns afresh.
        self._remaining = None
        self._next_at = 0.0
        raise BackpressureTooLongError(
            f"{self.gate.endpoint}: X-RateLimit-Reset asks to wait {describe_secs(wait)} for "
            f"the quota to refill, longer than retry_max_secs ({budget_secs:g} s); stopping "
            "this cycle, the checkpoint is unchanged"
        )

    def finished(
        self, headers: Mapping[str, str] | None, status: int = 200, ticket: int | None = None
    ) -> float | None:
        """One request is over; learn the quota's state from its ``X-RateLimit-*`` headers.

        ``headers`` is None when no answer came (a timeout, a dropped connection).
        Returns, after a 429, how long the gate is now closed. An answer to a request
        sent before one already learnt from (``ticket``) is stale: answers overtake
        each other, and an older ``X-RateLimit-Remaining`` would claim quota that later
        requests have spent meanwhile.
        """
        self._in_flight = max(0, self._in_flight - 1)
        if headers is None:
            return None
        if status == 429:
            closed_for = self.gate.close(rate_limit_wait_secs(headers.get("X-RateLimit-Reset")))
            self._learn(headers, status)
            return closed_for
        self.gate.passed()
        if ticket is not None:
            if ticket < self._learnt:
                return None
            self._learnt = ticket
        self._learn(headers, status)
        return None

    def _learn(self, headers: Mapping[str, str], status: int) -> None:
        limit = headers.get("X-RateLimit-Limit")
        if limit is not None and limit.isdigit() and int(limit) > 0:
            self.poll_budget.learn_limit(int(limit))
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
            # We went too fast anyway (another client shares the quota, or it shrank):
            # slow down, but never below twice the longest refill Mimecast ever named,
            # or a run of 429s unrelated to the pace would slow us down for good.
            self._remaining = 0
            self._longest_reset = max(self._longest_reset, wait)
            self._interval = min(max(self._interval * 1.25, wait), 2 * self._longest_reset)


class PacerRegistry:
    """One pacer (and one OAuth2 token) per credential, shared by the sources that use it."""

    def __init__(self) -> None:
        self._pacers: dict[tuple[str, ...], QuotaPacer] = {}
        self._tokens: dict[tuple[str, ...], OAuth2TokenProvider] = {}

    def tokens_for(
        self, key: tuple[str, ...], client_id: str, client_secret: SecretStr
    ) -> OAuth2TokenProvider:
        """The OAuth2 token of the credential ``key``: fetched once for all its sources."""
        provider = self._tokens.get(key)
        if provider is None:
            provider = self._tokens[key] = OAuth2TokenProvider(client_id, client_secret)
        return provider

    def for_credential(self, key: tuple[str, ...], source: str = "") -> QuotaPacer:
        """The pacer of the credential identified by ``key`` (not a secret).

        ``source`` names the credential in logs and metrics (``mimecast/<source>``):
        the first source that uses it.
        """
        pacer = self._pacers.get(key)
        if pacer is None:
            pacer = self._pacers[key] = QuotaPacer(endpoint=f"mimecast/{source or key[-1]}")
        return pacer

    def gates(self) -> list[BackpressureGate]:
        """Every credential's gate."""
        return [pacer.gate for pacer in self._pacers.values()]
