"""Splunk HEC indexer acknowledgement: the channel, ackId polling, and the timeout.

With ``useACK`` on the token, HEC answers each request with an ``ackId`` (numbered
per channel from 0) and indexes it later; ``POST /services/collector/ack`` with
``{"acks": [ids]}`` says which ids are indexed. Three facts shape this module:

- **Splunk forgets an id once it has answered true for it**; asking again returns
  false. So every true is recorded at once, and one poll serves every pending id of
  every concurrent send.
- An ack can take minutes, or never come (an indexer died). After ``ack_timeout_secs``
  the batch is **sent again**, never dropped. It may then be indexed twice: that is
  HEC's duplicate window, since HEC has no idempotency key.
- Behind a load balancer, ids are per indexer: the sink keeps the balancer's
  stickiness cookies (one cookie jar per sink) and echoes them on every request and
  ack poll. Until it holds one, requests would be spread over the indexers, so event
  requests go one at a time until one is answered (:class:`StickyStart`).

The channel GUID is stored under the collector's state so that a restarted collector
keeps using the same channel instead of leaving idle ones behind on the indexers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson
import structlog

from collector.errors import SinkError, TransientSinkError
from collector.sinks.http.client import HttpClient
from collector.stats import SinkStats

log = structlog.get_logger("collector.sinks.http.hec")

ACK_PATH = "/services/collector/ack"
# Splunk accepts large ack queries, but one poll per thousand ids keeps bodies small.
MAX_IDS_PER_POLL = 1000

T = TypeVar("T")

AckOutcome = bool | SinkError
"""True: indexed. False: timed out (send again). SinkError: acks cannot work at all."""


def load_channel(path: Path) -> str:
    """Return the channel GUID stored at ``path``, creating it on first use."""
    with contextlib.suppress(FileNotFoundError, ValueError, UnicodeDecodeError):
        return str(uuid.UUID(path.read_text(encoding="utf-8").strip()))
    channel = str(uuid.uuid4())
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(channel + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    return channel


class StickyStart:
    """Until one event request has been answered, the others wait, and go one at a time.

    A load balancer routes a request without its stickiness cookie by its own choice,
    and sets the cookie in the answer. Requests sent at once by a fresh sink (pages
    of several catch-up slices) would land on different indexers, each numbering its
    ackIds from 0: the ids collide, the polls reach one indexer only, and batches
    indexed once are sent again. One round trip at start-up pins them all to the
    indexer that answered first. A request that got no answer (refused, dropped,
    timed out) set no cookie either, so the next one goes alone in its turn.
    """

    def __init__(self) -> None:
        self._answered = False
        self._alone = asyncio.Lock()

    async def run(self, send: Callable[[], Awaitable[T]]) -> T:
        """``send()``: alone until one has been answered, then as it comes."""
        if not self._answered:
            async with self._alone:
                if not self._answered:
                    answer = await send()  # raises when no answer came
                    self._answered = True
                    return answer
        return await send()


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[AckOutcome]
    deadline: float


AckCheck = Callable[[list[int]], Awaitable[set[int]]]
"""Asks HEC about some ackIds; returns those indexed. Raises SinkError/TransientSinkError."""


class AckTracker:
    """Waits for HEC indexer acknowledgements; one per sink.

    Args:
        sink: the sink's name.
        check: asks HEC which ids are indexed (one ``/ack`` request).
        poll_interval_secs: time between polls while any id is pending.
        timeout_secs: how long an id may stay pending before its batch is re-sent (once
            a poll sent after that still finds it unindexed).
        stats: the sink's counters; a batch re-sent for want of an ack counts in
            ``resent`` (each a possible duplicate).
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        sink: str,
        check: AckCheck,
        *,
        poll_interval_secs: float,
        timeout_secs: float,
        stats: SinkStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stats = stats
        self.sink = sink
        self._check = check
        self._interval = poll_interval_secs
        self._timeout = timeout_secs
        self._clock = clock
        self._pending: dict[int, _Waiter] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Number of ackIds still waited for."""
        return len(self._pending)

    def expect(self, ack_id: int) -> Callable[[], Awaitable[None]]:
        """Start waiting for ``ack_id``; returns the coroutine function that waits."""
        old = self._pending.pop(ack_id, None)
        if old is not None and not old.future.done():
            # The same id again: HEC restarted its numbering (restart, another indexer).
            # The old batch's fate is unknown: treat it as timed out, i.e. send it again.
            old.future.set_result(False)
        waiter = _Waiter(asyncio.get_running_loop().create_future(), self._clock() + self._timeout)
        self._pending[ack_id] = waiter
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll_loop(), name=f"hec-acks-{self.sink}")

        async def confirm() -> None:
            try:
                outcome = await waiter.future
            finally:
                if self._pending.get(ack_id) is waiter:
                    del self._pending[ack_id]
            if outcome is True:
                return
            if isinstance(outcome, SinkError):
                raise outcome
            self._stats.resent += 1
            raise TransientSinkError(
                self.sink,
                f"no indexer acknowledgement for ackId {ack_id} within "
                f"{self._timeout:g}s (ack_timeout_secs); sending the batch again, so it "
                "may be indexed twice",
            )

        return confirm

    async def aclose(self) -> None:
        """Stop polling; whoever still waits gets a SinkError."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._resolve_all(SinkError(self.sink, "closed before the indexer acknowledged"))

    async def _poll_loop(self) -> None:
        while self._pending:
            await asyncio.sleep(self._interval)
            # Ask first, expire after: an id times out only when a poll sent after its
            # deadline still finds it unindexed. Expiring on waking would re-send
            # batches that were indexed long ago whenever the loop ran late (a busy
            # host, a poll held at the gate), and every needless re-send is a double.
            asked_at = self._clock()
            ids = list(self._pending)
            for start in range(0, len(ids), MAX_IDS_PER_POLL):
                await self._poll(ids[start : start + MAX_IDS_PER_POLL])
            self._expire(ids, asked_at)

    async def _poll(self, ids: list[int]) -> None:
        try:
            indexed = await self._check(ids)
        except TransientSinkError as exc:
            # Not fatal: the ids stay pending until they are acked or time out.
            log.warning("hec_ack_poll_failed", sink=self.sink, ids=len(ids), error=str(exc))
            return
        except SinkError as exc:
            self._resolve_all(exc)
            return
        for ack_id in indexed:
            # Recorded now: HEC has already forgotten this id.
            waiter = self._pending.pop(ack_id, None)
            if waiter is not None and not waiter.future.done():
                waiter.future.set_result(True)

    def _expire(self, asked: list[int], asked_at: float) -> None:
        """Time out the ``asked`` ids still pending whose deadline had passed by
        ``asked_at`` (a failed poll counts as a no: re-sending never loses a batch)."""
        for ack_id in asked:
            waiter = self._pending.get(ack_id)
            if waiter is not None and asked_at >= waiter.deadline:
                del self._pending[ack_id]
                if not waiter.future.done():
                    waiter.future.set_result(False)

    def _resolve_all(self, outcome: AckOutcome) -> None:
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            if not waiter.future.done():
                waiter.future.set_result(outcome)


def ack_checker(
    http: HttpClient, url: str, headers: Mapping[str, str], describe: Callable[..., SinkError]
) -> AckCheck:
    """Build the :data:`AckCheck` that polls ``url`` through the sink's client.

    ``describe(reply, what)`` turns an error answer into the sink's error.
    """

    async def check(ids: list[int]) -> set[int]:
        body = orjson.dumps({"acks": ids})
        # Splunk documents gzip for /event and /raw only: polls go uncompressed.
        reply = await http.request("POST", url, body=body, headers=headers, compress=False)
        if reply.status != 200:
            raise describe(reply, "ack poll")
        answer = reply.json()
        acks = answer.get("acks") if isinstance(answer, dict) else None
        if not isinstance(acks, dict):
            raise TransientSinkError(http.sink, f"ack poll: unexpected answer {reply.quote()}")
        return {int(key) for key, value in acks.items() if value is True and key.isdigit()}

    return check
