"""HTTP client for Mimecast's TTP get-logs endpoints: one request in, one page out.

It is the engine's :class:`~collector.source.Source` for one endpoint
(:mod:`collector.sources.mimecast.endpoints`): URL clicks, attachment or
impersonation logs.

It authenticates (API 2.0 bearer token or API 1.0 HMAC), sends the window and
page token, and turns every answer into either a :class:`~collector.source.Page` or one of the
errors in :mod:`collector.errors`. Whether to try again is left to the retry
policy, which sees only the error type.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from typing import Any

import httpx
import orjson

from collector import __version__
from collector.errors import (
    AuthError,
    BindingExpiredError,
    ConfigError,
    MimecastApiError,
    RateLimitedError,
    ResponseTooLargeError,
    TransientSourceError,
)
from collector.events import format_mimecast_date
from collector.net import client_ssl_context
from collector.retry import RetryPolicy
from collector.secrets import redact_url
from collector.source import Page
from collector.sources.mimecast.auth import HmacSigner, OAuth2TokenProvider
from collector.sources.mimecast.config import MimecastSourceConfig
from collector.sources.mimecast.endpoints import Endpoint
from collector.sources.mimecast.pacer import QuotaPacer
from collector.sources.mimecast.responses import (
    OAUTH2_418_ADVICE,
    Answer,
    classify_response,
    transport_error,
)
from collector.stats import SourceStats

_ids = random.Random()


class MimecastClient:
    """Reads pages of one TTP log endpoint from one Mimecast tenant."""

    def __init__(
        self,
        name: str,
        config: MimecastSourceConfig,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        stats: SourceStats,
        pacer: QuotaPacer | None = None,
        endpoint: Endpoint | None = None,
        tokens: OAuth2TokenProvider | None = None,
    ) -> None:
        self.name = name
        self._config = config
        # The config's type names the endpoint; a caller may describe another one.
        self.endpoint = endpoint or config.endpoint
        self.facts = self.endpoint.facts
        self._pacer = pacer or QuotaPacer(endpoint=f"mimecast/{name}")
        self.gate = self._pacer.gate
        self.poll_budget = self._pacer.poll_budget
        self.poll_budget.join(
            name, config.live_quota_share, config.quota_period_secs, config.interval_secs
        )
        self._retry = retry or RetryPolicy(max_secs=config.retry_max_secs)
        self.stats = stats  # the Collector's, so whoever reports reads the same books
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.read_timeout_secs, connect=config.connect_timeout_secs),
            verify=client_ssl_context(f"sources.{name}", ca_file=config.ca_file),
            proxy=config.proxy,
            transport=transport,
            headers={"User-Agent": f"mimecast-collector/{__version__}"},
            trust_env=False,
        )
        self._tokens: OAuth2TokenProvider | None = None
        self._signer: HmacSigner | None = None
        # The config model guarantees the credentials of the chosen scheme are present.
        if config.auth == "oauth2" and config.client_id and config.client_secret:
            # Sources on one credential share one token (``tokens``): one login for all.
            self._tokens = tokens or OAuth2TokenProvider(config.client_id, config.client_secret)
        elif config.app_id and config.app_key and config.access_key and config.secret_key:
            self._signer = HmacSigner(
                config.app_id, config.app_key, config.access_key, config.secret_key
            )
        else:
            raise ConfigError(f"sources.{name}: credentials for auth = {config.auth!r} are missing")

    def __repr__(self) -> str:
        return f"MimecastClient(name={self.name!r}, base_url={self._config.base_url!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def fetch(
        self, window_from: int, window_to: int, page_token: str | None, page_size: int | None = None
    ) -> Page:
        """Fetch one page of the window [window_from, window_to] (epoch seconds).

        Retries what is worth retrying, within ``retry_max_secs``; raises the last
        error when the budget runs out, and permanent errors at once.
        """
        body = self._request_body(window_from, window_to, page_token, page_size)

        def count_retry(error: BaseException, wait: float) -> None:
            self.stats.retries += 1
            if isinstance(error, RateLimitedError):
                self.stats.rate_limited_wait_secs += wait

        return await self._retry.call(
            lambda: self._attempt(body, page_token is not None),
            what=self.endpoint.path.removeprefix("/api/"),
            on_retry=count_retry,
        )

    async def check(self) -> str:
        """Authenticate and ask for one record of the last hour (``check``): that also
        proves the application's role may read this endpoint."""
        now = int(time.time()) - self._config.lag_secs
        page = await self.fetch(now - 3600, now, None, page_size=1)
        scheme = "API 2.0 OAuth2" if self._config.auth == "oauth2" else "API 1.0 HMAC"
        return (
            f"{scheme} to {redact_url(self._config.base_url)}; {self.endpoint.path} answered "
            f"with {len(page.records)} {self.endpoint.noun}(s) for the last hour"
        )

    def _request_body(
        self, window_from: int, window_to: int, page_token: str | None, page_size: int | None
    ) -> bytes:
        pagination: dict[str, Any] = {"pageSize": page_size or self._config.page_size}
        if page_token is not None:
            pagination["pageToken"] = page_token
        query = {
            "from": format_mimecast_date(window_from),
            "to": format_mimecast_date(window_to),
            **self.endpoint.filters(self._config),
            "oldestFirst": True,
        }
        return orjson.dumps({"meta": {"pagination": pagination}, "data": [query]})

    async def _attempt(self, body: bytes, has_token: bool) -> Page:
        answer, request_id, bearer = await self._send(body)
        if answer.status_code == 401 and self._tokens is not None:
            # The token may have been revoked or expired early: fetch a new one, once.
            self._tokens.invalidate(bearer)
            answer, request_id, _ = await self._send(body)
        try:
            records, next_token = classify_response(
                answer, request_id, has_token, self.endpoint.data_key
            )
        except RateLimitedError as exc:
            self.stats.requests["rate_limited"] += 1
            self.stats.rate_limited += 1
            # The retry waits as long as the credential's gate is closed, no less.
            exc.retry_after_secs = answer.gate_wait
            raise
        except TransientSourceError:
            self.stats.requests["retryable_error"] += 1
            raise
        except MimecastApiError as exc:
            self.stats.requests["error"] += 1
            reworded = self._in_context(exc)
            if reworded is None:
                raise
            raise reworded from None
        self.stats.requests["ok"] += 1
        return Page(records, next_token, request_id)

    def _in_context(self, error: MimecastApiError) -> MimecastApiError | None:
        """``error`` reworded for this source, where Mimecast's own words would mislead."""
        kind: type[MimecastApiError]
        if isinstance(error, BindingExpiredError) and self._tokens is not None:
            # The binding advice is about API 1.0 keys; with OAuth2 it would mislead.
            kind = BindingExpiredError
            message = f"{OAUTH2_418_ADVICE} ({error.code or 'no error code'}, HTTP 418)"
        elif _is_permission_error(error):
            kind = AuthError
            message = (
                f"Mimecast refused {self.endpoint.path}: the API application's role needs "
                f"'{self.endpoint.permission}' ({error})"
            )
        else:
            return None
        return kind(
            message, code=error.code, http_status=error.http_status, request_id=error.request_id
        )

    async def _send(self, body: bytes) -> tuple[Answer, str, str]:
        """Send one request; (the whole answer, its request id, the bearer token used)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        bearer = ""
        if self._signer is not None:
            headers.update(self._signer.headers(self.endpoint.path))
            request_id = headers["x-mc-req-id"]
        else:
            assert self._tokens is not None
            fetches = self._tokens.fetches
            bearer = await self._tokens.token(self._http)
            self.stats.token_fetches += self._tokens.fetches - fetches
            # Only a correlation id here (HMAC signs its own): os.urandom per request
            # was measurable on the hot path, a PRNG is enough for uniqueness.
            request_id = str(uuid.UUID(int=_ids.getrandbits(128), version=4))
            headers["Authorization"] = f"Bearer {bearer}"
            headers["x-mc-req-id"] = request_id
        paced = time.monotonic()
        ticket = await self._pacer.acquire(self._config.retry_max_secs)
        self.stats.paced_wait_secs += time.monotonic() - paced
        started = time.monotonic()
        answer: Answer | None = None
        try:
            # httpx's read timeout applies to each read: a body that drips one byte at a
            # time would never time out. The deadline covers the whole answer.
            async with asyncio.timeout(self._deadline_secs):
                answer = await self._read(body, headers, request_id)
        except (TimeoutError, httpx.TimeoutException):
            self.stats.requests["timeout"] += 1
            raise TransientSourceError(
                f"no complete answer from Mimecast within {time.monotonic() - started:.0f}s "
                "(connect_timeout_secs + read_timeout_secs)",
                request_id=request_id,
            ) from None
        except httpx.TransportError as exc:
            self.stats.requests["connection_error"] += 1
            raise transport_error(exc, request_id) from None
        finally:
            if answer is None:
                self._pacer.finished(None, ticket=ticket)
            else:
                answer.gate_wait = self._pacer.finished(answer.headers, answer.status_code, ticket)
        return answer, request_id, bearer

    @property
    def _deadline_secs(self) -> float:
        return self._config.connect_timeout_secs + self._config.read_timeout_secs

    async def _read(self, body: bytes, headers: dict[str, str], request_id: str) -> Answer:
        """POST and read the answer whole, refusing one larger than max_response_bytes."""
        limit = self._config.max_response_bytes
        async with self._http.stream(
            "POST", self.endpoint.path, content=body, headers=headers
        ) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _too_large(f"announces {int(declared):,} bytes", limit, request_id)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise _too_large(f"sent more than {limit:,} bytes", limit, request_id)
                chunks.append(chunk)
        return Answer(response.status_code, response.headers, b"".join(chunks))


def _too_large(what: str, limit: int, request_id: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"Mimecast's answer {what}, over max_response_bytes ({limit:,}); a page of at most "
        "500 clicks is far smaller, so something between us and Mimecast is misbehaving",
        request_id=request_id,
    )


def _is_permission_error(error: MimecastApiError) -> bool:
    """A 403, or a fail[] whose code says forbidden: the role lacks this endpoint."""
    code = (error.code or "").lower()
    return error.http_status == 403 or "forbidden" in code or "permission" in code


def credential_key(config: MimecastSourceConfig) -> tuple[str, ...]:
    """Identifies the credential a quota is counted against (holds no secret)."""
    if config.auth == "oauth2":
        return (config.base_url, "oauth2", config.client_id or "")
    access = config.access_key.get_secret_value() if config.access_key else ""
    return (
        config.base_url,
        "hmac",
        config.app_id or "",
        hashlib.sha256(access.encode()).hexdigest()[:16],
    )
