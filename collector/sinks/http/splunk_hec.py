"""The ``splunk_hec`` sink: Splunk HTTP Event Collector, ``/services/collector/event``.

Each request is a batch of JSON objects back to back, one per click::

    {"time": <click date, epoch s>, "host": ..., "source": ..., "sourcetype": ...,
     "index": ..., "fields": {"event_id": ...}, "event": <click log as Mimecast sent it>}

The answer is read by HTTP status *and* HEC body code:

- 200 code 0: indexed (with ``acknowledgements = true``: once its ackId is acked);
- 408, 429 and every 5xx but 501 (:data:`collector.retry.RETRYABLE_STATUSES`), and
  codes 8 (internal error) and 9 (server busy) whatever the status: retried;
- 400 with ``invalid-event-number`` N (codes 6, 12, 13, 15): objects before N were
  indexed; object N goes to the dead-letter file; the rest is sent again at once;
- 413: the request is split in two;
- 401/403 (codes 1 to 4) and the other 400 codes: the page fails at once with HEC's
  own words, no retry (a wrong token or index does not fix itself).

HEC has no idempotency key, so a request whose answer is lost (timeout, dropped
connection) or whose ack times out is sent again and may be indexed twice; the
``fields.event_id`` lets a search drop such doubles (``dedup event_id``).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable
from typing import Any, Literal, Self

import orjson
import structlog
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.bounds import MAX_DURATION_SECS
from collector.errors import SinkError, TransientSinkError
from collector.events import Event
from collector.retry import is_retryable_status
from collector.secrets import scrub
from collector.sinks import SinkContext
from collector.sinks.http.base import HttpSinkBase
from collector.sinks.http.batching import BatchResult, Item
from collector.sinks.http.common import HttpSinkBaseConfig, Reply
from collector.sinks.http.dead_letter import Rejection
from collector.sinks.http.hec_acks import (
    ACK_PATH,
    AckTracker,
    StickyStart,
    ack_checker,
    load_channel,
)
from collector.sinks.kinds import SourcetypeChooser

log = structlog.get_logger("collector.sinks.http.hec")

EVENT_PATH = "/services/collector/event"
HEALTH_PATH = "/services/collector/health"
RETRY_CODES = frozenset({8, 9})  # internal error, server busy
PARTIAL_CODES = frozenset({6, 12, 13, 15})  # bad object N; objects before N indexed
TOKEN_CODES = frozenset({1, 2, 3, 4})
HINTS = {
    7: "the index is not allowed for this token, or does not exist (check index)",
    10: "HEC wants a channel (indexer acknowledgement is on for this token): set "
    "acknowledgements = true",
    11: "HEC refused the channel GUID",
    14: "acknowledgements = true but the token has indexer acknowledgement off",
    16: "query-string authentication is off",
}


class SplunkHecSinkConfig(HttpSinkBaseConfig):
    """``[sinks.<name>]`` with ``type = "splunk_hec"``."""

    type: Literal["splunk_hec"] = Field(description='Sink type: `"splunk_hec"`.')
    token: SecretStr = Field(description="HEC token. Or token_file.")
    index: str | None = Field(
        default=None, description="Splunk index. Default: the token's default index."
    )
    sourcetype: str | None = Field(
        default=None,
        description="Sourcetype of every event. Default: per kind, `mimecast:ttp:url`, "
        "`mimecast:ttp:attachment`, `mimecast:ttp:impersonation`.",
    )
    sourcetypes: dict[str, str] = Field(
        default_factory=dict,
        description="Sourcetype per source, before `sourcetype`: e.g. `{attachments = "
        '"mimecast:ap"}` for `[sources.attachments]`.',
    )
    source: str = Field(default="mimecast-collector", description="Source of every event.")
    host: str | None = Field(
        default=None, description="Host of every event. Default: this machine's hostname."
    )
    acknowledgements: bool = Field(
        default=False,
        description="Wait for indexer acknowledgement of every request (the token must "
        "have it on). A page is acknowledged only once every ackId is acked.",
    )
    ack_timeout_secs: float = Field(
        default=180.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="A request not acked within this time (by the first poll sent after "
        "it) is sent again (and may be indexed twice). Must be less than retry_max_secs.",
    )
    ack_poll_interval_secs: float = Field(
        default=1.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="Time between two polls of /services/collector/ack while any ackId "
        "is pending. One poll covers every pending ackId.",
    )
    channel: str | None = Field(
        default=None,
        description="Channel GUID. Default: one generated once and kept in "
        "<state_dir>/sinks/<sink name>/hec-channel.",
    )

    @field_validator("channel")
    @classmethod
    def _check_channel(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                return str(uuid.UUID(value))
            except ValueError:
                raise ValueError(f"must be a GUID, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _check_ack_timeout(self) -> Self:
        if self.acknowledgements and self.ack_timeout_secs >= self.retry_max_secs:
            raise PydanticCustomError(
                "config_key",
                "ack_timeout_secs: must be less than retry_max_secs ({retry}), or a batch "
                "whose ack timed out could not be sent again within the cycle",
                {"retry": self.retry_max_secs},
            )
        return self

    def build(self, name: str, context: SinkContext) -> SplunkHecSink:
        """Return the sink this config describes, not started yet."""
        return SplunkHecSink(name, self, context)


class SplunkHecSink(HttpSinkBase):
    """Sends pages to Splunk HEC; see the module docstring for the protocol."""

    def __init__(self, name: str, config: SplunkHecSinkConfig, context: SinkContext, **kw: Any):
        super().__init__(name, config, context, **kw)
        self.config = config
        meta: dict[str, str] = {
            "host": config.host or socket.gethostname(),
            "source": config.source,
        }
        if config.index is not None:
            meta["index"] = config.index
        self._meta = meta
        self._sourcetypes = SourcetypeChooser(config.sourcetypes, config.sourcetype)
        self._channel = config.channel
        self.acks: AckTracker | None = None
        self._sticky = StickyStart()
        self._warned_no_ack = False

    def headers(self) -> dict[str, str]:
        """Token, content type and channel."""
        headers = {
            "Authorization": f"Splunk {self.config.token.get_secret_value()}",
            "Content-Type": "application/json",
        }
        if self._channel is not None:
            headers["X-Splunk-Request-Channel"] = self._channel
        return headers

    async def start(self) -> None:
        """Load (or create) the channel GUID, open the pool, start ack tracking."""
        if self._channel is None:
            path = self._context.state_dir / "sinks" / self.name / "hec-channel"
            try:
                self._channel = await asyncio.to_thread(load_channel, path)
            except OSError as exc:
                raise SinkError(self.name, f"cannot keep the channel in {path}: {exc}") from exc
        await super().start()
        self._sticky = StickyStart()  # a new pool, an empty cookie jar
        if self.config.acknowledgements:
            self.acks = AckTracker(
                self.name,
                ack_checker(self.http, self.config.endpoint + ACK_PATH, {}, self._error),
                poll_interval_secs=self.config.ack_poll_interval_secs,
                timeout_secs=self.config.ack_timeout_secs,
                stats=self.stats,
            )

    async def aclose(self) -> None:
        """Stop ack polling and close the pool. ``acks`` stays readable (its counters)."""
        acks = getattr(self, "acks", None)  # start() may not have run
        if acks is not None:
            await acks.aclose()
        await super().aclose()

    def encode(self, event: Event) -> bytes:
        """One HEC event object."""
        return orjson.dumps(
            {
                "time": event.time,
                **self._meta,
                "sourcetype": self._sourcetypes(event),
                "fields": {"event_id": event.event_id},
                "event": event.data,
            }
        )

    async def healthcheck(self) -> None:
        """HEC health endpoint, then the token: an empty POST must answer code 5.

        Raises:
            SinkError: HEC unhealthy or unreachable, or the token rejected.
        """
        health = await self.http.request("GET", self.config.endpoint + HEALTH_PATH)
        if health.status != 200:
            raise self._error(health, "health check", retry=False)
        probe = await self.http.request("POST", self.config.endpoint + EVENT_PATH, body=b"")
        code = _answer(probe)[1]
        if not (probe.status == 400 and code == 5):
            raise self._error(probe, "token probe (empty POST, expecting code 5)", retry=False)

    async def _post(self, batch: list[Item], body: bytes) -> BatchResult:
        def send() -> Awaitable[Reply]:
            return self.http.request("POST", self.config.endpoint + EVENT_PATH, body=body)

        # Ack ids are per indexer: without acks, where a batch lands does not matter.
        reply = await (self._sticky.run(send) if self.acks is not None else send())
        text, code, bad = _answer(reply)
        if reply.status == 200 and code == 0:
            return self._accepted(reply)
        if reply.status == 413:
            return BatchResult(too_large=True)
        partial = reply.status == 400 and code in PARTIAL_CODES
        if partial and isinstance(bad, int) and 0 <= bad < len(batch):
            why = Rejection(400, f"hec_code_{code}", text or "rejected")
            return BatchResult(resend=batch[bad + 1 :], rejected=[(batch[bad], why)])
        raise self._error(reply, "event request")

    def _accepted(self, reply: Reply) -> BatchResult:
        if self.acks is None:
            return BatchResult()
        answer = reply.json()
        ack_id = answer.get("ackId") if isinstance(answer, dict) else None
        if isinstance(ack_id, int) and not isinstance(ack_id, bool):
            return BatchResult(confirm=self.acks.expect(ack_id))
        if not self._warned_no_ack:
            # The events are indexed (code 0); only the durability proof is missing.
            self._warned_no_ack = True
            log.warning(
                "hec_ack_unavailable",
                sink=self.name,
                message="acknowledgements = true but HEC answered without an ackId: turn "
                "on indexer acknowledgement for this token; until then delivery is "
                "confirmed by HTTP 200 alone",
            )
        return BatchResult()

    def _error(self, reply: Reply, what: str, *, retry: bool = True) -> SinkError:
        text, code, bad = _answer(reply)
        words = f'HTTP {reply.status}, code {code}: "{text}"' if code is not None else None
        words = words or f"HTTP {reply.status}: {reply.quote()}"
        if bad is not None:
            words += f", invalid-event-number {bad}"
        message = f"{what}: Splunk HEC answered {words}"
        if retry and (is_retryable_status(reply.status) or code in RETRY_CODES):
            return TransientSinkError(self.name, message, retry_after_secs=reply.retry_after_secs)
        if reply.status in (401, 403) or code in TOKEN_CODES:
            return SinkError(self.name, f"{message}; the token was rejected: fix token/token_file")
        hint = HINTS.get(code) if isinstance(code, int) else None
        if code is None and reply.status == 200:
            # Not HEC's answer (a login page, a proxy): never take it for a delivery.
            hint = "this is not a HEC answer: check endpoint"
        return SinkError(self.name, f"{message}; {hint}" if hint else message)


def _answer(reply: Reply) -> tuple[str | None, int | None, int | None]:
    """HEC's ``text``, ``code`` and ``invalid-event-number``, when the body has them."""
    body = reply.json()
    if not isinstance(body, dict):
        return None, None, None
    text, code, bad = body.get("text"), body.get("code"), body.get("invalid-event-number")
    return (
        scrub(text) if isinstance(text, str) else None,
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        bad if isinstance(bad, int) and not isinstance(bad, bool) else None,
    )
