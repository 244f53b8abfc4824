"""The paging quirks, over real HTTP: how a pass ends, totalCount, ``to``, cycles, endless pages.

Every quirk changes the wire only: the clicks of one pass (read up to where the
quirk starts repeating) are still exactly the dataset's truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from collector.events import format_mimecast_date
from collector.simulator import ClickDataset, Simulator, SimulatorConfig

from .helpers import T0, MakeSim, bearer, body, canon, click, fetch_all, get_logs

WHOLE = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 3600)}


@dataclass
class Step:
    """One request of a walk and what it got back."""

    sent: str | None
    clicks: list[dict[str, Any]]
    pagination: dict[str, Any]
    data: list[Any]


async def walk(
    client: httpx.AsyncClient,
    sim: Simulator,
    auth: dict[str, str],
    steps: int,
    *,
    item: dict[str, Any] | None = None,
    page_size: int = 100,
) -> list[Step]:
    """Follow ``next`` blindly for up to ``steps`` requests, even over empty pages."""
    walked: list[Step] = []
    payload = body(WHOLE if item is None else item, page_size=page_size)
    sent: str | None = None
    for _ in range(steps):
        response = await get_logs(client, sim, auth, payload)
        document = response.json()
        assert response.status_code == 200 and document["fail"] == [], response.text
        data = document["data"]
        clicks = list(data[0]["clickLogs"]) if data else []
        pagination = document["meta"]["pagination"]
        walked.append(Step(sent, clicks, pagination, data))
        if "next" not in pagination:
            break
        sent = pagination["next"]
        payload = body(page_size=page_size, token=sent)
    return walked


async def _start(
    make_sim: MakeSim, client: httpx.AsyncClient, config: SimulatorConfig, count: int = 250
) -> tuple[Simulator, dict[str, str], list[dict[str, Any]]]:
    dataset = ClickDataset.generate(count, start=T0, end=T0 + 60, seed=4)
    truth = dataset.truth()
    sim = await make_sim(config, dataset)
    return sim, await bearer(client, sim), truth


def _clicks(steps: list[Step]) -> list[dict[str, Any]]:
    return [c for step in steps for c in step.clicks]


async def test_empty_page_same_token_repeats_the_token_it_was_sent(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth, truth = await _start(make_sim, client, SimulatorConfig(empty_page="same_token"))
    steps = await walk(client, sim, auth, 6)
    assert [len(s.clicks) for s in steps] == [100, 100, 50, 0, 0, 0]
    assert canon(_clicks(steps)) == canon(truth)
    last_token = steps[2].pagination["next"]  # the real last page still carries next
    for step in steps[3:]:
        assert step.sent == last_token
        assert step.pagination["next"] == last_token  # the very token the client sent
        assert step.pagination["pageSize"] == 0
        assert step.data == [{"clickLogs": []}]


async def test_empty_page_same_token_on_an_empty_result(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth, _ = await _start(make_sim, client, SimulatorConfig(empty_page="same_token"), 0)
    steps = await walk(client, sim, auth, 3)
    assert [len(s.clicks) for s in steps] == [0, 0, 0]
    first = steps[0].pagination["next"]
    assert [s.pagination["next"] for s in steps] == [first, first, first]


@pytest.mark.parametrize(
    ("config", "data"),
    [
        (SimulatorConfig(empty_page="fresh_token"), []),
        (SimulatorConfig(empty_page_with_next=True), []),  # the older name
        (SimulatorConfig(empty_page="size0_next"), [{"clickLogs": []}]),
    ],
)
async def test_empty_page_with_a_fresh_token_each_time(
    make_sim: MakeSim, client: httpx.AsyncClient, config: SimulatorConfig, data: list[Any]
) -> None:
    sim, auth, truth = await _start(make_sim, client, config)
    steps = await walk(client, sim, auth, 7)
    assert [len(s.clicks) for s in steps] == [100, 100, 50, 0, 0, 0, 0]
    assert canon(_clicks(steps)) == canon(truth)
    nexts = [s.pagination["next"] for s in steps]
    assert len(set(nexts)) == len(nexts)  # a new token every time: endless if followed
    for step in steps[3:]:
        assert step.pagination["pageSize"] == 0
        assert step.pagination["totalCount"] == 250
        assert step.data == data


def test_empty_page_alias_and_validation() -> None:
    assert SimulatorConfig(empty_page_with_next=True).empty_page == "fresh_token"
    assert SimulatorConfig().empty_page == "none"
    with pytest.raises(ValueError, match="empty_page_with_next"):
        SimulatorConfig(empty_page_with_next=True, empty_page="same_token")
    with pytest.raises(ValueError, match="empty_page must be one of"):
        SimulatorConfig(empty_page="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total_count"):
        SimulatorConfig(total_count="triple")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="page_cycle"):
        SimulatorConfig(page_cycle="last")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="endless_from_page"):
        SimulatorConfig(endless_from_page=0)
    with pytest.raises(ValueError, match="ratelimit_headers_missing_rate"):
        SimulatorConfig(ratelimit_headers_missing_rate=1.5)


@pytest.mark.parametrize(
    ("mode", "shown"), [("exact", 250), ("zero", 0), ("double", 500), ("half", 125)]
)
async def test_total_count_can_disagree_with_the_data(
    make_sim: MakeSim, client: httpx.AsyncClient, mode: Any, shown: int
) -> None:
    sim, auth, truth = await _start(make_sim, client, SimulatorConfig(total_count=mode))
    clicks, pages = await fetch_all(client, sim, auth, WHOLE)
    assert canon(clicks) == canon(truth)
    assert [p["totalCount"] for p in pages] == [shown] * 3
    assert "next" not in pages[-1]


@pytest.mark.parametrize(("inclusive", "served"), [(True, [0, 1, 2]), (False, [0, 1])])
async def test_to_inclusive_or_exclusive(
    make_sim: MakeSim, client: httpx.AsyncClient, inclusive: bool, served: list[int]
) -> None:
    dataset = ClickDataset()
    for n in range(3):
        dataset.add(click(T0 + 10 * n, n))
    sim = await make_sim(SimulatorConfig(to_inclusive=inclusive), dataset)
    item = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 20)}
    clicks, _ = await fetch_all(
        client, sim, await bearer(client, sim), item | {"oldestFirst": True}
    )
    assert [c["url"] for c in clicks] == [f"https://site.example/{n}" for n in served]


async def test_page_cycle_previous_alternates_two_tokens(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth, truth = await _start(make_sim, client, SimulatorConfig(page_cycle="previous"))
    steps = await walk(client, sim, auth, 9)
    assert [len(s.clicks) for s in steps] == [100, 100, 50, 100, 50, 100, 50, 100, 50]
    assert canon(_clicks(steps[:3])) == canon(truth)
    a, b = steps[1].sent, steps[2].sent
    assert a is not None and b is not None and a != b
    assert [s.sent for s in steps[1:]] == [a, b] * 4  # A -> B -> A -> B ...
    assert steps[3].clicks == steps[1].clicks and steps[4].clicks == steps[2].clicks


async def test_page_cycle_first_restarts_at_the_first_page(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth, truth = await _start(make_sim, client, SimulatorConfig(page_cycle="first"))
    steps = await walk(client, sim, auth, 9)
    assert [len(s.clicks) for s in steps] == [100, 100, 50] * 3
    assert canon(_clicks(steps[:3])) == canon(truth)
    restart, a, b = steps[3].sent, steps[1].sent, steps[2].sent
    assert len({restart, a, b}) == 3
    assert [s.sent for s in steps[3:]] == [restart, a, b] * 2
    assert [s.clicks for s in steps[3:6]] == [s.clicks for s in steps[:3]]


@pytest.mark.parametrize(("from_page", "pages"), [(-1, [100, 100, 50, 50, 50, 50]), (2, [100] * 6)])
async def test_endless_pages_repeat_the_same_clicks_with_fresh_tokens(
    make_sim: MakeSim, client: httpx.AsyncClient, from_page: int, pages: list[int]
) -> None:
    sim, auth, truth = await _start(make_sim, client, SimulatorConfig(endless_from_page=from_page))
    steps = await walk(client, sim, auth, 6)
    assert [len(s.clicks) for s in steps] == pages
    repeated = 2 if from_page == -1 else 1
    for step in steps[repeated + 1 :]:
        assert step.clicks == steps[repeated].clicks
    nexts = [s.pagination["next"] for s in steps]
    assert len(set(nexts)) == len(nexts)
    if from_page == -1:
        assert canon(_clicks(steps[:3])) == canon(truth)
    assert canon(sim.dataset.truth()) == canon(truth)  # the ground truth is untouched


async def test_endless_from_a_page_past_the_end_repeats_the_last(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim, auth, _ = await _start(make_sim, client, SimulatorConfig(endless_from_page=9))
    steps = await walk(client, sim, auth, 5)
    assert [len(s.clicks) for s in steps] == [100, 100, 50, 50, 50]
    empty_sim, empty_auth, _ = await _start(
        make_sim, client, SimulatorConfig(endless_from_page=-1), 0
    )
    (only,) = await walk(client, empty_sim, empty_auth, 3)  # nothing to repeat: the pass ends
    assert "next" not in only.pagination
