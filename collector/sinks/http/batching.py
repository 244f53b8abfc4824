"""The delivery engine shared by the HTTP sinks: batches and partial progress.

A page is encoded once per attempt (one :class:`Item` per event), split into requests
by ``max_batch_events`` and ``max_batch_bytes``, and sent. Each request's answer says,
per item, what happened (a :class:`BatchResult`): accepted, to be re-sent at once
(the rest of a partially indexed HEC batch), to be retried after a backoff (bulk items
answered 429/5xx, or a whole request that failed), rejected for good (to the
dead-letter file), or accepted but still to be confirmed (HEC indexer acknowledgement).
A request answered 413 is split in two and both halves are sent again.

One call of :meth:`BatchSender.send` is one attempt. It does not retry after a
backoff: :mod:`collector.delivery` owns every sink's retries and its one
``retry_max_secs`` budget. What is left to retry is raised as a
:class:`~collector.errors.TransientSinkError` whose ``pending`` holds only the events
not accepted yet, so the next attempt never re-sends what the receiver already took.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from collector.errors import SinkError, TransientSinkError
from collector.events import Event
from collector.sinks.http.dead_letter import DeadLetterStore, Rejection
from collector.stats import SinkStats

log = structlog.get_logger("collector.sinks.http")


@dataclass(slots=True)
class Item:
    """One event and its encoding for this sink, made once and reused by every retry."""

    event: Event
    body: bytes | memoryview
    """Its encoding; a view into its page's one buffer when the sink made it."""


@dataclass(slots=True)
class BatchResult:
    """What one request achieved. Items not listed anywhere were accepted.

    Attributes:
        retry: not accepted; send again after a backoff (with ``error`` as the reason).
        resend: not accepted; send again at once (they were never looked at).
        rejected: refused for good; they go to the dead-letter file.
        error: why ``retry`` is not empty.
        confirm: when set, the accepted items count as delivered only once this
            returns; it raises TransientSinkError to have them sent again.
        too_large: the receiver refused the request for its size (HTTP 413).
    """

    retry: list[Item] = field(default_factory=list)
    resend: list[Item] = field(default_factory=list)
    rejected: list[tuple[Item, Rejection]] = field(default_factory=list)
    error: TransientSinkError | None = None
    confirm: Callable[[], Awaitable[None]] | None = None
    too_large: bool = False


PostBatch = Callable[[list[Item], bytes], Awaitable[BatchResult]]
"""Sends one request whose body is given, and reports per item what happened."""

EncodeBatch = Callable[[list[Item]], bytes]
"""Builds one request body from the items' encodings."""


def split_batches(
    items: Sequence[Item], max_events: int, max_bytes: int, *, per_item: int = 0, fixed: int = 0
) -> list[list[Item]]:
    """Cut ``items`` into batches of at most ``max_events`` and ``max_bytes``.

    ``per_item`` bytes are added per item (separators) and ``fixed`` per batch
    (brackets). An item larger than ``max_bytes`` on its own still forms a batch.
    """
    batches: list[list[Item]] = []
    current: list[Item] = []
    size = fixed
    for item in items:
        cost = len(item.body) + per_item
        if current and (len(current) >= max_events or size + cost > max_bytes):
            batches.append(current)
            current, size = [], fixed
        current.append(item)
        size += cost
    if current:
        batches.append(current)
    return batches


class BatchSender:
    """Sends pages for one sink through ``post``; see the module docstring.

    Args:
        sink: the sink's name.
        post: sends one request.
        encode: builds a request body from items.
        max_events: ``max_batch_events``.
        max_bytes: ``max_batch_bytes``.
        dead_letters: where rejected events go.
        stats: the sink's counters (``bytes``, ``dead_lettered``).
        per_item: bytes each item adds to a body besides its encoding.
        fixed: bytes each body adds besides its items.
    """

    def __init__(
        self,
        sink: str,
        *,
        post: PostBatch,
        encode: EncodeBatch,
        max_events: int,
        max_bytes: int,
        dead_letters: DeadLetterStore,
        stats: SinkStats,
        per_item: int = 0,
        fixed: int = 0,
    ) -> None:
        self.sink = sink
        self._post = post
        self._encode = encode
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._dead_letters = dead_letters
        self._stats = stats
        self._per_item = per_item
        self._fixed = fixed

    async def send(self, items: list[Item]) -> None:
        """Send every item once; return when each is accepted or dead-lettered.

        Raises:
            TransientSinkError: some items are to be retried after a backoff; its
                ``pending`` holds their events, and only those.
            SinkError: a permanent failure (a rejected credential, dead letters that
                cannot be written).
        """
        queue = deque(
            split_batches(
                items, self._max_events, self._max_bytes, per_item=self._per_item, fixed=self._fixed
            )
        )
        retry: list[Item] = []
        error: TransientSinkError | None = None
        confirms: list[tuple[list[Item], Callable[[], Awaitable[None]]]] = []
        while queue:
            batch = queue.popleft()
            body = self._encode(batch)
            try:
                result = await self._post(batch, body)
            except TransientSinkError as exc:
                # The receiver is unwell: keep the rest of the page for the next attempt
                # instead of hammering it with every remaining request now.
                error = exc
                retry.extend(batch)
                for rest in queue:
                    retry.extend(rest)
                break
            self._stats.bytes += len(body)
            if result.too_large:
                if len(batch) > 1:
                    half = len(batch) // 2
                    queue.extendleft((batch[half:], batch[:half]))
                    log.info("batch_split", sink=self.sink, events=len(batch), bytes=len(body))
                else:
                    # One event refused for its size can never be sent: set it aside.
                    why = Rejection(413, "request_too_large", f"{len(body)} bytes alone")
                    await self._reject([(batch[0], why)])
                continue
            if result.rejected:
                await self._reject(result.rejected)
            if result.resend:
                queue.appendleft(result.resend)
            retry.extend(result.retry)
            error = result.error or error
            if result.confirm is not None:
                confirms.append((_accepted(batch, result), result.confirm))
        error = await self._confirm(confirms, retry) or error
        if retry:
            error = error or TransientSinkError(self.sink, f"{len(retry)} events to retry")
            error.pending = [item.event for item in retry]
            raise error

    async def _reject(self, rejected: list[tuple[Item, Rejection]]) -> None:
        try:
            path = await self._dead_letters.write([(item.event, why) for item, why in rejected])
        except OSError as exc:
            # Not set aside means not delivered: the page must not be acknowledged.
            where = self._dead_letters.directory
            raise SinkError(
                self.sink, f"cannot write dead letters in {where}: {exc.strerror or exc}"
            ) from exc
        self._stats.dead_lettered += len(rejected)
        first = rejected[0][1]
        log.warning(
            "events_dead_lettered",
            sink=self.sink,
            count=len(rejected),
            status=first.status,
            error_type=first.error_type,
            reason=first.reason,
            path=str(path),
        )

    async def _confirm(
        self,
        confirms: list[tuple[list[Item], Callable[[], Awaitable[None]]]],
        retry: list[Item],
    ) -> TransientSinkError | None:
        if not confirms:
            return None
        outcomes = await asyncio.gather(*(wait() for _, wait in confirms), return_exceptions=True)
        error: TransientSinkError | None = None
        for (items, _), outcome in zip(confirms, outcomes, strict=True):
            if isinstance(outcome, TransientSinkError):
                retry.extend(items)
                error = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
        return error


def _accepted(batch: list[Item], result: BatchResult) -> list[Item]:
    if not (result.retry or result.resend or result.rejected):
        return batch
    excluded = {id(item) for item in (*result.retry, *result.resend)}
    excluded.update(id(item) for item, _ in result.rejected)
    return [item for item in batch if id(item) not in excluded]
