"""What the HTTP sinks share: config options, answers, and the helpers that read them.

Every request goes through the sink's :class:`~collector.sinks.http.client.HttpClient`
and comes back as a :class:`Reply`. What a status code *means* is each sink's business;
the helpers here only read ``Retry-After`` and bodies.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.bounds import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_DURATION_SECS
from collector.net import ProxyUrl, check_endpoint_url
from collector.retry import RetryPolicy
from collector.secrets import redact_url, scrub
from collector.sinks import SinkConfig

Compression = Literal["auto", "gzip", "none"]

# Level 1 compresses click logs about 6:1 at a fraction of level 6's CPU cost; the
# network is rarely the bottleneck between a collector and its SIEM.
GZIP_LEVEL = 1
# Enough of a body to quote the receiver's own words in an error, not a whole page.
QUOTE_CHARS = 300
# The largest answer read (after gzip is undone). A bulk answer to 5,000 documents
# with every item in error is about 2 MB; anything far larger is a receiver gone wrong,
# and reading on would let it exhaust the collector's memory.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Answers that refuse the request for the whole endpoint, not for its content.
REFUSAL_STATUSES = frozenset({429, 503})


class HttpSinkBaseConfig(SinkConfig):
    """Options every HTTP sink has. Subclasses add ``type`` and their protocol's keys."""

    endpoint: str = Field(
        description="Base URL of the receiver. https anywhere; plain http only to "
        "loopback hosts (tests, a local forwarder)."
    )
    compression: Compression = Field(
        default="auto",
        description='`"gzip"` (each request body gzipped, about 6:1), `"none"`, or `"auto"`: '
        "gzip across a network, none to a loopback endpoint (a forwarder on the same host), "
        "where compressing would only cost CPU: about 5 µs per click, as much as the rest "
        "of the collector's work on it.",
    )
    max_batch_events: int = Field(
        default=500, ge=1, le=MAX_BATCH_EVENTS, description="Most events per request."
    )
    max_batch_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=MAX_BATCH_BYTES,
        description="Most bytes per request body before compression. A page is split "
        "into requests before sending so that none is larger; a single event larger "
        "than this is still sent alone.",
    )
    connect_timeout_secs: float = Field(
        default=10.0, gt=0, le=MAX_DURATION_SECS, description="TCP/TLS connect timeout."
    )
    request_timeout_secs: float = Field(
        default=60.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="Deadline of a whole request: sending it and reading all of its "
        "answer (a receiver that answers slowly, byte by byte, is cut off here). A "
        "timed-out request is retried: its outcome is unknown.",
    )
    proxy: ProxyUrl = Field(default=None, description="HTTP(S) proxy URL.")
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle to trust instead of the system store. TLS is always "
        "verified; there is no option to turn verification off.",
    )
    cert_file: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with key_file)."
    )
    key_file: Path | None = Field(
        default=None, description="PEM private key of cert_file, if not inside cert_file."
    )
    dead_letter_dir: Path | None = Field(
        default=None,
        description="Where events the receiver rejected for good are kept, as NDJSON. "
        "Default: <state_dir>/dead-letter/<sink name>/.",
    )
    retry_initial_backoff_secs: float = Field(
        default=1.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="First wait before a retry (then doubling, jittered).",
    )
    retry_max_backoff_secs: float = Field(
        default=60.0, gt=0, le=MAX_DURATION_SECS, description="Longest wait between two retries."
    )

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        return check_endpoint_url(value)

    def retry_policy(self) -> RetryPolicy:
        """The budget and the backoff options of this sink's retries."""
        return RetryPolicy(
            max_secs=self.retry_max_secs,
            initial_backoff_secs=self.retry_initial_backoff_secs,
            max_backoff_secs=self.retry_max_backoff_secs,
        )

    @model_validator(mode="after")
    def _check_tls_files(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise PydanticCustomError(
                "config_key", "key_file: needs cert_file (the client certificate)", {}
            )
        return self


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer, read in full.

    ``refused_for`` is set when the answer closed the sink's gate: the seconds the
    gate stays closed, which is also how long a retry of this request must wait.
    """

    status: int
    headers: httpx.Headers
    body: bytes
    refused_for: float | None = None

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    @property
    def retry_after_secs(self) -> float | None:
        """How long to wait before retrying: the gate's wait when this answer closed it,
        otherwise what the receiver asked for in ``Retry-After``, if anything."""
        if self.refused_for is not None:
            return self.refused_for
        return parse_retry_after(self.headers.get("retry-after"))

    def quote(self) -> str:
        """The start of the body as text, for error messages (secrets scrubbed)."""
        text = self.body[:QUOTE_CHARS].decode("utf-8", "replace").strip()
        return scrub(" ".join(text.split())) or "(empty body)"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse ``Retry-After``: delta seconds or an HTTP date. None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def where(url: str) -> str:
    """``url`` without query or userinfo, as errors quote it."""
    parts = urlsplit(url)
    # Userinfo (user:password@) is a credential: never quoted, only shown as ***@.
    return redact_url(f"{parts.scheme}://{parts.netloc}{parts.path}")
