"""What the three HTTP sinks have in common as sinks: lifecycle, encoding, delivery.

A concrete sink says how to encode one event, how to join encodings into a body,
which headers to send, and how to read its receiver's answer to one request
(``_post``); everything else (batching, partial progress, dead letters, stats) is here
and in :mod:`.batching`. Retries are not: :mod:`collector.delivery` owns them.
"""

from __future__ import annotations

import httpx

from collector.events import Batch, Event
from collector.gate import BackpressureGate
from collector.retry import RetryPolicy
from collector.secrets import redact_url
from collector.sinks import SinkContext, not_started
from collector.sinks.http.batching import BatchResult, BatchSender, Item
from collector.sinks.http.client import HttpClient, refusal_of
from collector.sinks.http.common import HttpSinkBaseConfig, Reply
from collector.sinks.http.dead_letter import DeadLetterStore, dead_letter_directory


class HttpSinkBase:
    """Base class of the HTTP sinks (the :class:`~collector.sinks.Sink` protocol).

    Args:
        name: the sink's name in the config.
        config: its validated config.
        context: state directory and counters from the collector.
        retry: the sink's retry policy (default: ``config.retry_policy()``), the same
            one :mod:`collector.delivery` retries with: the sink's gate runs on its
            clock and refusal backoff, and waits at most its budget.
        transport: an httpx transport instead of the network (tests).
    """

    per_item_bytes = 0
    """Bytes a body adds per event besides the event's encoding (separators)."""
    fixed_bytes = 0
    """Bytes a body adds besides its events (brackets)."""

    def __init__(
        self,
        name: str,
        config: HttpSinkBaseConfig,
        context: SinkContext,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.stats = context.stats
        self._base_config = config
        self._context = context
        self._retry = retry or config.retry_policy()
        # One gate for every request of this sink, whatever page it carries: a receiver
        # that sheds load does so for all of them (see collector.gate). Its waits run on
        # the retry policy's clock, so that a retry and the gate agree on the time.
        self.gate = BackpressureGate(
            f"sink {name}",
            policy=self._retry,
            stats=self.stats.backpressure,
            clock=self._retry.clock,
            sleep=self._retry.sleep,
        )
        self._transport = transport
        self.dead_letters = DeadLetterStore(
            name, dead_letter_directory(context.state_dir, name, config.dead_letter_dir)
        )
        self._client: HttpClient | None = None
        self._sender: BatchSender | None = None

    @property
    def http(self) -> HttpClient:
        """The started client. Raises SinkError before ``start``."""
        if self._client is None:
            raise not_started(self.name, "a request")
        return self._client

    async def start(self) -> None:
        """Open the connection pool.

        Raises:
            ConfigError: a TLS file cannot be loaded.
        """
        config = self._base_config
        await self.aclose()
        self._client = HttpClient(
            self.name,
            config,
            headers=self.headers(),
            gate=self.gate,
            budget_secs=self._retry.max_secs,
            refusal=self.refusal_of,
            transport=self._transport,
        )
        self._sender = BatchSender(
            self.name,
            post=self._post,
            encode=self.encode_batch,
            max_events=config.max_batch_events,
            max_bytes=config.max_batch_bytes,
            dead_letters=self.dead_letters,
            stats=self.stats,
            per_item=self.per_item_bytes,
            fixed=self.fixed_bytes,
        )

    async def send(self, events: Batch) -> None:
        """One attempt at a page; returning means every event is accepted or dead-lettered.

        Raises:
            TransientSinkError: worth retrying; ``pending`` holds the events not
                accepted yet, which are all the next attempt needs to send.
            SinkError: a permanent error such as a rejected credential.
        """
        if not events:
            return
        if self._sender is None:
            raise not_started(self.name)
        await self._sender.send(self._page_items(events))

    def _page_items(self, events: Batch) -> list[Item]:
        # One buffer for the page, each item a view of its slice: 500 encodings kept
        # alive as separate allocations until the request was built held about 10 MiB
        # more at peak (HEC, four catch-up slices).
        encode = self.encode
        buffer = bytearray()
        ends: list[int] = []
        for event in events:
            buffer += encode(event)
            ends.append(len(buffer))
        page = memoryview(bytes(buffer))
        starts = [0, *ends[:-1]]
        return [
            Item(event, page[start:end])
            for event, start, end in zip(events, starts, ends, strict=True)
        ]

    async def aclose(self) -> None:
        """Close connections and the dead-letter file. Safe to call twice."""
        client, self._client = self._client, None
        self._sender = None
        if client is not None:
            await client.aclose()
        await self.dead_letters.aclose()

    # What each sink provides.

    def headers(self) -> dict[str, str]:
        """Headers of every request (authorization, content type)."""
        return {}

    def refusal_of(self, reply: Reply) -> str | None:
        """How ``reply`` refuses for the whole receiver, closing the gate (429, 503)."""
        return refusal_of(reply)

    def encode(self, event: Event) -> bytes:
        """One event as this sink sends it; called once per event per page."""
        raise NotImplementedError

    def encode_batch(self, items: list[Item]) -> bytes:
        """A request body from its items (default: concatenated)."""
        return b"".join([item.body for item in items])

    async def _post(self, batch: list[Item], body: bytes) -> BatchResult:
        raise NotImplementedError

    def __repr__(self) -> str:
        endpoint = redact_url(self._base_config.endpoint)
        return f"{type(self).__name__}(name={self.name!r}, endpoint={endpoint!r})"
