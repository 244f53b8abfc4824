"""The ``otlp`` sink: clicks as OpenTelemetry log records, OTLP/HTTP with JSON bodies.

Each click is one ``LogRecord`` (the JSON encoding of OTLP, so no protobuf dependency;
every OTLP/HTTP receiver must accept it). The body is the click, as its JSON text
(``body = "json"``, lossless) or as a map (``body = "map"``); attributes carry what
OpenTelemetry's semantic conventions name (``url.full``, ``user.email``) and the
collector's own facts under ``mimecast.*``, among them ``mimecast.event_id`` for
dropping doubles downstream. See :mod:`collector.sinks.otlp_records`.

Requests go through the HTTP sinks' client (gate, whole-response deadline, TLS) and
batching (``max_batch_events``/``max_batch_bytes``, 413 splits, dead letters). The
answer, by the OTLP/HTTP specification:

- 2xx: accepted, unless ``partialSuccess.rejectedLogRecords`` says some were refused.
  OTLP does not say *which*: when some but not all were refused, the whole request's
  clicks go to the dead letters with the receiver's words, marked as such, so nothing
  is lost (a replay may then send the accepted ones twice, with the same event id).
- 429, 502, 503, 504: retried (429 and 503 close the sink's gate, honouring
  ``Retry-After``).
- 400: the request was refused for its content: its clicks go to the dead letters.
- anything else (401, 403, 404, ...): the page fails with the receiver's words.
"""

from __future__ import annotations

import time
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import Field

from collector import __version__
from collector.errors import SinkError, TransientSinkError
from collector.events import Event
from collector.secrets import register_secret
from collector.sinks import SinkContext
from collector.sinks.http.base import HttpSinkBase
from collector.sinks.http.batching import BatchResult, Item
from collector.sinks.http.common import HttpSinkBaseConfig, Reply, where
from collector.sinks.http.dead_letter import Rejection
from collector.sinks.otlp_records import log_record, string_attribute

LOGS_PATH = "/v1/logs"
# What OTLP/HTTP says may be retried (the rest will fail the same way again).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class OtlpSinkConfig(HttpSinkBaseConfig):
    """``[sinks.<name>]`` with ``type = "otlp"``."""

    type: Literal["otlp"] = Field(description='Sink type: `"otlp"`.')
    endpoint: str = Field(
        description="The OTLP/HTTP receiver, e.g. `https://otel-collector:4318`; `/v1/logs` "
        "is added unless the URL already ends with it. https anywhere; plain http only "
        "to loopback hosts."
    )
    body: Literal["json", "map"] = Field(
        default="json",
        description='Body of each log record: `"json"`, the click as its JSON text '
        '(lossless), or `"map"`, the click as a key/value map.',
    )
    service_name: str = Field(
        default="mimecast-collector",
        min_length=1,
        description="The resource's `service.name`.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='Extra request headers, e.g. `{ Authorization = "Bearer ${TOKEN}" }`. '
        "Their values are kept out of logs.",
    )

    def logs_url(self) -> str:
        """Where log requests go."""
        base = self.endpoint.rstrip("/")
        return base if urlsplit(base).path.endswith(LOGS_PATH) else base + LOGS_PATH

    def build(self, name: str, context: SinkContext) -> OtlpSink:
        """Return the sink this config describes, not started yet."""
        return OtlpSink(name, self, context)


class OtlpSink(HttpSinkBase):
    """Exports clicks as OTLP log records; see the module docstring."""

    def __init__(self, name: str, config: OtlpSinkConfig, context: SinkContext, **kw: Any):
        super().__init__(name, config, context, **kw)
        self.config = config
        self._url = config.logs_url()
        resource = orjson.dumps(
            {"attributes": [string_attribute("service.name", config.service_name)]}
        )
        scope = orjson.dumps({"name": "mimecast-collector", "version": __version__})
        self._head = (
            b'{"resourceLogs":[{"resource":' + resource + b',"scopeLogs":[{"scope":' + scope
        )
        self._head += b',"logRecords":['
        self._tail = b"]}]}]}"
        self.per_item_bytes, self.fixed_bytes = 1, len(self._head) + len(self._tail)
        for value in config.headers.values():
            register_secret(value)

    def headers(self) -> dict[str, str]:
        """JSON content, then the configured headers."""
        return {"Content-Type": "application/json", **self.config.headers}

    def encode(self, event: Event) -> bytes:
        """One click as one OTLP ``LogRecord`` (JSON)."""
        return orjson.dumps(log_record(event, self.config.body, time.time_ns()))

    def encode_batch(self, items: list[Item]) -> bytes:
        """One ``ExportLogsServiceRequest``: one resource, one scope, the records."""
        return self._head + b",".join([item.body for item in items]) + self._tail

    async def healthcheck(self) -> None:
        """Export an empty request: the receiver answers and takes our credentials.

        Raises:
            SinkError: unreachable, or the request was refused.
        """
        try:
            reply = await self.http.request("POST", self._url, body=self.encode_batch([]))
        except TransientSinkError as exc:
            raise SinkError(self.name, str(exc).removeprefix(f"sink {self.name}: ")) from exc
        if not 200 <= reply.status < 300:
            raise SinkError(self.name, f"POST {where(self._url)}: {_words(reply)}")

    async def _post(self, batch: list[Item], body: bytes) -> BatchResult:
        reply = await self.http.request("POST", self._url, body=body)
        status = reply.status
        if 200 <= status < 300:
            return self._partial_success(batch, reply)
        if status in RETRYABLE_STATUSES:
            raise TransientSinkError(
                self.name,
                f"receiver answered {_words(reply)}",
                retry_after_secs=reply.retry_after_secs,
            )
        if status == 413:
            return BatchResult(too_large=True)
        if status == 400:
            why = Rejection(400, "otlp_bad_request", reply.quote())
            return BatchResult(rejected=[(item, why) for item in batch])
        raise SinkError(self.name, f"receiver answered {_words(reply)}")

    def _partial_success(self, batch: list[Item], reply: Reply) -> BatchResult:
        answer = reply.json()
        partial = answer.get("partialSuccess") if isinstance(answer, dict) else None
        if not isinstance(partial, dict):
            return BatchResult()
        try:
            refused = int(partial.get("rejectedLogRecords") or 0)
        except (TypeError, ValueError):
            refused = 0
        message = str(partial.get("errorMessage") or "").strip() or "(no reason given)"
        if refused <= 0:
            return BatchResult()  # an errorMessage alone is a warning; all were accepted
        if refused >= len(batch):
            why = Rejection(200, "otlp_rejected", message)
        else:
            why = Rejection(
                200,
                "otlp_partially_rejected",
                f"{refused} of these {len(batch)} log records were rejected (OTLP does "
                f"not say which; all are kept here): {message}",
            )
        return BatchResult(rejected=[(item, why) for item in batch])


def _words(reply: Reply) -> str:
    return f"HTTP {reply.status}: {reply.quote()}"
