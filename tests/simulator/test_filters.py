"""get-logs filters, defaults, validation and lenient body parsing."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from collector.events import format_mimecast_date, parse_mimecast_date
from collector.simulator import ClickDataset, Simulator, SimulatorConfig

from .helpers import T0, MakeSim, bearer, body, click, error_of, fetch_all, get_logs, logs_of

WHOLE = {"from": format_mimecast_date(T0 - 10), "to": format_mimecast_date(T0 + 10_000)}


def _mixed() -> ClickDataset:
    dataset = ClickDataset()
    n = 0
    for route in ("inbound", "outbound", "internal"):
        for scan in ("clean", "malicious"):
            for second in range(1 + n % 3):
                dataset.add(click(T0 + 100 * n + second, n, route=route, scan=scan))
                n += 1
    return dataset


def _users(clicks: list[dict[str, Any]]) -> list[str]:
    return [str(c["userEmailAddress"]) for c in clicks]


async def _sim_and_auth(
    make_sim: MakeSim,
    client: httpx.AsyncClient,
    dataset: ClickDataset,
    config: SimulatorConfig | None = None,
) -> tuple[Simulator, dict[str, str]]:
    sim = await make_sim(config, dataset)
    return sim, await bearer(client, sim)


@pytest.mark.parametrize("route", ["inbound", "outbound", "internal", "all"])
@pytest.mark.parametrize("scan", ["clean", "malicious", "all"])
async def test_route_and_scan_result_filters(
    make_sim: MakeSim, client: httpx.AsyncClient, route: str, scan: str
) -> None:
    dataset = _mixed()
    sim, auth = await _sim_and_auth(make_sim, client, dataset)
    item = WHOLE | {"route": route, "scanResult": scan}
    clicks, pages = await fetch_all(client, sim, auth, item, page_size=3)
    expected = [
        c
        for c in dataset.truth()
        if route in ("all", c["route"]) and scan in ("all", c["scanResult"])
    ]
    assert sorted(_users(clicks)) == sorted(_users(expected))
    assert expected  # every combination has clicks, so the filter is really tested
    assert pages[0]["totalCount"] == len(expected)


async def test_from_is_inclusive_and_to_inclusive_by_default(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset()
    for n, second in enumerate((T0 - 1, T0, T0, T0 + 1, T0 + 2, T0 + 3)):
        dataset.add(click(second, n))
    sim, auth = await _sim_and_auth(make_sim, client, dataset)
    item = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 2)}
    clicks, _ = await fetch_all(client, sim, auth, item | {"oldestFirst": True})
    assert [parse_mimecast_date(c["date"]) for c in clicks] == [T0, T0, T0 + 1, T0 + 2]


async def test_to_is_exclusive_when_configured(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset()
    for n, second in enumerate((T0, T0 + 1, T0 + 2)):
        dataset.add(click(second, n))
    sim, auth = await _sim_and_auth(make_sim, client, dataset, SimulatorConfig(to_inclusive=False))
    item = {
        "from": format_mimecast_date(T0),
        "to": format_mimecast_date(T0 + 2),
        "oldestFirst": True,
    }
    clicks, _ = await fetch_all(client, sim, auth, item)
    assert [parse_mimecast_date(c["date"]) for c in clicks] == [T0, T0 + 1]


@pytest.mark.parametrize(
    "to", ["2024-11-07T17:20:02+0000", "2024-11-07T17:20:02+00:00", "2024-11-07T17:20:02Z"]
)
async def test_date_formats_with_offset_are_accepted(
    make_sim: MakeSim, client: httpx.AsyncClient, to: str
) -> None:
    assert parse_mimecast_date(to) == T0 + 2
    dataset = ClickDataset()
    for n in range(5):
        dataset.add(click(T0 + n, n))
    sim, auth = await _sim_and_auth(make_sim, client, dataset)
    clicks, _ = await fetch_all(client, sim, auth, {"from": "2024-11-07T17:20:00Z", "to": to})
    assert len(clicks) == 3


async def test_oldest_first_both_ways(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    dataset = ClickDataset.generate(300, start=T0, end=T0 + 200, seed=5)
    sim, auth = await _sim_and_auth(make_sim, client, dataset)
    oldest, _ = await fetch_all(client, sim, auth, WHOLE | {"oldestFirst": True}, page_size=70)
    newest, _ = await fetch_all(client, sim, auth, WHOLE, page_size=70)
    explicit, _ = await fetch_all(client, sim, auth, WHOLE | {"oldestFirst": False}, page_size=70)
    assert oldest == dataset.truth()
    assert newest == list(reversed(dataset.truth()))
    assert explicit == newest


async def test_defaults_are_start_of_today_to_now(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    now = int(time.time())
    today = now - now % 86_400
    dataset = ClickDataset()
    dataset.add(click(today - 1, 1))  # yesterday: outside the default window
    dataset.add(click(today, 2))
    dataset.add(click(now, 3))
    dataset.add(click(now + 3600, 4))  # the future: after the default "to"
    sim, auth = await _sim_and_auth(make_sim, client, dataset)
    response = await get_logs(client, sim, auth, {"meta": {}, "data": [{}]})
    # Default order is newest first.
    assert _users(logs_of(response)) == ["user3@corp.example", "user2@corp.example"]
    no_data = await get_logs(client, sim, auth, b"")
    assert len(logs_of(no_data)) == 2


@pytest.mark.parametrize(
    ("item", "code", "field"),
    [
        ({"from": "yesterday"}, "err_validation_invalid_date", "from"),
        ({"to": "2024-13-45T00:00:00+0000"}, "err_validation_invalid_date", "to"),
        ({"from": "2024-11-07T17:20:00"}, "err_validation_invalid_date", "from"),
        ({"to": 1731000000}, "err_validation_invalid_date", "to"),
        ({"route": "sideways"}, "err_validation_invalid_value", "route"),
        ({"scanResult": "suspicious"}, "err_validation_invalid_value", "scanResult"),
        ({"oldestFirst": "maybe"}, "err_validation_invalid_value", "oldestFirst"),
    ],
)
async def test_bad_filter_values_fail_with_http_200(
    make_sim: MakeSim,
    client: httpx.AsyncClient,
    item: dict[str, object],
    code: str,
    field: str,
) -> None:
    sim, auth = await _sim_and_auth(make_sim, client, _mixed())
    response = await get_logs(client, sim, auth, body(item))
    assert response.status_code == 200
    document = response.json()
    assert document["meta"]["status"] == 200
    assert document["data"] == []
    (failure,) = document["fail"]
    assert failure["key"] == item
    (error,) = failure["errors"]
    assert (error["code"], error["field"], error["retryable"]) == (code, field, False)
    assert sim.stats.outcomes["invalid"] == 1


@pytest.mark.parametrize(
    ("size", "code"),
    [
        (501, "err_validation_page_size"),
        (0, "err_validation_page_size"),
        ("10", "err_validation_invalid_value"),
    ],
)
async def test_bad_page_sizes_fail(
    make_sim: MakeSim, client: httpx.AsyncClient, size: object, code: str
) -> None:
    sim, auth = await _sim_and_auth(make_sim, client, _mixed())
    payload = {"meta": {"pagination": {"pageSize": size}}, "data": [WHOLE]}
    response = await get_logs(client, sim, auth, payload)
    assert response.status_code == 200
    (error,) = response.json()["fail"][0]["errors"]
    assert (error["code"], error["field"], error["retryable"]) == (code, "pageSize", False)


async def test_page_size_defaults_to_100_and_max_is_accepted(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    dataset = ClickDataset.generate(600, start=T0, end=T0 + 100, seed=2)
    sim, auth = await _sim_and_auth(make_sim, client, dataset)
    assert len(logs_of(await get_logs(client, sim, auth, body(WHOLE)))) == 100
    assert len(logs_of(await get_logs(client, sim, auth, body(WHOLE, page_size=500)))) == 500


async def test_python_repr_body_is_accepted(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    dataset = _mixed()
    sim, auth = await _sim_and_auth(make_sim, client, dataset)
    payload = {
        "meta": {"pagination": {"pageSize": 50}},
        "data": [WHOLE | {"oldestFirst": True, "route": "inbound"}],
    }
    response = await get_logs(client, sim, auth, str(payload).encode())
    assert str(payload).count("'") > 10 and "True" in str(payload)
    assert _users(logs_of(response)) == _users(
        [c for c in dataset.truth() if c["route"] == "inbound"]
    )


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b"__import__('os')"])
async def test_unparseable_body_is_400(
    make_sim: MakeSim, client: httpx.AsyncClient, raw: bytes
) -> None:
    sim, auth = await _sim_and_auth(make_sim, client, _mixed())
    response = await get_logs(client, sim, auth, raw)
    assert response.status_code == 400
    assert error_of(response)["code"] == "err_validation_invalid_json"
    assert sim.stats.outcomes["bad_request"] == 1


async def test_unknown_path_is_404_and_wrong_method_405(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    missing = await client.post(f"{sim.base_url}/api/dlp/get-logs", json={})
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "err_xdk_not_found"
    wrong = await client.get(f"{sim.base_url}/api/ttp/url/get-logs")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert sim.stats.requests["/api/dlp/get-logs"] == 1
