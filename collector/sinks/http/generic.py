"""The ``http`` sink: POST batches of clicks to any HTTP endpoint.

For Logstash's ``http`` input, Cribl, Fluent Bit's ``in_http``, webhooks. A request
carries up to ``max_batch_events`` clicks as NDJSON (one JSON object per line, each
line ending in ``\\n``) or as one JSON array. The answer's status alone decides:
``success_statuses`` (default: any 2xx) acknowledge the whole request,
``retry_statuses`` (default: 408, 429 and 5xx except 501) are retried with
``Retry-After`` honoured, ``dead_letter_statuses`` (default: none) set the request's
events aside, and anything else fails the page with the receiver's words.

A generic receiver has no idempotency key: a request whose answer is lost is sent
again and may be received twice. ``format = "envelope"`` carries the event id so the
receiver can drop such doubles.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from collector.errors import SinkError, TransientSinkError
from collector.events import Event
from collector.net import check_endpoint_url
from collector.retry import is_retryable_status
from collector.secrets import redact_url, register_secret
from collector.sinks import SinkContext
from collector.sinks.encoding import Format, encode_ndjson
from collector.sinks.http.base import HttpSinkBase
from collector.sinks.http.batching import BatchResult, Item
from collector.sinks.http.common import HttpSinkBaseConfig
from collector.sinks.http.dead_letter import Rejection

# Header names whose values are credentials: registered so logs never show them.
_SECRET_HEADER_WORDS = ("auth", "token", "key", "secret", "password", "cookie", "signature")


class HttpSinkConfig(HttpSinkBaseConfig):
    """``[sinks.<name>]`` with ``type = "http"``."""

    type: Literal["http"] = Field(description='Sink type: `"http"`.')
    endpoint: str = Field(
        description="The full URL requests go to. https anywhere; plain http only to "
        "loopback hosts."
    )
    method: Literal["POST", "PUT"] = Field(default="POST", description="HTTP method.")
    encoding: Literal["ndjson", "json_array"] = Field(
        default="ndjson",
        description='`"ndjson"`: one JSON object per line. `"json_array"`: one JSON array.',
    )
    format: Format = Field(
        default="raw",
        description='`"raw"`: each click as Mimecast returned it. `"envelope"`: '
        "`{event_id, source, time, log}` per click, to drop doubles by event_id.",
    )
    compression: Literal["gzip", "none"] = Field(
        default="none", description='`"gzip"` or `"none"` (not every receiver takes gzip).'
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='Extra request headers, e.g. `{ Authorization = "Bearer ${TOKEN}" }`. '
        "Values of headers named like auth/token/key/secret are kept out of logs.",
    )
    success_statuses: list[int] | None = Field(
        default=None, description="Statuses that acknowledge a request. Default: any 2xx."
    )
    retry_statuses: list[int] | None = Field(
        default=None, description="Statuses retried. Default: 408, 429, 5xx except 501."
    )
    dead_letter_statuses: list[int] = Field(
        default_factory=list,
        description="Statuses that send the request's events to the dead-letter file "
        "instead of failing the page (e.g. [400, 422]). Default: none.",
    )

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        # The full URL is the target here: validate it, but keep a trailing slash.
        check_endpoint_url(value)
        return value

    @field_validator("success_statuses", "retry_statuses", "dead_letter_statuses")
    @classmethod
    def _check_statuses(cls, value: list[int] | None) -> list[int] | None:
        for status in value or []:
            if not 100 <= status <= 599:
                raise ValueError(f"{status} is not an HTTP status")
        return value

    def build(self, name: str, context: SinkContext) -> HttpSink:
        """Return the sink this config describes, not started yet."""
        return HttpSink(name, self, context)


class HttpSink(HttpSinkBase):
    """Posts batches of clicks; see the module docstring."""

    def __init__(self, name: str, config: HttpSinkConfig, context: SinkContext, **kw: Any):
        super().__init__(name, config, context, **kw)
        self.config = config
        self._array = config.encoding == "json_array"
        if self._array:
            self.per_item_bytes, self.fixed_bytes = 1, 2  # commas and brackets
        self._success = set(config.success_statuses or ())
        self._retry_statuses = set(config.retry_statuses or ())
        self._dead = set(config.dead_letter_statuses)
        for header, value in config.headers.items():
            if any(word in header.lower() for word in _SECRET_HEADER_WORDS):
                register_secret(value)

    def headers(self) -> dict[str, str]:
        """The content type, then the configured headers (which may override it)."""
        kind = "application/json" if self._array else "application/x-ndjson"
        return {"Content-Type": kind, **self.config.headers}

    def encode(self, event: Event) -> bytes:
        """One click as one line (ndjson) or one array element (json_array)."""
        line = encode_ndjson([event], self.config.format)
        return line[:-1] if self._array else line

    def encode_batch(self, items: list[Item]) -> bytes:
        """Lines joined, or ``[a,b,...]``."""
        if self._array:
            return b"[" + b",".join([item.body for item in items]) + b"]"
        return b"".join([item.body for item in items])

    async def healthcheck(self) -> None:
        """``HEAD`` the endpoint: any answer but 401/403/407 passes (leaning towards passing).

        Raises:
            SinkError: unreachable, or the credentials were refused.
        """
        try:
            reply = await self.http.request("HEAD", self.config.endpoint)
        except TransientSinkError as exc:
            raise SinkError(self.name, str(exc).removeprefix(f"sink {self.name}: ")) from exc
        if reply.status in (401, 403, 407):
            endpoint = redact_url(self.config.endpoint)
            raise SinkError(self.name, f"HEAD {endpoint}: HTTP {reply.status}")

    async def _post(self, batch: list[Item], body: bytes) -> BatchResult:
        reply = await self.http.request(self.config.method, self.config.endpoint, body=body)
        status = reply.status
        if status in self._success or (not self._success and 200 <= status < 300):
            return BatchResult()
        words = f"HTTP {status}: {reply.quote()}"
        retryable = status in self._retry_statuses or (
            not self._retry_statuses and is_retryable_status(status)
        )
        if retryable:
            raise TransientSinkError(
                self.name, f"receiver answered {words}", retry_after_secs=reply.retry_after_secs
            )
        if status == 413:
            return BatchResult(too_large=True)
        if status in self._dead:
            why = Rejection(status, f"http_{status}", reply.quote())
            return BatchResult(rejected=[(item, why) for item in batch])
        raise SinkError(self.name, f"receiver answered {words}")
