"""Fan-out: one page to every sink of a source, returning only when all acknowledged.

This module owns the retries of every sink (the contract is in :mod:`collector.sinks`):
a sink's ``send`` is one attempt, and a :class:`~collector.errors.TransientSinkError`
is retried here within the sink's one ``retry_max_secs`` budget, re-sending only the
events it reports as ``pending``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from collector.errors import CollectorError, SinkError, TransientSinkError
from collector.events import Batch
from collector.retry import RetryPolicy
from collector.sinks import Sink
from collector.stats import SinkStats

log = structlog.get_logger("collector.delivery")


@dataclass(slots=True)
class SinkHandle:
    """A started sink with the retry budget and counters that go with it."""

    name: str
    sink: Sink
    retry: RetryPolicy
    stats: SinkStats = field(default_factory=SinkStats)


async def deliver(handles: Sequence[SinkHandle], events: Batch) -> None:
    """Send ``events`` to every sink at once; return when every sink acknowledged.

    Transient failures are retried per sink by its retry policy. If any sink
    still fails, the first failure is raised once all sinks are done, so no send
    is left half-way; the caller then keeps its checkpoint, and the sinks that
    did deliver will see the page again (at-least-once).
    """
    if not events or not handles:
        return
    results = await asyncio.gather(
        *(_send(handle, events) for handle in handles), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _send(handle: SinkHandle, events: Batch) -> None:
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(sink=handle.name):
        try:
            await _send_with_retries(handle, events)
        except CollectorError as exc:
            handle.stats.errors[type(exc).__name__] += 1
            raise
        except Exception as exc:  # a bug in a sink must still fail cleanly, with its name
            handle.stats.errors[type(exc).__name__] += 1
            log.exception("sink_crashed", error_type=type(exc).__name__)
            raise SinkError(handle.name, f"unexpected {type(exc).__name__}: {exc}") from exc
    handle.stats.send_latency.observe(time.monotonic() - started)
    handle.stats.events += len(events)
    handle.stats.batches += 1


async def _send_with_retries(handle: SinkHandle, events: Batch) -> None:
    """Attempt the page until it is delivered, fails for good, or the budget is spent."""
    pending = events
    attempts = 0

    async def attempt() -> None:
        nonlocal pending, attempts
        attempts += 1
        try:
            await handle.sink.send(pending)
        except TransientSinkError as exc:
            if exc.pending is not None:
                pending = exc.pending  # partial progress: the rest only, next time
            raise

    def count_retry(error: BaseException, _wait: float) -> None:
        handle.stats.retries += 1
        handle.stats.errors[type(error).__name__] += 1

    policy = handle.retry
    started = policy.clock()
    try:
        await policy.call(attempt, what=f"sink {handle.name}", on_retry=count_retry)
    except TransientSinkError as exc:
        reason = str(exc).removeprefix(f"sink {handle.name}: ")
        raise SinkError(
            handle.name,
            f"{len(pending)} of {len(events)} events not delivered after {attempts} "
            f"attempts in {policy.clock() - started:.0f}s (retry_max_secs); last error: {reason}",
        ) from exc
