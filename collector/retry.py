"""The one retry policy. Every retry in the collector goes through here.

What is retried is decided by the exception type alone: anything that is a
:class:`~collector.errors.RetryableError` (5xx, 429, timeouts, dropped
connections, unparseable bodies, ``retryable: true`` errors, a receiver that is
down). Everything else fails at once, so a wrong password never turns into a
retry storm. Which HTTP statuses make such an error is one table for Mimecast and
every HTTP sink: :data:`RETRYABLE_STATUSES`.

How long to wait:

- when the remote side said how long (``X-RateLimit-Reset``, ``Retry-After``),
  at least that long, plus a little jitter so that several collectors sharing a
  quota do not all come back in the same millisecond;
- otherwise exponential backoff with full jitter: a random wait between 0 and
  ``min(max_backoff_secs, initial_backoff_secs * 2 ** (attempt - 1))``.

When to give up: when the next wait would take the time spent on this operation
past ``max_secs``. The error then propagates and the cycle fails with the
checkpoint unchanged; the next cycle starts over. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from collector.errors import RetryableError

T = TypeVar("T")

# An endpoint that asks for a longer wait than this is not believed: no quota Mimecast
# or a receiver documents refills more slowly than hourly.
MAX_REFUSAL_WAIT_SECS = 3600.0

RETRYABLE_STATUSES = frozenset({408, 429, *range(500, 600)} - {501})
"""HTTP statuses worth retrying, for the Mimecast source and every HTTP sink alike: 408
(the server gave up waiting for the request), 429 (throttled) and every 5xx but 501 (a
method the server does not implement will not appear by retrying). Timeouts and dropped
connections are retried too; they have no status."""


def is_retryable_status(status: int) -> bool:
    """Whether an answer with HTTP ``status`` is worth retrying (see RETRYABLE_STATUSES)."""
    return status in RETRYABLE_STATUSES


RetryHook = Callable[[BaseException, float], None]
"""Called before each wait with the error and the seconds about to be waited."""

log = structlog.get_logger("collector.retry")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Budget and backoff shape for one kind of operation.

    ``sleep``, ``clock`` and ``rng`` are injectable so tests can assert the exact
    attempts and waits without waiting.
    """

    max_secs: float = 300.0
    initial_backoff_secs: float = 1.0
    max_backoff_secs: float = 60.0
    # The jitter added on top of a server-requested wait: 10% of it, at most this much.
    max_extra_jitter_secs: float = 2.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def wait_for(self, error: BaseException, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        requested = getattr(error, "retry_after_secs", None)
        if requested is not None and requested >= 0:
            extra = min(self.max_extra_jitter_secs, 0.1 * requested + 0.05)
            return float(requested) + self.rng.uniform(0, extra)
        ceiling = min(self.max_backoff_secs, self.initial_backoff_secs * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    def refusal_wait(self, requested: float | None, refusals: int) -> float:
        """How long an endpoint's gate stays shut after its ``refusals``-th refusal in a row.

        ``requested`` is what the endpoint asked for (``X-RateLimit-Reset``,
        ``Retry-After``). Zero, negative, NaN or missing is no figure at all, and
        answering it at once is a retry storm: then the backoff applies, with its
        lower half fixed so that a whole endpoint never comes back at once.
        """
        if requested is not None and math.isfinite(requested) and requested > 0:
            requested = min(requested, MAX_REFUSAL_WAIT_SECS)
            return requested + self.rng.uniform(0, min(self.max_extra_jitter_secs, 0.1 * requested))
        ceiling = min(self.max_backoff_secs, self.initial_backoff_secs * 2.0 ** (refusals - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        what: str,
        on_retry: RetryHook | None = None,
    ) -> T:
        """Run ``operation`` until it succeeds, fails for good, or the budget is spent.

        ``what`` names the operation in the log line written before each wait.
        The last error is re-raised as it is when the policy gives up.
        """
        started = self.clock()

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.wait_for(error, state.attempt_number) if error else 0.0

        def out_of_budget(state: RetryCallState) -> bool:
            upcoming = state.upcoming_sleep or 0.0
            return self.clock() - started + upcoming > self.max_secs

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if error is None:
                return
            waited = state.upcoming_sleep or 0.0
            log.warning(
                "retrying",
                what=what,
                attempt=state.attempt_number,
                wait_secs=round(waited, 3),
                error=str(error),
                error_type=type(error).__name__,
                request_id=getattr(error, "request_id", None),
            )
            if on_retry is not None:
                on_retry(error, waited)

        retrying = AsyncRetrying(
            sleep=self.sleep,
            retry=retry_if_exception_type(RetryableError),
            wait=wait,
            stop=out_of_budget,
            before_sleep=before_sleep,
            reraise=True,
        )

        async def attempt() -> T:
            # tenacity awaits only coroutine *functions*; a lambda returning a
            # coroutine would be taken for a plain function and never awaited.
            return await operation()

        return await retrying(attempt)
