"""The ``kafka`` sink: each click one message, through librdkafka's idempotent producer.

Why confluent-kafka (librdkafka) rather than aiokafka: its idempotent producer is the
reference implementation (ordered, no doubles from its own retries), every compression
codec and SASL PLAIN/SCRAM ship inside the wheel, and it is what Kafka's own tooling is
tested against. Its callbacks run on a thread of ours that polls the producer; a page
waits on one future that the last delivery report completes.

A page counts as delivered only when every message's delivery report came back
successful (``acks=all``). What a failed report means:

- too large for ``max_message_bytes``, or refused by the broker as an invalid record:
  that click can never be written, so it goes to the dead letters;
- authorization or authentication refused: the page fails (no retry), the checkpoint
  holds, and the error names Kafka's code;
- anything else (broker down, leader moved, timeouts): the page is retried by the
  pipeline within ``retry_max_secs``. The messages already acknowledged are remembered
  and not sent again; those whose outcome is unknown (timed out) are, and Kafka may
  then hold them twice. They carry the same key (the event id), and the count is logged
  as ``unconfirmed`` and kept in :attr:`KafkaSink.unconfirmed_resent`.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections import OrderedDict
from typing import TYPE_CHECKING

import orjson
import structlog

from collector.errors import SinkError, TransientSinkError
from collector.events import Batch, Event
from collector.sinks import SinkContext, not_started
from collector.sinks.encoding import encode_ndjson
from collector.sinks.http.dead_letter import DeadLetterStore, Rejection, dead_letter_directory
from collector.sinks.kafka_client import (
    REFUSED,
    TIMED_OUT,
    TOO_LARGE,
    PolledProducer,
    Reports,
    describe,
)
from collector.sinks.kafka_config import MAX_TOPIC_CHARS, KafkaSinkConfig

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Producer

log = structlog.get_logger("collector.sinks.kafka")

KIND = "url"
"""The kind of log this collector reads; ``{kind}`` in a topic template."""
# Pages whose partial progress is remembered, so a retry skips what Kafka acknowledged.
REMEMBERED_PAGES = 64
# Beyond the producer's own delivery timeout, how long a page waits for its reports.
REPORT_GRACE_SECS = 30.0
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class KafkaSink:
    """Produces clicks to Kafka; see the module docstring."""

    def __init__(self, name: str, config: KafkaSinkConfig, context: SinkContext) -> None:
        self.name = name
        self.config = config
        self.stats = context.stats
        self.dead_letters = DeadLetterStore(
            name, dead_letter_directory(context.state_dir, name, config.dead_letter_dir)
        )
        self.unconfirmed_resent = 0
        """Clicks sent again after their first outcome stayed unknown (possible doubles)."""
        self._producer: PolledProducer | None = None
        self._last_client_error: KafkaError | None = None
        self._acknowledged: OrderedDict[tuple[str, str, int], set[str]] = OrderedDict()
        self._topics: dict[str, str] = {}

    async def start(self) -> None:
        """Create the producer (it connects on first use).

        Raises:
            SinkError: confluent-kafka is not installed, or librdkafka refuses a setting.
        """
        await self.aclose()
        self._producer = self._new_producer()

    def _new_producer(self) -> PolledProducer:
        return PolledProducer(self.name, self.config.producer_settings(), self._client_error)

    def _client_error(self, error: KafkaError) -> None:
        # Connection-level trouble (all brokers down, TLS, SASL) is reported here, not per
        # message; it explains a page that times out.
        self._last_client_error = error

    def _topic(self, source: str) -> str:
        topic = self._topics.get(source)
        if topic is None:
            topic = self.config.topic.format(source=source, kind=KIND)
            topic = _TOPIC_UNSAFE.sub("_", topic)[:MAX_TOPIC_CHARS]
            self._topics[source] = topic
        return topic

    def _encode(self, event: Event) -> bytes:
        if self.config.format == "raw":
            return orjson.dumps(event.data)
        return encode_ndjson([event], self.config.format)[:-1]

    async def send(self, events: Batch) -> None:
        """Produce one page; return once Kafka acknowledged every click (or dead-lettered it).

        Raises:
            TransientSinkError: some clicks were not acknowledged (worth retrying).
            SinkError: Kafka refused the producer for good (authorization).
        """
        if not events:
            return
        handle = self._producer
        if handle is None:
            raise not_started(self.name)
        page = (events[0].event_id, events[-1].event_id, len(events))
        acknowledged = self._acknowledged.get(page, set())
        todo = [event for event in events if event.event_id not in acknowledged]
        reports = Reports(asyncio.get_running_loop(), len(todo))
        await self._produce(handle.producer, todo, reports)
        try:
            async with asyncio.timeout(self.config.delivery_timeout_secs + REPORT_GRACE_SECS):
                await reports.done
        except TimeoutError:
            pass  # reports still missing count as unknown outcomes below
        await self._settle(page, todo, reports, acknowledged, handle)

    async def _produce(self, producer: Producer, todo: list[Event], reports: Reports) -> None:
        from confluent_kafka import KafkaException

        by_key = self.config.key == "event_id"
        for index, event in enumerate(todo):
            callback = functools.partial(reports.report, index)
            while True:
                try:
                    producer.produce(
                        self._topic(event.source),
                        self._encode(event),
                        event.event_id if by_key else None,
                        on_delivery=callback,
                        timestamp=event.time * 1000,
                    )
                    break
                except BufferError:
                    await asyncio.sleep(0.005)  # the local queue is full: let it drain
                except KafkaException as exc:
                    reports.report(index, exc.args[0])  # refused before sending (too large)
                    break

    async def _settle(
        self,
        page: tuple[str, str, int],
        todo: list[Event],
        reports: Reports,
        acknowledged: set[str],
        handle: PolledProducer,
    ) -> None:
        rejected: list[tuple[Event, Rejection]] = []
        refused: KafkaError | None = None
        retry: KafkaError | None = None
        unknown = 0
        stuck = not reports.done.done()
        for event, error, reported in zip(todo, reports.errors, reports.reported, strict=True):
            if not reported:
                unknown += 1
            elif error is None:
                acknowledged.add(event.event_id)
            elif error.code() in TOO_LARGE:
                rejected.append((event, Rejection(0, error.name(), describe(error))))
            elif error.code() in REFUSED:
                refused = error
            else:
                retry, unknown = error, unknown + 1
                stuck = stuck or error.fatal() or error.code() == TIMED_OUT
        if rejected:
            await self._reject(rejected)
        if refused is not None:
            raise SinkError(self.name, f"Kafka refused the page: {describe(refused)}")
        if retry is None and unknown == 0:
            self._acknowledged.pop(page, None)
            return
        if stuck:
            await self._replace_producer(handle)
        self._remember(page, acknowledged)
        self.unconfirmed_resent += unknown
        self.stats.resent += bool(unknown)  # a batch whose outcome is unknown will be sent again
        raise TransientSinkError(self.name, self._retry_reason(retry, unknown, len(todo)))

    def _retry_reason(self, error: KafkaError | None, unknown: int, total: int) -> str:
        cause = error if error is not None else self._last_client_error
        why = describe(cause) if cause is not None else "no delivery report in time"
        if cause is not None and cause.code() == -192 and self._last_client_error is not None:
            why += f" (last broker error: {describe(self._last_client_error)})"
        log.warning("kafka_page_retry", sink=self.name, unconfirmed=unknown, reason=why)
        return f"{unknown} of {total} clicks not acknowledged by Kafka: {why}"

    def _remember(self, page: tuple[str, str, int], acknowledged: set[str]) -> None:
        self._acknowledged[page] = acknowledged
        self._acknowledged.move_to_end(page)
        while len(self._acknowledged) > REMEMBERED_PAGES:
            self._acknowledged.popitem(last=False)

    async def _reject(self, rejected: list[tuple[Event, Rejection]]) -> None:
        try:
            path = await self.dead_letters.write(rejected)
        except OSError as exc:
            where = self.dead_letters.directory
            raise SinkError(
                self.name, f"cannot write dead letters in {where}: {exc.strerror or exc}"
            ) from exc
        self.stats.dead_lettered += len(rejected)
        why = rejected[0][1]
        log.warning(
            "events_dead_lettered",
            sink=self.name,
            count=len(rejected),
            error_type=why.error_type,
            reason=why.reason,
            path=str(path),
        )

    async def _replace_producer(self, broken: PolledProducer) -> None:
        # A producer whose messages time out may never recover (an idempotent producer
        # whose broker restarted empty keeps waiting for state that is gone), and a fatal
        # error leaves it unusable: the retry gets a new one. Its leftover messages are
        # purged, so every page still waiting on it is answered and retried too.
        if self._producer is not broken:
            return  # another page replaced it already
        log.warning("kafka_producer_replaced", sink=self.name)
        self._producer = self._new_producer()
        await asyncio.to_thread(broken.close, purge=True)

    async def healthcheck(self) -> None:
        """Fetch the cluster's metadata: the brokers answer and accept our credentials.

        Raises:
            SinkError: no broker answered within ``delivery_timeout_secs``.
        """
        from confluent_kafka import KafkaException

        handle = self._producer
        if handle is None:
            raise not_started(self.name, "healthcheck()")
        try:
            await asyncio.to_thread(
                handle.producer.list_topics, timeout=self.config.delivery_timeout_secs
            )
        except KafkaException as exc:
            raise SinkError(self.name, f"no answer from Kafka: {describe(exc.args[0])}") from None

    async def aclose(self) -> None:
        """Stop polling and drop the producer. Safe to call twice."""
        handle, self._producer = self._producer, None
        if handle is not None:
            # Nothing should be in flight (send waits); anything left is dropped, not waited on.
            await asyncio.to_thread(handle.close, purge=False)
        await self.dead_letters.aclose()

    def __repr__(self) -> str:
        servers = ",".join(self.config.bootstrap_servers)
        return f"KafkaSink(name={self.name!r}, bootstrap_servers={servers!r})"
