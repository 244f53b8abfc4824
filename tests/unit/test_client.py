"""The Mimecast client against an in-process transport: requests, answers, retries."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from collector.errors import (
    AuthError,
    BindingExpiredError,
    MimecastApiError,
    PageTokenRejectedError,
    RateLimitedError,
    TransientSourceError,
)
from collector.retry import RetryPolicy
from collector.sources.mimecast.client import MimecastClient
from collector.sources.mimecast.config import MimecastSourceConfig
from collector.sources.mimecast.pacer import QuotaPacer
from collector.sources.mimecast.responses import rate_limit_wait_secs
from collector.stats import SourceStats

CLICK = {
    "userEmailAddress": "a@corp.example",
    "url": "https://x.example/",
    "date": "2025-03-04T09:12:44+0000",
}
SECRET_KEY = "bXktc2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5"


def page(clicks: list[dict[str, Any]], next_token: str | None = None) -> httpx.Response:
    pagination: dict[str, Any] = {"pageSize": len(clicks)}
    if next_token:
        pagination["next"] = next_token
    return httpx.Response(
        200,
        json={
            "meta": {"status": 200, "pagination": pagination},
            "data": [{"clickLogs": clicks}],
            "fail": [],
        },
    )


def fail(code: str, retryable: bool, status: int = 200, field: str | None = None) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "message": f"{code} happened", "retryable": retryable}
    if field:
        error["field"] = field
    return httpx.Response(
        status, json={"meta": {"status": status}, "data": [], "fail": [{"errors": [error]}]}
    )


class Recorder:
    """A scripted Mimecast: answers get-logs from a list; tokens always succeed."""

    def __init__(self, answers: list[httpx.Response | Exception]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []
        self.token_requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_requests += 1
            return httpx.Response(
                200, json={"access_token": f"tok{self.token_requests}", "expires_in": 1799}
            )
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(
    recorder: Recorder, waits: list[float], auth: str = "oauth2", budget: float = 600
) -> MimecastClient:
    settings: dict[str, Any] = {
        "type": "mimecast_ttp_url",
        "base_url": "https://mc.test",
        "auth": auth,
    }
    if auth == "oauth2":
        settings |= {"client_id": "cid", "client_secret": "csecret"}
    else:
        settings |= {
            "app_id": "aid",
            "app_key": "akey",
            "access_key": "acc",
            "secret_key": SECRET_KEY,
        }
    config = MimecastSourceConfig.model_validate(settings)
    now = [0.0]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    policy = RetryPolicy(max_secs=budget, sleep=sleep, clock=lambda: now[0], rng=random.Random(7))
    # The credential's gate runs on the same fake clock, so nothing here really sleeps.
    pacer = QuotaPacer(clock=lambda: now[0], sleep=sleep)
    return MimecastClient(
        "t",
        config,
        stats=SourceStats(),
        retry=policy,
        transport=httpx.MockTransport(recorder),
        pacer=pacer,
    )


async def test_request_body_and_page() -> None:
    recorder = Recorder([page([CLICK], "tok-2")])
    client = make_client(recorder, [])
    result = await client.fetch(1741079564, 1741083164, "tok-1")
    body = orjson.loads(recorder.requests[0].content)
    assert body == {
        "meta": {"pagination": {"pageSize": 500, "pageToken": "tok-1"}},
        "data": [
            {
                "from": "2025-03-04T09:12:44+0000",
                "to": "2025-03-04T10:12:44+0000",
                "route": "all",
                "scanResult": "all",
                "oldestFirst": True,
            }
        ],
    }
    assert recorder.requests[0].headers["Authorization"] == "Bearer tok1"
    assert result.records == [CLICK]
    assert result.next_token == "tok-2"


async def test_429_waits_at_least_rate_limit_reset() -> None:
    limited = httpx.Response(
        429, headers={"X-RateLimit-Reset": "1500", "X-RateLimit-Remaining": "0"}
    )
    recorder = Recorder([limited, page([CLICK])])
    waits: list[float] = []
    client = make_client(recorder, waits)
    await client.fetch(0, 10, None)
    assert len(recorder.requests) == 2
    assert len(waits) == 1
    # The gate adds up to 10% jitter, the retry up to 10% + 50 ms on top of that.
    assert 1.5 <= waits[0] <= 1.5 * 1.1 * 1.1 + 0.05
    assert client.stats.rate_limited == 1
    assert client.stats.rate_limited_wait_secs == pytest.approx(waits[0])


def test_rate_limit_reset_epoch_forms() -> None:
    assert rate_limit_wait_secs("2500", now=100.0) == 2.5
    assert rate_limit_wait_secs("1700000030", now=1700000000.0) == 30.0
    assert rate_limit_wait_secs("1700000030000", now=1700000000.0) == 30.0
    assert rate_limit_wait_secs("garbage") is None
    assert rate_limit_wait_secs(None) is None


async def test_429_detail_body_is_rate_limited_and_retried() -> None:
    limited = httpx.Response(429, json={"detail": "Over throttling limit (10000/hour)"})
    recorder = Recorder([limited, limited, page([CLICK])])
    waits: list[float] = []
    client = make_client(recorder, waits)
    result = await client.fetch(0, 10, None)
    assert result.records == [CLICK]
    assert len(waits) == 2
    # No header: the gate's backoff, its lower half fixed (never a retry storm): 1 s
    # then 2 s ceilings, plus the retry's small jitter on top of the gate's wait.
    assert 0.5 <= waits[0] <= 1 + 0.15 and 1.0 <= waits[1] <= 2 + 0.25


@pytest.mark.parametrize("status", [500, 502, 503, 504, 509])
async def test_5xx_is_retried(status: int) -> None:
    recorder = Recorder([httpx.Response(status, text="<html>oops</html>"), page([CLICK])])
    waits: list[float] = []
    await make_client(recorder, waits).fetch(0, 10, None)
    assert len(recorder.requests) == 2 and len(waits) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (fail("err_validation_blank", False, 400, "route"), MimecastApiError),
        (fail("err_xdk_forbidden", False, 403), AuthError),
        (fail("err_xdk_not_found", False, 404), MimecastApiError),
        (fail("err_xdk_binding_expired", False, 418), BindingExpiredError),
        (fail("err_validation_blank", False, 200, "route"), MimecastApiError),
    ],
)
async def test_permanent_errors_are_not_retried(
    answer: httpx.Response, error: type[Exception]
) -> None:
    recorder = Recorder([answer, page([CLICK])])
    waits: list[float] = []
    with pytest.raises(error) as info:
        await make_client(recorder, waits).fetch(0, 10, None)
    assert len(recorder.requests) == 1
    assert waits == []
    assert "err_" in str(info.value)


async def test_binding_expired_says_what_to_do() -> None:
    recorder = Recorder([fail("err_xdk_binding_expired", False, 418)])
    with pytest.raises(BindingExpiredError) as info:
        await make_client(recorder, [], auth="hmac").fetch(0, 10, None)
    message = str(info.value)
    assert message.startswith("API 1.0 key binding expired")
    assert "Never Expires" in message and "oauth2" in message


async def test_418_under_oauth2_does_not_talk_about_api_1_keys() -> None:
    recorder = Recorder([fail("err_xdk_binding_expired", False, 418)])
    with pytest.raises(BindingExpiredError) as info:
        await make_client(recorder, []).fetch(0, 10, None)
    message = str(info.value)
    assert "API 1.0 key binding expired" not in message
    assert "base_url" in message and "api.services.mimecast.com" in message


async def test_401_refreshes_the_token_once() -> None:
    unauthorized = fail("err_xdk_client_unauthorized", False, 401)
    recorder = Recorder([unauthorized, page([CLICK])])
    client = make_client(recorder, [])
    await client.fetch(0, 10, None)
    assert recorder.token_requests == 2
    assert [r.headers["Authorization"] for r in recorder.requests] == ["Bearer tok1", "Bearer tok2"]


async def test_second_401_is_an_auth_error_without_retry() -> None:
    unauthorized = fail("err_xdk_client_unauthorized", False, 401)
    recorder = Recorder([unauthorized, unauthorized, page([CLICK])])
    waits: list[float] = []
    with pytest.raises(AuthError, match="err_xdk_client_unauthorized"):
        await make_client(recorder, waits).fetch(0, 10, None)
    assert len(recorder.requests) == 2 and waits == []


async def test_hmac_401_is_not_retried_and_each_request_gets_a_new_id() -> None:
    recorder = Recorder([httpx.Response(503), fail("err_xdk_invalid_signature", False, 401)])
    with pytest.raises(AuthError, match="err_xdk_invalid_signature"):
        await make_client(recorder, [], auth="hmac").fetch(0, 10, None)
    ids = [r.headers["x-mc-req-id"] for r in recorder.requests]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(r.headers["Authorization"].startswith("MC acc:") for r in recorder.requests)


async def test_retryable_fail_in_a_200_is_retried() -> None:
    recorder = Recorder([fail("err_xdk_temporarily_unavailable", True), page([CLICK])])
    waits: list[float] = []
    await make_client(recorder, waits).fetch(0, 10, None)
    assert len(recorder.requests) == 2 and len(waits) == 1


async def test_meta_status_failure_in_a_200() -> None:
    body = {"meta": {"status": 500}, "data": [], "fail": []}
    recorder = Recorder([httpx.Response(200, json=body), page([CLICK])])
    await make_client(recorder, []).fetch(0, 10, None)
    assert len(recorder.requests) == 2


Failure = Callable[[], httpx.Response | Exception]


@pytest.mark.parametrize(
    "failure",
    [
        lambda: httpx.Response(200, content=b'{"meta":{"status":200},"data":[{"clickLo'),
        lambda: httpx.ReadTimeout("slow"),
        lambda: httpx.ConnectError("refused"),
        lambda: httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        ),
    ],
)
async def test_transport_failures_and_bad_bodies_are_retried(failure: Failure) -> None:
    recorder = Recorder([failure(), page([CLICK])])
    waits: list[float] = []
    result = await make_client(recorder, waits).fetch(0, 10, None)
    assert result.records == [CLICK] and len(waits) == 1


async def test_rejected_page_token() -> None:
    answer = fail("err_validation_invalid_page_token", False, 200, "pageToken")
    recorder = Recorder([answer])
    with pytest.raises(PageTokenRejectedError):
        await make_client(recorder, []).fetch(0, 10, "stale")


async def test_budget_is_respected() -> None:
    recorder = Recorder([httpx.Response(503)] * 50)
    waits: list[float] = []
    with pytest.raises(TransientSourceError):
        await make_client(recorder, waits, budget=20).fetch(0, 10, None)
    assert sum(waits) <= 20
    assert len(recorder.requests) == len(waits) + 1


async def test_429_longer_than_the_budget_fails_at_once() -> None:
    limited = httpx.Response(429, headers={"X-RateLimit-Reset": "900000"})
    recorder = Recorder([limited, page([CLICK])])
    waits: list[float] = []
    with pytest.raises(RateLimitedError):
        await make_client(recorder, waits, budget=60).fetch(0, 10, None)
    assert waits == []


async def test_empty_data_variant_is_an_empty_page() -> None:
    body = {
        "meta": {"status": 200, "pagination": {"pageSize": 0, "next": "next"}},
        "data": [],
        "fail": [],
    }
    recorder = Recorder([httpx.Response(200, json=body)])
    result = await make_client(recorder, []).fetch(0, 10, "x")
    assert result.records == [] and result.next_token == "next"
