"""Quota-aware pacing: spend Mimecast's request quota evenly instead of hitting 429s.

Mimecast's quota is a leaky bucket: every response carries ``X-RateLimit-Limit``
(the bucket), ``X-RateLimit-Remaining`` (whole requests left once this one was
counted) and ``X-RateLimit-Reset`` (milliseconds until at least one more request is
added back). The pacer keeps a local mirror of that bucket:

- every request is debited when it is *sent*, so requests in flight are never
  spent twice;
- the mirror refills only with elapsed time, at one request per refill interval
  (the longest ``Reset`` seen below a full bucket: Reset is never longer than one
  interval);
- each fresh answer can only lower the mirror to what the server counted (its
  ``Remaining``, plus the part of the next request already refilled, minus every
  request sent after it), and raises it only to a bound that also counts the
  requests still open when it was sent (they may have been served after it).

A request goes at once while the mirror holds more than ``reserve``; below that it
waits until the mirror has one whole request on top of what it holds, so a long
drain runs at the quota's own rate. An answer that shows the bucket below the
reserve lowers what is held (waiting to rebuild it would idle the quota).

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
import math
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
        # The mirror: requests left in Mimecast's bucket as of ``_tokens_at`` (None:
        # nothing known, so nothing paced). Fractional: a part of the next request
        # may have refilled already; negative: more were sent than the bucket held.
        self._tokens: float | None = None
        self._tokens_at = 0.0
        self._hold = reserve
        self._limit: int | None = None
        self._interval = 0.0
        self._longest_reset = 0.0
        # Sending order: a ticket per request, and how many were still open (sent,
        # not answered) when each open one was sent.
        self._tickets = 0
        self._open_at_send: dict[int, int] = {}
        self._in_flight = 0
        self._learnt = 0
        self.waited_secs = 0.0
        # Set once the first request of this credential is over. Until then nothing is
        # known of the quota, so the others wait for it rather than burst into a bucket
        # that may hold fewer (three sources of four slices would send 12 at once).
        self._first_over = asyncio.Event()

    async def acquire(self, budget_secs: float | None = None) -> int:
        """Wait, if needed, before sending one request; pair with :meth:`finished`.

        Returns the request's ticket (its place in sending order) for :meth:`finished`.

        The quota's pace first, then the gate: a request paced past a 429 that
        arrived meanwhile still stops at the gate.
        """
        async with self._lock:
            if self._tickets and not self._first_over.is_set():
                await self._first_over.wait()
            # Holding the lock while waiting queues the other requests behind us,
            # each one refill interval later. An answer that arrives meanwhile may
            # lower the mirror: look again after each wait.
            while (wait := self._pace_secs()) > 0:
                self._check_budget(wait, budget_secs)
                if wait >= LOG_WAIT_SECS:
                    log.warning(
                        "quota_pacing_wait",
                        endpoint=self.gate.endpoint,
                        wait_secs=round(wait, 3),
                        message="X-RateLimit-Remaining is down to the reserve: waiting "
                        "for the quota to refill",
                    )
                self.waited_secs += wait
                await self._sleep(wait)
            if self._tokens is not None:
                self._tokens -= 1
            self._tickets += 1
            ticket = self._tickets
            self._open_at_send[ticket] = self._in_flight
            self._in_flight += 1
        try:
            await self.gate.wait(budget_secs)
        except BaseException:
            self._close(ticket)
            raise
        return ticket

    def _pace_secs(self) -> float:
        """How long the next request must wait for the mirror to hold enough."""
        self._refill()
        if self._tokens is None:
            return 0.0
        if self._tokens >= self._reserve + 1:
            self._hold = self._reserve
        short = self._hold + 1 - self._tokens
        # Without a known refill interval there is no pace to keep (the gate still
        # honours 429s): better than stalling on a guess.
        return short * self._interval if short > 1e-9 and self._interval > 0 else 0.0

    def _refill(self) -> None:
        now = self._clock()
        if self._tokens is not None and self._interval > 0:
            self._tokens += (now - self._tokens_at) / self._interval
            if self._limit is not None:
                self._tokens = min(self._tokens, float(self._limit))
        self._tokens_at = now

    def _check_budget(self, wait: float, budget_secs: float | None) -> None:
        if budget_secs is None or wait <= budget_secs:
            return
        # Forget what we learnt: the next cycle sends one request and learns afresh.
        self._tokens = None
        self._interval = self._longest_reset = 0.0
        self._hold = self._reserve
        raise BackpressureTooLongError(
            f"{self.gate.endpoint}: X-RateLimit-Reset asks to wait {describe_secs(wait)} for "
            f"the quota to refill, longer than retry_max_secs ({budget_secs:g} s); stopping "
            "this cycle, the checkpoint is unchanged"
        )

    def _close(self, ticket: int | None) -> int:
        """One request is over: how many others were open when it was sent."""
        self._first_over.set()
        self._in_flight = max(0, self._in_flight - 1)
        return self._open_at_send.pop(ticket, 0) if ticket is not None else 0

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
        opened = self._close(ticket)
        if headers is None:
            return None
        if ticket is None:
            # Unknown order: an answer counts every open request as sent after it; a
            # refusal none (the gate now holds them all back for its Reset).
            sent_after, opened = (0 if status == 429 else self._in_flight), 0
        else:
            sent_after = self._tickets - ticket
        if status == 429:
            closed_for = self.gate.close(rate_limit_wait_secs(headers.get("X-RateLimit-Reset")))
            self._learn(headers, status, sent_after, opened)
            return closed_for
        self.gate.passed()
        if ticket is not None:
            if ticket < self._learnt:
                return None
            self._learnt = ticket
        self._learn(headers, status, sent_after, opened)
        return None

    def _learn(self, headers: Mapping[str, str], status: int, sent_after: int, opened: int) -> None:
        """Reconcile the mirror with one answer.

        ``sent_after``: requests sent after this one (the server had not counted
        them); ``opened``: requests still open when it was sent (it may or may not
        have counted them).
        """
        limit = headers.get("X-RateLimit-Limit")
        if limit is not None and limit.isdigit() and int(limit) > 0:
            self._limit = int(limit)
            self.poll_budget.learn_limit(self._limit)
        remaining = headers.get("X-RateLimit-Remaining")
        if remaining is None or not remaining.isdigit():
            # No quota information (e.g. an answer from a proxy or gateway that strips
            # it): what we knew is stale, so stop pacing rather than crawl forever.
            self._tokens = None
            return
        left = int(remaining)
        wait = rate_limit_wait_secs(headers.get("X-RateLimit-Reset")) or 0.0
        if wait > 0 and (self._limit is None or left < self._limit):
            # Below a full bucket, Reset is the time until the next whole request is
            # refilled: at most one refill interval, often less (a part had refilled
            # already). The longest seen is the best estimate of the interval.
            self._interval = max(self._interval, wait)
        if status == 429:
            # We went too fast anyway (another client shares the quota, or it shrank):
            # slow down, but never below twice the longest refill Mimecast ever named,
            # or a run of 429s unrelated to the pace would slow us down for good.
            left = 0
            self._longest_reset = max(self._longest_reset, wait)
            self._interval = min(max(self._interval * 1.25, wait), 2 * self._longest_reset)
        # The part of the next request refilled when this one was served; the
        # refill since then (the answer's way back) is not credited: a safe margin.
        refilled = min(1.0, max(0.0, 1 - wait / self._interval)) if self._interval > 0 else 0.0
        counted = left + refilled - sent_after
        self._refill()
        if self._tokens is None:
            self._tokens = counted - opened
        elif status == 429:
            self._tokens = min(self._tokens, counted)
        else:
            # Lower to what the server counted; raise only to what it surely has,
            # had it served every request open at the time after this one.
            self._tokens = max(min(self._tokens, counted), counted - opened)
        if self._tokens < self._hold:
            self._hold = max(0, math.floor(self._tokens))


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
