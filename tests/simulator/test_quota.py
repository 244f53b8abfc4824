"""The quota: a leaky bucket with X-RateLimit-* headers (Reset in milliseconds)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from collector.simulator import QuotaConfig, SimulatorConfig
from collector.simulator.faults import LeakyBucket

from .helpers import MakeSim, bearer, body, error_of, get_logs


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _values(headers: list[tuple[str, str]]) -> tuple[int, int, int]:
    found = dict(headers)
    return (
        int(found["X-RateLimit-Limit"]),
        int(found["X-RateLimit-Remaining"]),
        int(found["X-RateLimit-Reset"]),
    )


def test_leaky_bucket_counts_down_and_refills_continuously() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(QuotaConfig(limit=4, period_secs=2.0), clock)  # 1 request per 0.5 s
    assert _values(bucket.headers()) == (4, 4, 0)
    results = [bucket.take() for _ in range(5)]
    assert [allowed for allowed, _ in results] == [True, True, True, True, False]
    assert [_values(h)[1] for _, h in results] == [3, 2, 1, 0, 0]
    assert _values(results[4][1])[2] == 500  # one request comes back in 500 ms
    clock.now += 0.2
    allowed, headers = bucket.take()
    assert not allowed and _values(headers)[2] == 300
    clock.now += 0.3
    allowed, headers = bucket.take()
    assert allowed and _values(headers) == (4, 0, 500)
    clock.now += 100
    assert _values(bucket.headers()) == (4, 4, 0)  # never above the limit


def test_quota_config_validates() -> None:
    with pytest.raises(ValueError, match="limit"):
        QuotaConfig(0, 10)
    with pytest.raises(ValueError, match="body_style"):
        QuotaConfig(1, 10, body_style="xml")  # type: ignore[arg-type]
    assert QuotaConfig(10_000, 3600).describe() == "10000/hour"
    assert QuotaConfig(100, 36).describe() == "100/36s"


@pytest.mark.parametrize("style", ["fail", "detail"])
async def test_quota_answers_429_then_refills(
    make_sim: MakeSim, client: httpx.AsyncClient, style: str
) -> None:
    quota = QuotaConfig(limit=2, period_secs=1.0, body_style=style)  # type: ignore[arg-type]
    sim = await make_sim(SimulatorConfig(quota=quota))
    auth = await bearer(client, sim)
    responses = [await get_logs(client, sim, auth, body({})) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["x-ratelimit-limit"] for r in responses] == ["2", "2", "2"]
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["1", "0", "0"]
    reset_ms = int(responses[2].headers["x-ratelimit-reset"])
    assert 1 <= reset_ms <= 500
    if style == "fail":
        assert error_of(responses[2])["code"] == "err_xdk_rate_limit_exceeded"
    else:
        assert responses[2].json() == {"detail": "Over throttling limit (2/second)"}
    assert sim.stats.outcomes["rate_limited"] == 1 and sim.stats.rate_limited == 1
    await asyncio.sleep(reset_ms / 1000 + 0.02)
    assert (await get_logs(client, sim, auth, body({}))).status_code == 200


async def test_unauthenticated_requests_carry_headers_but_spend_nothing(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(SimulatorConfig(quota=QuotaConfig(limit=5, period_secs=3600)))
    refused = await get_logs(client, sim, {}, body({}))
    assert refused.status_code == 401
    assert refused.headers["x-ratelimit-remaining"] == "5"
    ok = await get_logs(client, sim, await bearer(client, sim), body({}))
    assert ok.headers["x-ratelimit-remaining"] == "4"
    assert int(ok.headers["x-ratelimit-reset"]) > 0
