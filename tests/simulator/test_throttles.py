"""The 429 variants, the 200 with an exhausted quota, and answers without X-RateLimit-*."""

from __future__ import annotations

import httpx
import pytest

from collector.events import format_mimecast_date
from collector.simulator import ClickDataset, FaultPlan, QuotaConfig, Simulator, SimulatorConfig

from .helpers import T0, MakeSim, bearer, body, error_of, get_logs, logs_of

ITEM = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 600)}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


async def _setup(
    make_sim: MakeSim,
    client: httpx.AsyncClient,
    config: SimulatorConfig | None = None,
    **rates: float,
) -> tuple[Simulator, dict[str, str]]:
    dataset = ClickDataset.generate(40, start=T0, end=T0 + 600, seed=9)
    sim = await make_sim(config, dataset, FaultPlan(seed=5, rates=rates or None))
    return sim, await bearer(client, sim)


@pytest.mark.parametrize(
    ("kind", "reset", "wait"),
    [
        ("rate_limit_no_reset", None, None),
        ("rate_limit_zero_reset", "0", None),
        ("rate_limit_negative_reset", "-5", None),
        ("rate_limit_nan_reset", "nan", None),
    ],
)
async def test_429_without_a_usable_reset(
    make_sim: MakeSim, client: httpx.AsyncClient, kind: str, reset: str | None, wait: None
) -> None:
    sim, auth = await _setup(make_sim, client)
    sim.faults.schedule(kind)
    response = await get_logs(client, sim, auth, body(ITEM))
    assert response.status_code == 429
    assert response.headers.get("x-ratelimit-reset") == reset
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-limit"] == "10000"
    assert error_of(response)["code"] == "err_xdk_rate_limit_exceeded"
    assert sim.stats.outcomes[kind] == 1 and sim.stats.rate_limited == 1
    (throttle,) = sim.stats.throttles
    assert throttle.wait_secs is wait
    assert (await get_logs(client, sim, auth, body(ITEM))).status_code == 200


@pytest.mark.parametrize(("limit", "remaining"), [(None, "9990"), (100, "99")])
async def test_burst_throttle_429_while_remaining_is_high(
    make_sim: MakeSim, client: httpx.AsyncClient, limit: int | None, remaining: str
) -> None:
    quota = QuotaConfig(limit, 3600) if limit is not None else None
    sim, auth = await _setup(make_sim, client, SimulatorConfig(quota=quota))
    sim.faults.schedule("rate_limit_burst")
    response = await get_logs(client, sim, auth, body(ITEM))
    assert response.status_code == 429
    assert response.json() == {"detail": "Over throttling limit"}
    assert response.headers["x-ratelimit-limit"] == str(limit or 10_000)
    assert response.headers["x-ratelimit-remaining"] == remaining
    assert response.headers["x-ratelimit-reset"] == "300"
    assert sim.stats.throttles[0].wait_secs == pytest.approx(0.3)


async def test_429_variants_by_rate(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    kinds = ("rate_limit_no_reset", "rate_limit_burst", "rate_limit_nan_reset")
    sim, auth = await _setup(make_sim, client, **dict.fromkeys(kinds, 0.25))
    statuses = [(await get_logs(client, sim, auth, body(ITEM))).status_code for _ in range(60)]
    assert set(statuses) == {200, 429}
    assert all(sim.stats.outcomes[kind] > 0 for kind in kinds)
    assert sum(sim.stats.outcomes[kind] for kind in kinds) == statuses.count(429)


@pytest.mark.parametrize("limit", [None, 50])
async def test_quota_exhausted_huge_reset_is_a_200_page(
    make_sim: MakeSim, client: httpx.AsyncClient, limit: int | None
) -> None:
    quota = QuotaConfig(limit, 60) if limit is not None else None
    sim, auth = await _setup(make_sim, client, SimulatorConfig(quota=quota))
    sim.faults.schedule("quota_exhausted_huge_reset")
    response = await get_logs(client, sim, auth, body(ITEM, page_size=500))
    assert len(logs_of(response)) == 40  # the page itself is served whole
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == "99999999"  # 27.8 hours
    assert response.headers["x-ratelimit-limit"] == str(limit or 10_000)
    assert sim.stats.outcomes["quota_exhausted_huge_reset"] == 1 and sim.stats.rate_limited == 0
    after = await get_logs(client, sim, auth, body(ITEM, page_size=500))
    assert after.status_code == 200  # only the wire said so: the quota is not spent
    assert after.headers.get("x-ratelimit-reset") != "99999999"


async def test_every_kth_answer_lacks_rate_limit_headers(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    config = SimulatorConfig(quota=QuotaConfig(100, 60), ratelimit_headers_missing_every=3)
    sim, auth = await _setup(make_sim, client, config)
    responses = [await get_logs(client, sim, auth, body(ITEM)) for _ in range(7)]
    present = [all(h in r.headers for h in RATE_HEADERS) for r in responses]
    absent = [not any(h in r.headers for h in RATE_HEADERS) for r in responses]
    assert present == [True, True, False, True, True, False, True]
    assert absent == [not p for p in present]
    assert all(r.status_code == 200 for r in responses)


async def test_a_share_of_answers_lacks_rate_limit_headers_but_429s_keep_them(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    config = SimulatorConfig(quota=QuotaConfig(100, 60), ratelimit_headers_missing_rate=0.5)
    sim, auth = await _setup(make_sim, client, config)
    responses = [await get_logs(client, sim, auth, body(ITEM)) for _ in range(40)]
    missing = sum("x-ratelimit-remaining" not in r.headers for r in responses)
    assert 5 < missing < 35
    sim.faults.schedule("rate_limit", 10)
    throttled = [await get_logs(client, sim, auth, body(ITEM)) for _ in range(10)]
    assert all(r.status_code == 429 and "x-ratelimit-reset" in r.headers for r in throttled)
