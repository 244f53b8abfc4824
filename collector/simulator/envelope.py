"""The wire shapes of Mimecast answers: the error envelope and every fault's response.

Mimecast wraps errors in the same envelope as data (mimecast-api.md section 3)::

    {"meta": {"status": <status>}, "data": [], "fail": [{"errors": [{"code": ..,
     "message": .., "retryable": ..}]}]}

A function-level failure is HTTP 200 with a non-empty ``fail[]`` whose entry also
carries the ``key`` (the ``data[]`` item that failed).
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from collector.simulator.faults import QuotaConfig
from collector.simulator.httpserver import Response

HeaderList = list[tuple[str, str]]


def json_response(status: int, payload: Any, headers: HeaderList | None = None) -> Response:
    """Return ``payload`` as a compact JSON response."""
    return Response(status, orjson.dumps(payload), headers=list(headers or []))


def mimecast_error(
    status: int,
    code: str,
    message: str,
    *,
    retryable: bool = False,
    field: str | None = None,
    key: Any = None,
    headers: HeaderList | None = None,
) -> Response:
    """Return the Mimecast error envelope with HTTP ``status`` (also ``meta.status``).

    Args:
        status: HTTP status and ``meta.status``.
        code: the ``err_...`` code.
        message: the human message.
        retryable: the error object's ``retryable`` flag.
        field: the request field at fault, when there is one.
        key: the ``data[]`` item that failed (function-level failures), or None.
        headers: extra headers (``X-RateLimit-*``).
    """
    error: dict[str, Any] = {"code": code, "message": message, "retryable": retryable}
    if field is not None:
        error["field"] = field
    failure: dict[str, Any] = {"errors": [error]}
    if key is not None:
        failure = {"key": key, **failure}
    payload = {"meta": {"status": status}, "data": [], "fail": [failure]}
    return json_response(status, payload, headers)


def invalid_page_token(key: Any, headers: HeaderList | None = None) -> Response:
    """Return the HTTP 200 answer to a pageToken that does not decode or has expired."""
    return mimecast_error(
        200,
        "err_validation_invalid_page_token",
        "The pageToken is invalid or has expired",
        field="pageToken",
        key=key,
        headers=headers,
    )


def quota_exceeded(quota: QuotaConfig | None, style: str, headers: HeaderList) -> Response:
    """Return a 429 in the Mimecast (``fail``) or API 2.0 gateway (``detail``) style."""
    if style == "detail":
        limit = quota.describe() if quota is not None else "10000/hour"
        return json_response(429, {"detail": f"Over throttling limit ({limit})"}, headers)
    return mimecast_error(
        429, "err_xdk_rate_limit_exceeded", "Quota Exceeded", retryable=True, headers=headers
    )


def fault_response(
    kind: str,
    *,
    rng: random.Random,
    key: Any,
    quota: QuotaConfig | None,
    headers: HeaderList,
) -> Response:
    """Return the response of an injected fault that replaces the normal answer.

    Args:
        kind: a kind from ``FAULT_KINDS`` other than drop, truncate, slow and
            token_expire (those change how the normal answer is delivered).
        rng: the fault plan's random generator.
        key: the request's ``data[0]`` item, echoed in HTTP 200 ``fail[]`` entries.
        quota: the configured quota, if any (429 limit and body style).
        headers: the ``X-RateLimit-*`` headers of a quota, if any.
    """
    if kind.startswith("rate_limit"):
        return _throttled(kind, rng=rng, quota=quota)
    if kind == "server_error":
        status = rng.choice((500, 502, 503, 504))
        if status == 500:
            return mimecast_error(
                500, "err_server_error", "Internal server error", retryable=True, headers=headers
            )
        html = f"<html><body><h1>{status} Gateway error</h1></body></html>".encode()
        return Response(status, html, "text/html", headers=list(headers))
    simple: dict[str, tuple[int, str, str, bool, str | None]] = {
        "retryable_fail": (
            200,
            "err_xdk_temporarily_unavailable",
            "The service is temporarily unavailable, please retry",
            True,
            None,
        ),
        "fatal_fail": (200, "err_validation_blank", "A required value is blank", False, "route"),
        "unauthorized": (401, "err_xdk_client_unauthorized", "Unauthorized", False, None),
        "forbidden": (403, "err_xdk_forbidden", "Forbidden", False, None),
        "binding_expired": (418, "err_xdk_binding_expired", "Binding Expired", False, None),
    }
    if kind == "page_token_reject":
        return invalid_page_token(key, headers)
    status, code, message, retryable, field = simple[kind]
    return mimecast_error(
        status,
        code,
        message,
        retryable=retryable,
        field=field,
        key=key if status == 200 else None,
        headers=headers,
    )


# The X-RateLimit-Reset of each 429 variant whose Reset is not a usable wait.
_ODD_RESETS = {
    "rate_limit_zero_reset": "0",
    "rate_limit_negative_reset": "-5",
    "rate_limit_nan_reset": "nan",
}


def _throttled(kind: str, *, rng: random.Random, quota: QuotaConfig | None) -> Response:
    """Return one of the injected 429 variants (docs/simulator.md, "429 variants")."""
    limit = quota.limit if quota is not None else 10_000
    if kind == "rate_limit_burst":
        # The API 2.0 gateway's burst throttle: refused although the quota is far
        # from spent, with a short Reset.
        remaining = limit - max(1, limit // 1000)
        headers = [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", "300"),
        ]
        return json_response(429, {"detail": "Over throttling limit"}, headers)
    headers = [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", "0")]
    if kind in _ODD_RESETS:
        headers.append(("X-RateLimit-Reset", _ODD_RESETS[kind]))
    elif kind != "rate_limit_no_reset":
        headers.append(("X-RateLimit-Reset", str(rng.randint(200, 1000))))
    if kind == "rate_limit_detail":
        return json_response(429, {"detail": "Over throttling limit (10000/hour)"}, headers)
    return quota_exceeded(quota, quota.body_style if quota else "fail", headers)
