"""Mimecast authentication: API 2.0 OAuth2 client credentials and API 1.0 HMAC-SHA1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable

import httpx
import orjson
from pydantic import SecretStr

from collector.errors import AuthError, TransientSourceError
from collector.secrets import forget_secret, register_secret
from collector.sources.mimecast.responses import transport_error

TOKEN_PATH = "/oauth/token"  # noqa: S105  (a URL path, not a password)

# Refresh a token this long before Mimecast says it expires, so a request never
# leaves with a token that dies on the way.
REFRESH_MARGIN_SECS = 60.0


class OAuth2TokenProvider:
    """Fetches, caches and refreshes an API 2.0 bearer token.

    The token is refreshed ``REFRESH_MARGIN_SECS`` before ``expires_in`` runs out
    (or at half its life when that is shorter). Concurrent callers share one
    fetch: the first one fetches while the others wait on the same lock.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._last_token: str | None = None  # still registered as a secret
        self._refresh_at = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        return f"OAuth2TokenProvider(client_id={self._client_id!r})"

    async def token(self, http: httpx.AsyncClient) -> str:
        """Return a valid bearer token, fetching a new one when needed."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        async with self._lock:
            # Another caller may have refreshed it while this one waited.
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            token, lifetime = await self._fetch(http)
            margin = min(REFRESH_MARGIN_SECS, lifetime / 2)
            if self._last_token is not None and self._last_token != token:
                # A token lives 30 minutes; remembering every one would grow without end.
                forget_secret(self._last_token)
            self._token, self._last_token = token, token
            self._refresh_at = self._clock() + lifetime - margin
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (Mimecast answered 401 to it); the next call fetches anew."""
        if self._token == token:
            self._token = None

    async def _fetch(self, http: httpx.AsyncClient) -> tuple[str, float]:
        self.fetches += 1
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        try:
            response = await http.post(TOKEN_PATH, data=form)
        except httpx.TimeoutException:
            raise TransientSourceError("timed out fetching an OAuth2 token") from None
        except httpx.TransportError as exc:
            raise transport_error(exc, None) from None
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"Mimecast rejected the API 2.0 client credentials (HTTP {response.status_code}"
                f"{_oauth_error(response)}): check client_id and client_secret",
                http_status=response.status_code,
                code=_oauth_error(response).strip(", ") or None,
            )
        if response.status_code != 200:
            raise TransientSourceError(
                f"token endpoint answered HTTP {response.status_code}",
                retry_after_secs=None,
            )
        try:
            body = orjson.loads(response.content)
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 1799))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise TransientSourceError("token endpoint returned an unreadable body") from None
        # Registered before anyone can use it: an error echoing the Authorization header
        # must never print it.
        register_secret(token)
        return token, max(lifetime, 1.0)


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f", {error}" if isinstance(error, str) else ""


def hmac_date(epoch: float) -> str:
    """The ``x-mc-date`` format: ``Tue, 24 Nov 2015 12:50:11 UTC``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(epoch))


def hmac_signature(secret_key: str, date: str, request_id: str, path: str, app_key: str) -> str:
    """base64(HMAC-SHA1(base64decode(secret_key), "date:req-id:path:app-key"))."""
    data_to_sign = f"{date}:{request_id}:{path}:{app_key}".encode()
    digest = hmac.new(base64.b64decode(secret_key), data_to_sign, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class HmacSigner:
    """Builds the API 1.0 headers; every call gets a fresh ``x-mc-req-id``."""

    def __init__(
        self,
        app_id: str,
        app_key: SecretStr,
        access_key: SecretStr,
        secret_key: SecretStr,
        *,
        now: Callable[[], float] = time.time,
        new_request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._app_id = app_id
        self._app_key = app_key
        self._access_key = access_key
        self._secret_key = secret_key
        self._now = now
        self._new_request_id = new_request_id

    def __repr__(self) -> str:
        return f"HmacSigner(app_id={self._app_id!r})"

    def headers(self, path: str) -> dict[str, str]:
        """Headers for one request to ``path`` (the URI path, e.g. /api/ttp/url/get-logs)."""
        date = hmac_date(self._now())
        request_id = self._new_request_id()
        signature = hmac_signature(
            self._secret_key.get_secret_value(),
            date,
            request_id,
            path,
            self._app_key.get_secret_value(),
        )
        return {
            "x-mc-date": date,
            "x-mc-req-id": request_id,
            "x-mc-app-id": self._app_id,
            "Authorization": f"MC {self._access_key.get_secret_value()}:{signature}",
        }
