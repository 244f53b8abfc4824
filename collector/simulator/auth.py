"""Who may call get-logs: OAuth2 bearer tokens (API 2.0) and HMAC signatures (API 1.0).

Both follow mimecast-api.md section 5. The HMAC check is deliberately strict, so
that a collector that signs sloppily fails here rather than against Mimecast:

* every part must match (app id, access key, signature over date, request id,
  path and app key);
* ``x-mc-date`` must be an RFC 1123 date within 15 minutes of now;
* a request id may be used once: a retry must sign again with a fresh id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs

from collector.simulator.envelope import json_response
from collector.simulator.httpserver import Request, Response

HMAC_MAX_SKEW_SECS = 900
"""How far ``x-mc-date`` may be from the simulator's clock."""


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why a request was refused (always answered as HTTP 401)."""

    code: str
    message: str


MISSING = AuthFailure("err_xdk_client_unauthorized", "Authorization is missing")
BAD_TOKEN = AuthFailure("err_xdk_client_unauthorized", "The access token is invalid or has expired")
BAD_SIGNATURE = AuthFailure("err_xdk_invalid_signature", "0004 Invalid Signature")
REUSED_ID = AuthFailure("err_xdk_duplicate_request_id", "The x-mc-req-id was already used")


class TokenStore:
    """OAuth2 access tokens issued by ``/oauth/token``.

    Args:
        ttl_secs: lifetime of a token.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(self, ttl_secs: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_secs
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        """Return a new token, valid for ``ttl_secs``."""
        now = self._clock()
        if len(self._expiry) > 10_000:  # a long benchmark must not grow this forever
            self._expiry = {t: e for t, e in self._expiry.items() if e > now}
        token = secrets.token_urlsafe(24)
        self._expiry[token] = now + self._ttl
        return token

    def is_valid(self, token: str) -> bool:
        """Return whether ``token`` was issued here and has not expired."""
        expiry = self._expiry.get(token)
        return expiry is not None and self._clock() < expiry

    def expire_all(self) -> None:
        """Expire every token issued so far (the ``token_expire`` fault)."""
        self._expiry = dict.fromkeys(self._expiry, float("-inf"))


class HmacVerifier:
    """Checks API 1.0 signatures.

    Args:
        app_id: expected ``x-mc-app-id``.
        app_key: the application key that is part of the signed data.
        access_key: expected access key in ``Authorization: MC <access key>:<sig>``.
        secret_key: the base64 secret key.
        remember: how many recent request ids are remembered to refuse reuse.
        clock: wall-clock seconds, for the ``x-mc-date`` skew check.
    """

    def __init__(
        self,
        *,
        app_id: str,
        app_key: str,
        access_key: str,
        secret_key: str,
        remember: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app_id = app_id
        self._app_key = app_key
        self._access_key = access_key
        self._secret = base64.b64decode(secret_key)
        self._remember = remember
        self._clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()

    def verify(self, headers: dict[str, str], path: str) -> AuthFailure | None:
        """Return None when the request is correctly signed, else why not."""
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        access_key, _, signature = credentials.strip().rpartition(":")
        date = headers.get("x-mc-date", "")
        request_id = headers.get("x-mc-req-id", "")
        if (
            scheme != "MC"
            or not _same(access_key, self._access_key)
            or not _same(headers.get("x-mc-app-id", ""), self._app_id)
            or not request_id
            or not self._fresh(date)
        ):
            return BAD_SIGNATURE
        expected = sign(self._secret, f"{date}:{request_id}:{path}:{self._app_key}")
        if not _same(signature, expected):
            return BAD_SIGNATURE
        if request_id in self._seen:
            return REUSED_ID
        self._seen[request_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return None

    def _fresh(self, date: str) -> bool:
        try:
            sent = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return False
        if sent.tzinfo is None:
            return False
        return abs(sent.timestamp() - self._clock()) <= HMAC_MAX_SKEW_SECS


def sign(secret: bytes, data: str) -> str:
    """Return base64(HMAC-SHA1(secret, data)), Mimecast's API 1.0 signature."""
    return base64.b64encode(hmac.new(secret, data.encode(), hashlib.sha1).digest()).decode()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Authenticator:
    """Checks a get-logs request: Bearer token or MC signature, whichever it carries."""

    def __init__(self, tokens: TokenStore, verifier: HmacVerifier) -> None:
        self._tokens = tokens
        self._verifier = verifier

    def check(self, request: Request) -> AuthFailure | None:
        """Return None when the request may proceed, else why it may not."""
        authorization = request.headers.get("authorization", "")
        if not authorization:
            return MISSING
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip()
            return None if self._tokens.is_valid(token) else BAD_TOKEN
        if authorization.startswith("MC "):
            return self._verifier.verify(request.headers, request.path)
        return MISSING


def token_endpoint(
    request: Request, *, client_id: str, client_secret: str, tokens: TokenStore, ttl_secs: int
) -> Response:
    """Answer ``POST /oauth/token`` (client credentials grant, form-encoded).

    Client credentials may also come as HTTP Basic auth (RFC 6749 section 2.3.1).
    """
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    given_id, given_secret = form.get("client_id", ""), form.get("client_secret", "")
    basic = request.headers.get("authorization", "")
    if basic.startswith("Basic "):
        try:
            decoded = base64.b64decode(basic[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        given_id, _, given_secret = decoded.partition(":")
    if not (_same(given_id, client_id) and _same(given_secret, client_secret)):
        return json_response(401, {"error": "invalid_client"})
    grant = form.get("grant_type")
    if grant is None:
        return json_response(400, {"error": "invalid_request"})
    if grant != "client_credentials":
        return json_response(400, {"error": "unsupported_grant_type"})
    return json_response(
        200,
        {
            "access_token": tokens.issue(),
            "token_type": "Bearer",
            "expires_in": ttl_secs,
            "scope": "",
        },
    )
