"""The producer side of the ``kafka`` sink: a librdkafka producer and the thread that polls it.

confluent-kafka is imported only here and only when a producer is made, so that a
config naming no Kafka sink never needs it installed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from collector.errors import SinkError
from collector.secrets import scrub

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Producer

INSTALL_HINT = "pip install 'mimecast-collector[kafka]'"

# Kafka error codes by what they mean for a click (librdkafka's names).
TOO_LARGE = frozenset({10, 87})  # MSG_SIZE_TOO_LARGE, INVALID_RECORD: never writable
REFUSED = frozenset({17, 29, 31, 58, -169})  # TOPIC_EXCEPTION, TOPIC_/CLUSTER_AUTHORIZATION_
# FAILED, SASL_AUTHENTICATION_FAILED, _AUTHENTICATION: the config must change
TIMED_OUT = -192  # _MSG_TIMED_OUT: the outcome is unknown


def describe(error: KafkaError) -> str:
    """``NAME: words`` of a Kafka error, secrets scrubbed."""
    return scrub(f"{error.name()}: {error.str()}")


class Reports:
    """The delivery reports of one page, filled in by the polling thread.

    ``done`` completes when the last report arrives; ``reported[i]`` says whether
    message ``i`` has one, and ``errors[i]`` is its error (None: acknowledged).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.errors: list[KafkaError | None] = [None] * count
        self.reported = [False] * count
        self.done: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._waiting = count
        self._lock = threading.Lock()
        if not count:
            self.done.set_result(None)

    def report(self, index: int, error: KafkaError | None, _message: Any = None) -> None:
        """Record message ``index``'s outcome (called on the polling thread)."""
        with self._lock:
            if self.reported[index]:
                return
            self.errors[index] = error
            self.reported[index] = True
            self._waiting -= 1
            last = self._waiting == 0
        if last:
            self._loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class PolledProducer:
    """One librdkafka producer and the thread that serves its delivery reports.

    Args:
        sink: the sink's name, for errors.
        settings: librdkafka settings (``KafkaSinkConfig.producer_settings``).
        on_error: called with connection-level errors (all brokers down, TLS, SASL).
    """

    def __init__(
        self, sink: str, settings: dict[str, Any], on_error: Callable[[KafkaError], None]
    ) -> None:
        try:
            from confluent_kafka import KafkaException, Producer
        except ImportError:
            raise SinkError(sink, f"the kafka sink needs confluent-kafka: {INSTALL_HINT}") from None
        settings = {
            **settings,
            "error_cb": on_error,
            # librdkafka's own lines go through the stdlib logger, rendered like ours.
            "logger": logging.getLogger("collector.sinks.kafka.librdkafka"),
            "log_level": 3,
        }
        try:
            self.producer: Producer = Producer(settings)
        except KafkaException as exc:
            raise SinkError(sink, f"librdkafka refused a setting: {exc}") from None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"kafka-{sink}", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def close(self, *, purge: bool) -> None:
        """Stop (blocking: run it in a thread). ``purge`` first fails every message still
        queued or in flight, so the pages waiting on them are answered at once."""
        if purge:
            self.producer.purge()
        self.producer.flush(1.0)
        self._stop.set()
        self._thread.join()
