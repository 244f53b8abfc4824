"""The one HTTP layer of the HTTP sinks: config options, client, and answer helpers.

Every HTTP sink sends through an :class:`HttpClient`: one ``httpx.AsyncClient`` per
sink (keep-alive, explicit timeouts, optional proxy, TLS always verified, optional CA
bundle and client certificate), gzip per request, and transport failures turned into
:class:`~collector.errors.TransientSinkError` (or a plain ``SinkError`` when retrying
cannot help, such as a certificate that does not verify). What a status code *means*
is each sink's business; the helpers here only read ``Retry-After`` and bodies.
"""

from __future__ import annotations

import email.utils
import gzip
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector import __version__
from collector.bounds import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_DURATION_SECS
from collector.errors import SinkError, TransientSinkError
from collector.net import ProxyUrl, certificate_failure, check_endpoint_url, client_ssl_context
from collector.secrets import scrub
from collector.sinks import SinkConfig

Compression = Literal["gzip", "none"]

# Level 1 compresses click logs about 6:1 at a fraction of level 6's CPU cost; the
# network is rarely the bottleneck between a collector and its SIEM.
GZIP_LEVEL = 1
# Enough of a body to quote the receiver's own words in an error, not a whole page.
QUOTE_CHARS = 300


class HttpSinkBaseConfig(SinkConfig):
    """Options every HTTP sink has. Subclasses add ``type`` and their protocol's keys."""

    endpoint: str = Field(
        description="Base URL of the receiver. https anywhere; plain http only to "
        "loopback hosts (tests, a local forwarder)."
    )
    compression: Compression = Field(
        default="gzip", description='`"gzip"` (each request body gzipped) or `"none"`.'
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
        description="Timeout for sending a request and for each read of its answer. A "
        "timed-out request is retried: its outcome is unknown.",
    )
    proxy: ProxyUrl = Field(default=None, description="HTTP(S) proxy URL.")
    ca_file: str | None = Field(
        default=None,
        description="PEM CA bundle to trust instead of the system store. TLS is always "
        "verified; there is no option to turn verification off.",
    )
    cert_file: str | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with key_file)."
    )
    key_file: str | None = Field(
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

    @model_validator(mode="after")
    def _check_tls_files(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise PydanticCustomError(
                "config_key", "key_file: needs cert_file (the client certificate)", {}
            )
        return self


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer, read in full."""

    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    @property
    def retry_after_secs(self) -> float | None:
        """The wait the receiver asked for in ``Retry-After``, if any."""
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


def ssl_context(config: HttpSinkBaseConfig, key: str) -> ssl.SSLContext | bool:
    """The TLS settings: verified always, with the configured CA and client certificate."""
    return client_ssl_context(key, config.ca_file, config.cert_file, config.key_file)


class HttpClient:
    """The connection pool of one sink, and the only code that touches httpx.

    Args:
        sink: the sink's name, for error messages.
        config: the sink's validated config.
        headers: sent with every request (authorization, content type, ...).
        transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(
        self,
        sink: str,
        config: HttpSinkBaseConfig,
        *,
        headers: Mapping[str, str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sink = sink
        self._gzip = config.compression == "gzip"
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.request_timeout_secs, connect=config.connect_timeout_secs),
            verify=ssl_context(config, f"sinks.{sink}"),
            proxy=config.proxy,
            transport=transport,
            headers={"User-Agent": f"mimecast-collector/{__version__}", **headers},
            # Redirects would re-send a page somewhere the config does not name.
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def cookies(self) -> httpx.Cookies:
        """The cookie jar: load balancers' stickiness cookies are kept and echoed."""
        return self._http.cookies

    async def aclose(self) -> None:
        """Close every connection."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        compress: bool = True,
    ) -> Reply:
        """Send one request and read the whole answer.

        ``compress=False`` sends the body as it is even with ``compression = "gzip"``
        (small control requests, where not every receiver takes gzip).

        Raises:
            TransientSinkError: no answer (refused, reset, timed out): worth retrying.
            SinkError: the TLS certificate does not verify (retrying will not help).
        """
        extra = dict(headers or {})
        if body and self._gzip and compress:
            body = gzip.compress(body, GZIP_LEVEL)
            extra["Content-Encoding"] = "gzip"
        try:
            response = await self._http.request(
                method, url, content=body, headers=extra, params=params
            )
        except httpx.TimeoutException as exc:
            raise TransientSinkError(
                self.sink, f"no answer from {_where(url)} in time ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise self._transport_error(url, exc) from None
        return Reply(response.status_code, response.headers, response.content)

    def _transport_error(self, url: str, exc: httpx.TransportError) -> SinkError:
        failure = certificate_failure(exc)
        if failure is not None:
            return SinkError(
                self.sink,
                f"TLS certificate of {_where(url)} could not be verified "
                f"({failure.verify_message}); set ca_file to the CA that signed it",
            )
        detail = scrub(str(exc)) or "no details"
        return TransientSinkError(
            self.sink, f"cannot reach {_where(url)}: {type(exc).__name__}: {detail}"
        )


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def is_retryable_status(status: int) -> bool:
    """The usual retry rule: 408, 429 and every 5xx except 501 (not implemented)."""
    return status in (408, 429) or (500 <= status <= 599 and status != 501)
