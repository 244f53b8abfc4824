"""The one HTTP layer of the HTTP sinks: :class:`HttpClient`, the only code that touches httpx.

One ``httpx.AsyncClient`` per sink (keep-alive, explicit timeouts, optional proxy,
TLS >= 1.2 always verified, optional CA bundle and client certificate: the collector's
one TLS helper, :func:`collector.net.client_ssl_context`), gzip per request,
and transport failures turned into :class:`~collector.errors.TransientSinkError` (or
a plain ``SinkError`` when retrying cannot help, such as a certificate that does not
verify).

Two things every request of a sink shares, whatever it carries (a page, a retry, a
HEC ack poll, a health check):

- **The sink's backpressure gate** (:class:`~collector.gate.BackpressureGate`). A
  receiver that answers 429 or 503 sheds load for every client, not for that one
  request, so the answer closes the gate for its ``Retry-After`` (or the retry
  policy's refusal backoff) and no request of the sink is sent until it has passed.
- **A whole-response deadline.** httpx's timeouts apply to each read, so a receiver
  that drips its answer a byte at a time would never time out; ``request_timeout_secs``
  bounds the whole exchange instead, and the answer is read up to
  :data:`MAX_RESPONSE_BYTES` only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx

from collector import __version__
from collector.errors import BackpressureTooLongError, SinkError, TransientSinkError
from collector.gate import BackpressureGate, describe_secs
from collector.net import (
    certificate_advice,
    certificate_failure,
    client_ssl_context,
    is_loopback_host,
)
from collector.secrets import scrub
from collector.sinks.http.common import (
    GZIP_LEVEL,
    MAX_RESPONSE_BYTES,
    REFUSAL_STATUSES,
    HttpSinkBaseConfig,
    Reply,
    parse_retry_after,
    where,
)

THREADED_GZIP_BYTES = 64 * 1024
"""Bodies at least this large are compressed in a worker thread."""

RefusalCheck = Callable[[Reply], str | None]
"""How an answer refuses for the whole endpoint (closing the gate), e.g. ``HTTP 429``;
None when it does not."""


def compresses(compression: str, endpoint: str) -> bool:
    """Whether request bodies are gzipped: ``gzip``, or ``auto`` to a host that is not
    loopback (across a network the bytes count; on one host only the CPU does)."""
    if compression == "auto":
        return not is_loopback_host(urlsplit(endpoint).hostname or "")
    return compression == "gzip"


def refusal_of(reply: Reply) -> str | None:
    """The usual rule: 429 (throttled) and 503 (shedding load) speak for the endpoint."""
    return f"HTTP {reply.status}" if reply.status in REFUSAL_STATUSES else None


class HttpClient:
    """The connection pool of one sink, and the only code that touches httpx.

    Args:
        sink: the sink's name, for error messages.
        config: the sink's validated config.
        headers: sent with every request (authorization, content type, ...).
        gate: the sink's backpressure gate; every request waits there before it is sent.
        budget_secs: the longest wait at the gate (``retry_max_secs``); a receiver
            that asks for more fails the request at once.
        refusal: which answers close the gate (default: :func:`refusal_of`).
        transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(
        self,
        sink: str,
        config: HttpSinkBaseConfig,
        *,
        headers: Mapping[str, str],
        gate: BackpressureGate | None = None,
        budget_secs: float | None = None,
        refusal: RefusalCheck = refusal_of,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sink = sink
        self.gate = gate or BackpressureGate(f"sink {sink}")
        self._budget = config.retry_max_secs if budget_secs is None else budget_secs
        self._refusal = refusal
        self._deadline = config.request_timeout_secs
        self._gzip = compresses(config.compression, config.endpoint)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.request_timeout_secs, connect=config.connect_timeout_secs),
            verify=client_ssl_context(
                f"sinks.{sink}",
                ca_file=config.ca_file,
                cert_file=config.cert_file,
                key_file=config.key_file,
            ),
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
        """Wait at the sink's gate, send one request and read the whole answer.

        ``compress=False`` sends the body as it is even with ``compression = "gzip"``
        (small control requests, where not every receiver takes gzip). A refusal
        (429, 503, or what ``refusal`` says) closes the gate and comes back with
        ``refused_for`` set; an accepted answer (2xx) resets the gate's backoff.

        Raises:
            TransientSinkError: no complete answer within ``request_timeout_secs``
                (refused, reset, timed out, too large): worth retrying.
            SinkError: the TLS certificate does not verify (retrying will not help),
                or the receiver asked for a wait longer than ``retry_max_secs``.
        """
        extra = dict(headers or {})
        if body and self._gzip and compress:
            # zlib lets go of the GIL: a page's body compresses on another core while
            # the next page is parsed (small bodies are not worth the thread hop).
            if len(body) >= THREADED_GZIP_BYTES:
                body = await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL)
            else:
                body = gzip.compress(body, GZIP_LEVEL)
            extra["Content-Encoding"] = "gzip"
        # Compressed first, so that nothing but the wire lies between the gate and the send.
        try:
            await self.gate.wait(self._budget)
        except BackpressureTooLongError as exc:
            message = str(exc).removeprefix(f"{self.gate.endpoint} ")
            raise SinkError(self.sink, f"the receiver {message}") from None
        try:
            async with asyncio.timeout(self._deadline):
                reply = await self._exchange(method, url, body, extra, params)
        except (TimeoutError, httpx.TimeoutException):
            raise TransientSinkError(
                self.sink,
                f"no complete answer from {where(url)} within {self._deadline:g}s "
                "(request_timeout_secs)",
            ) from None
        except httpx.TransportError as exc:
            raise self._transport_error(url, exc) from None
        return self._judge(reply, url)

    async def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        params: Mapping[str, str] | None,
    ) -> Reply:
        """One request, its answer read in full but never past MAX_RESPONSE_BYTES."""
        request = self._http.build_request(
            method, url, content=body, headers=headers, params=params
        )
        response = await self._http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise self._too_large(url)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise self._too_large(url)
                chunks.append(chunk)
        finally:
            await response.aclose()
        return Reply(response.status_code, response.headers, b"".join(chunks))

    def _too_large(self, url: str) -> TransientSinkError:
        return TransientSinkError(
            self.sink,
            f"the answer from {where(url)} is larger than "
            f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MiB; not read (the request's outcome "
            "is unknown)",
        )

    def _judge(self, reply: Reply, url: str) -> Reply:
        """Close the gate on a refusal, reset its backoff on an acceptance."""
        refusal = self._refusal(reply)
        if refusal is None:
            if 200 <= reply.status < 300:
                self.gate.passed()
            return reply
        header = reply.headers.get("retry-after")
        asked = parse_retry_after(header)
        wait = self.gate.close(asked)
        if wait > self._budget:
            # Not waited out: the page fails now rather than after a wait it cannot afford.
            if asked:
                why = f"answered {refusal} and asked to wait {describe_secs(wait)}"
                why += f" (Retry-After: {header})"
            else:
                why = f"keeps refusing requests ({refusal}): its backoff is {describe_secs(wait)}"
            raise SinkError(
                self.sink,
                f"{where(url)} {why}, longer than the retry budget (retry_max_secs = "
                f"{self._budget:g}); the page is not delivered and the checkpoint is unchanged",
            )
        return dataclasses.replace(reply, refused_for=wait)

    def _transport_error(self, url: str, exc: httpx.TransportError) -> SinkError:
        failure = certificate_failure(exc)
        if failure is not None:
            advice = certificate_advice(failure, "set ca_file to the CA that signed it")
            return SinkError(
                self.sink, f"TLS certificate of {where(url)} could not be verified ({advice})"
            )
        detail = scrub(str(exc)) or "no details"
        return TransientSinkError(
            self.sink, f"cannot reach {where(url)}: {type(exc).__name__}: {detail}"
        )
