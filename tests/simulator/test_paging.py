"""Paging: completeness, tokens, snapshots, eviction and the empty-page-with-next quirk."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import orjson
import pytest

from collector.events import format_mimecast_date
from collector.simulator import ClickDataset, SimulatorConfig

from .helpers import T0, MakeSim, bearer, body, canon, click, fetch_all, get_logs, logs_of

WHOLE = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 3600)}


@pytest.mark.parametrize("oldest_first", [True, False])
@pytest.mark.parametrize("page_size", [1, 37, 500])
async def test_paging_returns_every_click_exactly_once(
    make_sim: MakeSim, client: httpx.AsyncClient, oldest_first: bool, page_size: int
) -> None:
    dataset = ClickDataset.generate(
        1200 if page_size > 1 else 150, start=T0, end=T0 + 3600, seed=11, duplicate_fraction=0.1
    )
    truth = dataset.truth()
    assert len({orjson.dumps(c) for c in truth}) < len(truth)  # duplicates really present
    sim = await make_sim(dataset=dataset)
    auth = await bearer(client, sim)
    item = WHOLE | {"oldestFirst": oldest_first}
    clicks, pages = await fetch_all(client, sim, auth, item, page_size=page_size)
    assert canon(clicks) == canon(truth)
    assert {p["totalCount"] for p in pages} == {len(truth)}
    assert [p["pageSize"] for p in pages[:-1]] == [page_size] * (len(pages) - 1)
    assert "next" not in pages[-1]
    assert "previous" not in pages[0] and all("previous" in p for p in pages[1:])
    assert sim.stats.clicks_served == len(truth)
    assert sim.stats.pages_served == len(pages)


async def test_empty_result_has_no_next(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    sim = await make_sim()
    auth = await bearer(client, sim)
    response = await get_logs(client, sim, auth, body(WHOLE))
    assert response.json() == {
        "meta": {"status": 200, "pagination": {"pageSize": 0, "totalCount": 0}},
        "data": [{"clickLogs": []}],
        "fail": [],
    }


async def test_success_body_is_exactly_mimecast_shaped(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset()
    dataset.add(click(T0, 1))
    sim = await make_sim(dataset=dataset)
    response = await get_logs(client, sim, await bearer(client, sim), body(WHOLE))
    assert response.headers["content-type"] == "application/json"
    assert response.content == (
        b'{"meta":{"status":200,"pagination":{"pageSize":1,"totalCount":1}},'
        b'"data":[{"clickLogs":[' + orjson.dumps(click(T0, 1)) + b']}],"fail":[]}'
    )


async def test_previous_token_goes_back_one_page(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset.generate(30, start=T0, end=T0 + 60, seed=1)
    sim = await make_sim(dataset=dataset)
    auth = await bearer(client, sim)
    first = await get_logs(client, sim, auth, body(WHOLE, page_size=10))
    token = first.json()["meta"]["pagination"]["next"]
    second = await get_logs(client, sim, auth, body(page_size=10, token=token))
    back_token = second.json()["meta"]["pagination"]["previous"]
    back = await get_logs(client, sim, auth, body(page_size=10, token=back_token))
    assert logs_of(back) == logs_of(first)
    assert logs_of(second) != logs_of(first)


async def test_token_filter_wins_over_repeated_data(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset()
    for n in range(20):
        dataset.add(click(T0 + n, n, route="inbound" if n % 2 else "outbound"))
    sim = await make_sim(dataset=dataset)
    auth = await bearer(client, sim)
    item = WHOLE | {"route": "inbound", "oldestFirst": True}
    first = await get_logs(client, sim, auth, body(item, page_size=4))
    token = first.json()["meta"]["pagination"]["next"]
    contrary = WHOLE | {"route": "outbound", "oldestFirst": False}
    with_data = await get_logs(client, sim, auth, body(contrary, page_size=4, token=token))
    without_data = await get_logs(client, sim, auth, body(page_size=4, token=token))
    assert logs_of(with_data) == logs_of(without_data)
    assert {c["route"] for c in logs_of(with_data)} == {"inbound"}
    assert [c["userEmailAddress"] for c in logs_of(with_data)] == [
        f"user{n}@corp.example" for n in (9, 11, 13, 15)
    ]


async def test_snapshot_is_stable_while_clicks_arrive_mid_pass(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset.generate(1000, start=T0, end=T0 + 1000, seed=3)
    before = dataset.truth()
    sim = await make_sim(dataset=dataset)
    auth = await bearer(client, sim)
    first = await get_logs(client, sim, auth, body(WHOLE | {"oldestFirst": True}, page_size=100))
    clicks = logs_of(first)
    token = first.json()["meta"]["pagination"]["next"]
    # Late clicks inside the window, some before the current offset, some after.
    dataset.extend(click(T0 + 10 * n, 10_000 + n) for n in range(50))
    while token:
        response = await get_logs(client, sim, auth, body(page_size=100, token=token))
        clicks.extend(logs_of(response))
        assert response.json()["meta"]["pagination"]["totalCount"] == 1000
        token = response.json()["meta"]["pagination"].get("next")
    assert clicks == before
    # The next query sees them.
    again, _ = await fetch_all(client, sim, auth, WHOLE, page_size=500)
    assert len(again) == 1050


async def test_evicted_snapshot_is_rebuilt_identically(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset.generate(500, start=T0, end=T0 + 1000, seed=4)
    before = dataset.truth()
    sim = await make_sim(dataset=dataset)
    auth = await bearer(client, sim)
    first = await get_logs(client, sim, auth, body(WHOLE | {"oldestFirst": True}, page_size=50))
    clicks = logs_of(first)
    await asyncio.sleep(0.01)  # the late clicks below are published after the snapshot
    dataset.extend(click(T0 + n, 20_000 + n) for n in range(20))
    rebuilds = sim.api.cache.rebuilds
    others = sim.api.cache.capacity + 2
    for n in range(others):  # other queries push the first one out of the cache
        other = {"from": format_mimecast_date(T0 + n), "to": WHOLE["to"]}
        await get_logs(client, sim, auth, body(other, page_size=1))
    token = first.json()["meta"]["pagination"]["next"]
    while token:
        response = await get_logs(client, sim, auth, body(page_size=50, token=token))
        clicks.extend(logs_of(response))
        token = response.json()["meta"]["pagination"].get("next")
    assert sim.api.cache.rebuilds == rebuilds + others + 1
    assert clicks == before


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "eyJ2IjoxfQ",  # valid base64url JSON without the fields
        base64.urlsafe_b64encode(b'{"v":1,"q":[0,1,"all","all",true,0],"o":-5,"n":10,"i":0}')
        .decode()
        .rstrip("="),
    ],
)
async def test_undecodable_page_token_is_rejected(
    make_sim: MakeSim, client: httpx.AsyncClient, token: str
) -> None:
    sim = await make_sim()
    auth = await bearer(client, sim)
    response = await get_logs(client, sim, auth, body(WHOLE, page_size=10, token=token))
    assert response.status_code == 200
    (error,) = response.json()["fail"][0]["errors"]
    assert error == {
        "code": "err_validation_invalid_page_token",
        "message": "The pageToken is invalid or has expired",
        "retryable": False,
        "field": "pageToken",
    }
    assert sim.stats.outcomes["page_token_invalid"] == 1


async def test_old_page_token_is_rejected_after_ttl(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset.generate(30, start=T0, end=T0 + 60, seed=1)
    sim = await make_sim(SimulatorConfig(page_token_ttl_secs=0.3), dataset)
    auth = await bearer(client, sim)
    first = await get_logs(client, sim, auth, body(WHOLE, page_size=10))
    token = first.json()["meta"]["pagination"]["next"]
    assert logs_of(await get_logs(client, sim, auth, body(page_size=10, token=token)))
    await asyncio.sleep(0.4)
    late = await get_logs(client, sim, auth, body(page_size=10, token=token))
    assert late.json()["fail"][0]["errors"][0]["code"] == "err_validation_invalid_page_token"


async def test_empty_page_with_next_quirk(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    dataset = ClickDataset.generate(200, start=T0, end=T0 + 60, seed=1)
    sim = await make_sim(SimulatorConfig(empty_page_with_next=True), dataset)
    auth = await bearer(client, sim)
    first = await get_logs(client, sim, auth, body(WHOLE, page_size=100))
    last = await get_logs(
        client, sim, auth, body(page_size=100, token=first.json()["meta"]["pagination"]["next"])
    )
    assert len(logs_of(last)) == 100
    next_token = last.json()["meta"]["pagination"]["next"]  # still there at the end
    empty = await get_logs(client, sim, auth, body(page_size=100, token=next_token))
    document = empty.json()
    assert document["data"] == []
    assert document["fail"] == []
    assert document["meta"]["pagination"]["pageSize"] == 0
    assert document["meta"]["pagination"]["totalCount"] == 200
    assert "next" in document["meta"]["pagination"]
    # An empty query answers the same way right away.
    nothing = {"from": format_mimecast_date(T0 - 100), "to": format_mimecast_date(T0 - 50)}
    none = (await get_logs(client, sim, auth, body(nothing))).json()
    assert none["data"] == [] and "next" in none["meta"]["pagination"]


async def test_without_quirk_the_boundary_page_has_no_next(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset.generate(200, start=T0, end=T0 + 60, seed=1)
    sim = await make_sim(dataset=dataset)
    auth = await bearer(client, sim)
    _, pages = await fetch_all(client, sim, auth, WHOLE, page_size=100)
    assert len(pages) == 2 and "next" not in pages[1]


async def test_retention_hides_clicks_older_than_the_window(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    now = int(time.time())
    dataset = ClickDataset()
    dataset.add(click(now - 31 * 86_400, 1))
    dataset.add(click(now - 29 * 86_400, 2))
    sim = await make_sim(SimulatorConfig(retention_secs=30 * 86_400), dataset)
    auth = await bearer(client, sim)
    item = {"from": format_mimecast_date(now - 40 * 86_400), "to": format_mimecast_date(now)}
    clicks, _ = await fetch_all(client, sim, auth, item)
    assert [c["userEmailAddress"] for c in clicks] == ["user2@corp.example"]
