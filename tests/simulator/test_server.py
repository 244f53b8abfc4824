"""The Simulator object: lifecycle, latency, counters, shortcuts."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from collector.events import format_mimecast_date
from collector.simulator import ClickDataset, Simulator, SimulatorConfig

from .helpers import T0, MakeSim, body, get_logs, logs_of

ITEM = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 600)}


async def test_async_with_starts_and_stops(client: httpx.AsyncClient) -> None:
    dataset = ClickDataset.generate(10, start=T0, end=T0 + 600)
    async with Simulator(dataset=dataset) as sim:
        assert sim.base_url == f"http://127.0.0.1:{sim.port}"
        auth = {"Authorization": f"Bearer {sim.issue_token()}"}
        assert len(logs_of(await get_logs(client, sim, auth, body(ITEM)))) == 10
        url = sim.base_url
    assert sim.stats.tokens_issued == 1
    assert sim.stats.internal_errors == 0
    async with httpx.AsyncClient() as fresh:
        with pytest.raises(httpx.ConnectError):
            await fresh.post(f"{url}/oauth/token")


async def test_latency_is_added_to_every_get_logs_answer(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(SimulatorConfig(latency_secs=0.25))
    loop = asyncio.get_running_loop()
    started = loop.time()
    refused = await get_logs(client, sim, {}, body(ITEM))
    assert refused.status_code == 401
    assert loop.time() - started >= 0.25
    started = loop.time()
    await client.post(f"{sim.base_url}/oauth/token")  # other endpoints are not slowed
    assert loop.time() - started < 0.2


async def test_stats_count_requests_outcomes_pages_and_clicks(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset.generate(25, start=T0, end=T0 + 600)
    sim = await make_sim(dataset=dataset)
    basic = base64.b64encode(b"sim-client-id:sim-client-secret").decode()
    token = await client.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200  # client credentials may come as HTTP Basic too
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    for _ in range(2):
        await get_logs(client, sim, auth, body(ITEM, page_size=10))
    await get_logs(client, sim, auth, b"not json")
    await get_logs(client, sim, {}, body(ITEM))
    sim.faults.schedule("forbidden")
    await get_logs(client, sim, auth, body(ITEM))
    stats = sim.stats.as_dict()
    assert stats["requests"] == {"/oauth/token": 1, "/api/ttp/url/get-logs": 5}
    assert stats["outcomes"] == {"ok": 2, "bad_request": 1, "auth_failed": 1, "forbidden": 1}
    assert (stats["pages_served"], stats["clicks_served"]) == (2, 20)
    assert (stats["tokens_issued"], stats["rate_limited"]) == (1, 0)
