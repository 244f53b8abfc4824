"""Reading Mimecast's answers: a page of clicks, or the right error.

Mimecast's HTTP status only says how the HTTP call went: a 200 can still carry
a failure in ``fail[]`` or in ``meta.status`` (mimecast-api.md, section 3), so
all three are checked.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from collector.errors import (
    AuthError,
    BindingExpiredError,
    MimecastApiError,
    PageTokenRejectedError,
    RateLimitedError,
    TransientSourceError,
)
from collector.events import ClickLog
from collector.net import certificate_advice, certificate_failure
from collector.retry import is_retryable_status


@dataclass(slots=True)
class Answer:
    """One answer of Mimecast, read whole.

    ``gate_wait`` is set after a 429: how long the credential's gate is now closed.
    """

    status_code: int
    headers: httpx.Headers
    content: bytes
    gate_wait: float | None = None


OAUTH2_418_ADVICE = (
    "Mimecast answered HTTP 418 (Binding Expired), which belongs to API 1.0 keys, to an "
    'API 2.0 (auth = "oauth2") request: check that base_url is an API 2.0 host such as '
    "https://api.services.mimecast.com, not a legacy xx-api.mimecast.com one"
)

BINDING_EXPIRED_ADVICE = (
    "API 1.0 key binding expired: the access key and secret key have passed the "
    "Authentication Profile's TTL. Create new keys for the API user (Administration > "
    "Services > API and Platform Integrations), set that user's Authentication Profile "
    'TTL to "Never Expires", or move to API 2.0 (auth = "oauth2")'
)


def rate_limit_wait_secs(reset: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from an ``X-RateLimit-Reset`` header.

    Mimecast documents milliseconds; some gateways send an epoch timestamp
    instead, which is recognised by its size (seconds above 1e9, ms above 1e12).
    """
    if reset is None:
        return None
    try:
        value = float(reset)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    now = time.time() if now is None else now
    if value > 1e12:
        return max(0.0, value / 1000 - now)
    if value > 1e9:
        return max(0.0, value - now)
    return max(0.0, value / 1000)


def _parse_body(response: Answer, request_id: str) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise TransientSourceError(
            f"unparseable response body from Mimecast (HTTP {response.status_code}, "
            f"{len(response.content)} bytes)",
            request_id=request_id,
        ) from None
    if not isinstance(body, dict):
        raise TransientSourceError(
            "unexpected response body from Mimecast (not a JSON object)", request_id=request_id
        )
    return body


def _first_error(body: dict[str, Any]) -> tuple[str | None, str, bool, str | None]:
    """(code, message, any retryable, field) of a ``fail[]`` list; code None if empty."""
    fails = body.get("fail")
    if not isinstance(fails, list):
        return None, "", False, None
    first: dict[str, Any] | None = None
    retryable = False
    for failure in fails:
        errors = failure.get("errors") if isinstance(failure, dict) else None
        for error in errors if isinstance(errors, list) else []:
            if isinstance(error, dict):
                first = first or error
                retryable = retryable or error.get("retryable") is True
    if first is None:
        return (None, "", False, None) if not fails else ("unknown", str(fails)[:200], False, None)
    field = first.get("field")
    return (
        str(first.get("code", "unknown")),
        str(first.get("message", "")),
        retryable,
        str(field) if field is not None else None,
    )


def _is_page_token_error(code: str, field: str | None) -> bool:
    lowered = code.lower().replace("_", "")
    return field in ("pageToken", "meta.pagination.pageToken") or "pagetoken" in lowered


def _api_error(status: int, body: dict[str, Any], request_id: str, has_token: bool) -> Exception:
    code, message, retryable, field = _first_error(body)
    detail = f"{code}: {message}" if code else f"meta.status {status}"
    text = f"Mimecast error {detail} (HTTP {status})"
    if status == 429:
        return RateLimitedError(text, request_id=request_id)
    if retryable or is_retryable_status(status):
        return TransientSourceError(text, request_id=request_id)
    if has_token and code and _is_page_token_error(code, field):
        return PageTokenRejectedError(text, code=code, http_status=status, request_id=request_id)
    return MimecastApiError(text, code=code, http_status=status, request_id=request_id)


def _error_for_status(response: Answer, request_id: str, has_token: bool) -> Exception:
    status = response.status_code
    if status == 429:
        wait = rate_limit_wait_secs(response.headers.get("X-RateLimit-Reset"))
        try:
            detail = orjson.loads(response.content).get("detail")
        except (orjson.JSONDecodeError, AttributeError):
            detail = None
        reason = f": {detail}" if isinstance(detail, str) else ""
        return RateLimitedError(
            f"Mimecast quota exceeded (HTTP 429{reason})",
            request_id=request_id,
            retry_after_secs=wait,
        )
    if is_retryable_status(status):
        return TransientSourceError(f"Mimecast answered HTTP {status}", request_id=request_id)
    try:
        body = _parse_body(response, request_id)
    except TransientSourceError:
        body = {}
    code, message, _, _ = _first_error(body)
    detail = f"{code}: {message}, " if code else ""
    if status == 418 or code == "err_xdk_binding_expired":
        return BindingExpiredError(
            f"{BINDING_EXPIRED_ADVICE} ({detail}HTTP {status})",
            code=code,
            http_status=status,
            request_id=request_id,
        )
    if status in (401, 403):
        what = "credentials" if status == 401 else "permissions"
        return AuthError(
            f"Mimecast rejected the {what} ({detail}HTTP {status})",
            code=code,
            http_status=status,
            request_id=request_id,
        )
    return _api_error(status, body, request_id, has_token)


def classify_response(
    response: Answer, request_id: str, has_token: bool, data_key: str = "clickLogs"
) -> tuple[list[ClickLog], str | None]:
    """Return (click logs, next page token) or raise the error this answer means."""
    if response.status_code != 200:
        raise _error_for_status(response, request_id, has_token)
    body = _parse_body(response, request_id)
    meta = body.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    status = meta.get("status", 200)
    code, _, _, _ = _first_error(body)
    if code is not None or status != 200:
        raise _api_error(status if isinstance(status, int) else 200, body, request_id, has_token)
    data = body.get("data")
    if not isinstance(data, list):
        raise TransientSourceError(
            "unexpected response from Mimecast: no data[]", request_id=request_id
        )
    clicks: list[ClickLog] = []
    for item in data:
        logs = item.get(data_key) if isinstance(item, dict) else None
        if not isinstance(logs, list):
            raise TransientSourceError(
                f"unexpected response from Mimecast: data[] without {data_key}",
                request_id=request_id,
            )
        clicks.extend(logs)
    pagination = meta.get("pagination")
    next_token = pagination.get("next") if isinstance(pagination, dict) else None
    return clicks, next_token if isinstance(next_token, str) and next_token else None


def transport_error(exc: httpx.TransportError, request_id: str | None) -> Exception:
    """The error a failed connection means: a bad certificate is final, the rest transient."""
    failure = certificate_failure(exc)
    if failure is not None:
        # A wrong certificate will not fix itself: fail now, and say what to do.
        advice = certificate_advice(
            failure, "if a TLS-inspecting proxy is in the way, set ca_file to its CA bundle"
        )
        return MimecastApiError(
            f"TLS certificate of the Mimecast endpoint could not be verified ({advice})",
            request_id=request_id,
        )
    return TransientSourceError(
        f"connection to Mimecast failed: {type(exc).__name__}: {exc or 'no details'}",
        request_id=request_id,
    )
