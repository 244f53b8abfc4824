"""API 1.0 HMAC signing and API 2.0 OAuth2 token caching."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from pydantic import SecretStr

from collector.errors import AuthError, TransientSourceError
from collector.sources.mimecast.auth import (
    HmacSigner,
    OAuth2TokenProvider,
    hmac_date,
    hmac_signature,
)

# Computed independently with:
#   printf '<data-to-sign>' | openssl dgst -sha1 -mac HMAC -macopt hexkey:<hex key> -binary | base64
SECRET_KEY = "bXktc2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5"  # base64("my-secret-key-bytes-0123456789")
DATE = "Tue, 24 Nov 2015 12:50:11 UTC"
REQUEST_ID = "8a1f0c4e-2b7d-4e1a-9c3f-5d6e7f8a9b0c"
APP_KEY = "app-key-123"
EXPECTED_SIGNATURE = "QczXhIDOLeuvjjv1FVkNwy0J6Uk="


def test_hmac_signature_matches_independent_vector() -> None:
    signature = hmac_signature(SECRET_KEY, DATE, REQUEST_ID, "/api/ttp/url/get-logs", APP_KEY)
    assert signature == EXPECTED_SIGNATURE


def test_hmac_date_format() -> None:
    assert hmac_date(1448369411) == DATE


def test_hmac_headers_are_complete_and_fresh_per_request() -> None:
    ids = iter(["id-1", "id-2"])
    signer = HmacSigner(
        "app-id-9",
        SecretStr(APP_KEY),
        SecretStr("access-key-7"),
        SecretStr(SECRET_KEY),
        now=lambda: 1448369411,
        new_request_id=lambda: next(ids),
    )
    first = signer.headers("/api/ttp/url/get-logs")
    second = signer.headers("/api/ttp/url/get-logs")
    assert first["x-mc-date"] == DATE
    assert first["x-mc-app-id"] == "app-id-9"
    assert first["x-mc-req-id"] == "id-1"
    assert second["x-mc-req-id"] == "id-2"
    expected = hmac_signature(SECRET_KEY, DATE, "id-1", "/api/ttp/url/get-logs", APP_KEY)
    assert first["Authorization"] == f"MC access-key-7:{expected}"
    assert second["Authorization"] != first["Authorization"]
    assert "access-key-7" not in repr(signer) and SECRET_KEY not in repr(signer)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_server(expires_in: int = 1799, status: int = 200) -> tuple[httpx.AsyncClient, list[str]]:
    issued: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # lets concurrent callers pile up on the lock
        assert request.url.path == "/oauth/token"
        form = dict(x.split("=") for x in request.content.decode().split("&"))
        assert form == {
            "client_id": "cid",
            "client_secret": "csecret",
            "grant_type": "client_credentials",
        }
        if status != 200:
            return httpx.Response(status, json={"error": "invalid_client"})
        issued.append(f"token-{len(issued) + 1}")
        return httpx.Response(200, json={"access_token": issued[-1], "expires_in": expires_in})

    client = httpx.AsyncClient(base_url="https://mc.test", transport=httpx.MockTransport(handler))
    return client, issued


async def test_token_is_cached_until_60s_before_expiry() -> None:
    clock = FakeClock()
    http, _ = token_server(expires_in=1799)
    provider = OAuth2TokenProvider("cid", SecretStr("csecret"), clock=clock)
    assert await provider.token(http) == "token-1"
    clock.now += 1799 - 61
    assert await provider.token(http) == "token-1"
    clock.now += 2  # now 59 s before expiry: inside the refresh margin
    assert await provider.token(http) == "token-2"
    assert provider.fetches == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    http, issued = token_server()
    provider = OAuth2TokenProvider("cid", SecretStr("csecret"), clock=FakeClock())
    tokens = await asyncio.gather(*(provider.token(http) for _ in range(20)))
    assert set(tokens) == {"token-1"}
    assert issued == ["token-1"]


async def test_invalidate_forces_a_new_token_only_for_that_token() -> None:
    http, _ = token_server()
    provider = OAuth2TokenProvider("cid", SecretStr("csecret"), clock=FakeClock())
    await provider.token(http)
    provider.invalidate("some-other-token")
    assert await provider.token(http) == "token-1"
    provider.invalidate("token-1")
    assert await provider.token(http) == "token-2"


async def test_short_lived_token_refreshes_at_half_life() -> None:
    clock = FakeClock()
    http, _ = token_server(expires_in=60)
    provider = OAuth2TokenProvider("cid", SecretStr("csecret"), clock=clock)
    await provider.token(http)
    clock.now += 29
    assert await provider.token(http) == "token-1"
    clock.now += 2
    assert await provider.token(http) == "token-2"


async def test_bad_client_credentials_are_an_auth_error() -> None:
    http, _ = token_server(status=401)
    provider = OAuth2TokenProvider("cid", SecretStr("csecret"), clock=FakeClock())
    with pytest.raises(AuthError, match="check client_id and client_secret") as info:
        await provider.token(http)
    assert "csecret" not in str(info.value)
    assert info.value.code == "invalid_client"


async def test_token_endpoint_5xx_is_transient() -> None:
    http, _ = token_server(status=503)
    provider = OAuth2TokenProvider("cid", SecretStr("csecret"), clock=FakeClock())
    with pytest.raises(TransientSourceError):
        await provider.token(http)


def test_secret_key_vector_decodes() -> None:
    assert base64.b64decode(SECRET_KEY) == b"my-secret-key-bytes-0123456789"
