"""Every fault kind's wire behaviour, scheduling and random rates."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from collector.events import format_mimecast_date
from collector.simulator import ClickDataset, FaultPlan, QuotaConfig, Simulator, SimulatorConfig

from .helpers import GET_LOGS, T0, MakeSim, bearer, body, error_of, get_logs, logs_of

ITEM = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 600)}


async def _setup(
    make_sim: MakeSim,
    client: httpx.AsyncClient,
    kind: str | None = None,
    count: int = 1,
    config: SimulatorConfig | None = None,
) -> tuple[Simulator, dict[str, str]]:
    dataset = ClickDataset.generate(40, start=T0, end=T0 + 600, seed=9)
    sim = await make_sim(config, dataset, FaultPlan(seed=5))
    auth = await bearer(client, sim)
    if kind is not None:
        sim.faults.schedule(kind, count)
    return sim, auth


def _reset_ms(response: httpx.Response) -> int:
    return int(response.headers["x-ratelimit-reset"])


@pytest.mark.parametrize(
    ("config", "expected_body"),
    [
        (None, "fail"),
        (SimulatorConfig(quota=QuotaConfig(1000, 60, body_style="detail")), "detail"),
    ],
)
async def test_rate_limit(
    make_sim: MakeSim,
    client: httpx.AsyncClient,
    config: SimulatorConfig | None,
    expected_body: str,
) -> None:
    sim, auth = await _setup(make_sim, client, "rate_limit", config=config)
    response = await get_logs(client, sim, auth, body(ITEM))
    assert response.status_code == 429
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-limit"] == ("1000" if config else "10000")
    assert 200 <= _reset_ms(response) <= 1000
    if expected_body == "fail":
        error = error_of(response)
        assert error == {
            "code": "err_xdk_rate_limit_exceeded",
            "message": "Quota Exceeded",
            "retryable": True,
        }
    else:
        assert response.json() == {"detail": "Over throttling limit (1000/minute)"}
    assert sim.stats.outcomes["rate_limit"] == 1 and sim.stats.rate_limited == 1
    assert (await get_logs(client, sim, auth, body(ITEM))).status_code == 200


async def test_rate_limit_detail(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    sim, auth = await _setup(make_sim, client, "rate_limit_detail")
    response = await get_logs(client, sim, auth, body(ITEM))
    assert response.status_code == 429
    assert response.json() == {"detail": "Over throttling limit (10000/hour)"}
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert 200 <= _reset_ms(response) <= 1000


async def test_server_error(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    sim, auth = await _setup(make_sim, client, "server_error", count=16)
    statuses = set()
    for _ in range(16):
        response = await get_logs(client, sim, auth, body(ITEM))
        statuses.add(response.status_code)
        if response.status_code == 500:
            error = error_of(response)
            assert error["code"] == "err_server_error" and error["retryable"] is True
        else:
            assert response.headers["content-type"] == "text/html"
            assert b"<html>" in response.content
    assert statuses == {500, 502, 503, 504}
    assert sim.stats.outcomes["server_error"] == 16


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (
            "retryable_fail",
            {
                "code": "err_xdk_temporarily_unavailable",
                "message": "The service is temporarily unavailable, please retry",
                "retryable": True,
            },
        ),
        (
            "fatal_fail",
            {
                "code": "err_validation_blank",
                "message": "A required value is blank",
                "retryable": False,
                "field": "route",
            },
        ),
    ],
)
async def test_http_200_fail_faults(
    make_sim: MakeSim, client: httpx.AsyncClient, kind: str, error: dict[str, object]
) -> None:
    sim, auth = await _setup(make_sim, client, kind)
    response = await get_logs(client, sim, auth, body(ITEM))
    assert response.status_code == 200
    assert response.json() == {
        "meta": {"status": 200},
        "data": [],
        "fail": [{"key": ITEM, "errors": [error]}],
    }


@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        ("unauthorized", 401, "err_xdk_client_unauthorized", "Unauthorized"),
        ("forbidden", 403, "err_xdk_forbidden", "Forbidden"),
        ("binding_expired", 418, "err_xdk_binding_expired", "Binding Expired"),
    ],
)
async def test_auth_faults(
    make_sim: MakeSim, client: httpx.AsyncClient, kind: str, status: int, code: str, message: str
) -> None:
    sim, auth = await _setup(make_sim, client, kind)
    response = await get_logs(client, sim, auth, body(ITEM))
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["message"], error["retryable"]) == (code, message, False)
    # One-off: the same credentials work again.
    assert (await get_logs(client, sim, auth, body(ITEM))).status_code == 200


async def test_drop_closes_without_a_response(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    sim, auth = await _setup(make_sim, client, "drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await get_logs(client, sim, auth, body(ITEM))
    assert sim.stats.outcomes["drop"] == 1
    assert (await get_logs(client, sim, auth, body(ITEM))).status_code == 200


async def test_truncate_sends_half_the_announced_body(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth = await _setup(make_sim, client, "truncate", count=2)
    payload = b'{"data":[{"from":"2024-11-07T17:20:00+0000","to":"2024-11-07T17:30:00+0000"}]}'
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(
        f"POST {GET_LOGS} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    raw = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    await writer.wait_closed()
    head, _, received = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    announced = int(
        next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length")).split(
            b":"
        )[1]
    )
    assert announced > 1000
    assert len(received) == announced // 2
    with pytest.raises(httpx.RemoteProtocolError):
        await get_logs(client, sim, auth, body(ITEM))


async def test_slow_answers_after_slow_secs(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    sim, auth = await _setup(make_sim, client, "slow", count=2)
    sim.faults.slow_secs = 0.4
    with pytest.raises(httpx.ReadTimeout):
        await client.post(f"{sim.base_url}{GET_LOGS}", json=body(ITEM), headers=auth, timeout=0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await get_logs(client, sim, auth, body(ITEM))
    assert loop.time() - started >= 0.4
    assert len(logs_of(response)) == 40


async def test_token_expire_expires_every_issued_token(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth = await _setup(make_sim, client)
    other = await bearer(client, sim)
    sim.faults.schedule("token_expire")
    response = await get_logs(client, sim, auth, body(ITEM))
    assert response.status_code == 401
    assert error_of(response)["code"] == "err_xdk_client_unauthorized"
    assert (await get_logs(client, sim, auth, body(ITEM))).status_code == 401
    assert (await get_logs(client, sim, other, body(ITEM))).status_code == 401
    assert (await get_logs(client, sim, await bearer(client, sim), body(ITEM))).status_code == 200
    assert sim.stats.outcomes["token_expire"] == 1


async def test_page_token_reject_waits_for_a_request_with_a_token(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth = await _setup(make_sim, client, "page_token_reject")
    first = await get_logs(client, sim, auth, body(ITEM, page_size=10))
    assert len(logs_of(first)) == 10  # no token: not the fault's turn
    assert sim.faults.scheduled == ["page_token_reject"]
    token = first.json()["meta"]["pagination"]["next"]
    rejected = await get_logs(client, sim, auth, body(page_size=10, token=token))
    assert rejected.status_code == 200
    assert rejected.json()["fail"][0]["errors"] == [
        {
            "code": "err_validation_invalid_page_token",
            "message": "The pageToken is invalid or has expired",
            "retryable": False,
            "field": "pageToken",
        }
    ]
    assert sim.faults.scheduled == []
    # The token itself is fine: the retry succeeds.
    assert len(logs_of(await get_logs(client, sim, auth, body(page_size=10, token=token)))) == 10


async def test_scheduled_faults_are_served_in_order(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth = await _setup(make_sim, client)
    sim.faults.schedule("forbidden")
    sim.faults.schedule("retryable_fail", 2)
    statuses = []
    for _ in range(4):
        response = await get_logs(client, sim, auth, body(ITEM))
        statuses.append((response.status_code, bool(response.json()["fail"])))
    assert statuses == [(403, True), (200, True), (200, True), (200, False)]


async def test_random_rates(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    dataset = ClickDataset.generate(5, start=T0, end=T0 + 600)
    plan = FaultPlan(seed=1, rates={"retryable_fail": 0.5, "forbidden": 0.25})
    sim = await make_sim(dataset=dataset, faults=plan)
    auth = await bearer(client, sim)
    sim.faults.schedule("binding_expired")
    first = await get_logs(client, sim, auth, body(ITEM))
    assert first.status_code == 418  # scheduled beats random
    for _ in range(200):
        await get_logs(client, sim, auth, body(ITEM))
    outcomes = sim.stats.outcomes
    assert 70 <= outcomes["retryable_fail"] <= 130
    assert 25 <= outcomes["forbidden"] <= 75
    assert outcomes["ok"] == 200 - outcomes["retryable_fail"] - outcomes["forbidden"]


def test_fault_plan_validates_its_input() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultPlan(rates={"meteor": 0.1})
    with pytest.raises(ValueError, match="at most 1"):
        FaultPlan(rates={"drop": 0.6, "slow": 0.6})
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultPlan().schedule("meteor")
    plan = FaultPlan(rates={"page_token_reject": 1.0})
    assert plan.draw(has_page_token=False) is None
    assert plan.draw(has_page_token=True) == "page_token_reject"
