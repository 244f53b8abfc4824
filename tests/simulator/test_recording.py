"""The request record: arrivals, the 429s sent, and the requests that crossed a 429's wait."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from collector.events import format_mimecast_date
from collector.simulator import (
    Arrival,
    ClickDataset,
    FaultPlan,
    QuotaConfig,
    SimulatorConfig,
    Throttle,
)
from collector.simulator.recording import gate_violations, reset_wait_secs

from .helpers import T0, MakeSim, bearer, body, get_logs

ITEM = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 600)}


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        ("300", 0.3),
        ("99999999", 99_999.999),
        ("1.5", 0.0015),
        (None, None),
        ("0", None),
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
    ],
)
def test_reset_wait_secs(value: str | None, wait: float | None) -> None:
    assert reset_wait_secs(value) == (pytest.approx(wait) if wait is not None else None)


def test_gate_violations_of_a_fixed_sequence() -> None:
    times = [0.0, 0.03, 0.2, 0.9, 1.02, 1.5, 1.6, 2.1, 2.18, 2.25]
    arrivals = [Arrival(at, None) for at in times]
    throttles = [
        Throttle(0.01, 1.0, arrivals[0]),  # gate 0.06 .. 1.01
        Throttle(1.51, None, arrivals[5]),  # no usable wait
        Throttle(2.15, 0.5, arrivals[8]),  # gate 2.2 .. 2.65 (with slack 0.05)
        Throttle(2.16, 0.03, arrivals[8]),  # a wait shorter than the slack closes nothing
    ]
    found = gate_violations(arrivals, throttles)
    assert [v.arrival.at for v in found] == [0.2, 0.9, 2.25]
    assert [v.throttle for v in found] == [throttles[0], throttles[0], throttles[2]]
    assert found[0].early_secs == pytest.approx(0.81)
    # 0.03 and 2.18 were in flight (within the slack), 1.02 came after the gate.
    assumed = gate_violations(arrivals, throttles, assumed_wait_secs=0.5)
    assert [v.arrival.at for v in assumed] == [0.2, 0.9, 1.6, 2.25]
    assert gate_violations(arrivals, throttles, slack_secs=0.0)[0].arrival.at == 0.03
    assert gate_violations(arrivals, []) == []


def test_a_request_inside_two_gates_is_reported_once_for_the_earliest() -> None:
    arrivals = [Arrival(0.0, None), Arrival(0.1, None), Arrival(0.5, None)]
    first = Throttle(0.05, 10.0, arrivals[0])
    second = Throttle(0.3, 10.0, arrivals[1])
    found = gate_violations(arrivals, [first, second], slack_secs=0.0)
    assert [(v.arrival.at, v.throttle) for v in found] == [(0.1, first), (0.5, first)]


async def test_recording_over_http(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    dataset = ClickDataset.generate(150, start=T0, end=T0 + 600, seed=2)
    sim = await make_sim(SimulatorConfig(), dataset, FaultPlan(seed=1))
    auth = await bearer(client, sim)
    first = await get_logs(client, sim, auth, body(ITEM, page_size=100))
    token = first.json()["meta"]["pagination"]["next"]
    sim.faults.schedule("rate_limit_no_reset")
    throttled = await get_logs(client, sim, auth, body(page_size=100, token=token))
    crossing = await get_logs(client, sim, auth, body(page_size=100, token=token))
    again = await get_logs(client, sim, auth, body(ITEM, page_size=100))  # a second pass
    assert [r.status_code for r in (first, throttled, crossing, again)] == [200, 429, 200, 200]
    arrivals = sim.stats.arrivals
    assert [a.page_token for a in arrivals] == [None, token, token, None]
    assert [a.status for a in arrivals] == [200, 429, 200, 200]
    assert [a.at for a in arrivals] == sorted(a.at for a in arrivals)
    passes = Counter(a.pass_id for a in arrivals)
    assert passes[None] == 1  # the 429 was never resolved to a pass
    assert sorted(passes[p] for p in passes if p is not None) == [1, 2]
    (throttle,) = sim.stats.throttles
    assert throttle.arrival is arrivals[1] and throttle.wait_secs is None
    assert arrivals[1].at <= throttle.sent <= arrivals[2].at
    # Without a wait, the 429 gates nothing unless the test assumes one.
    assert sim.stats.gate_violations() == []
    crossed = sim.stats.gate_violations(slack_secs=0.0, assumed_wait_secs=60.0)
    assert [v.arrival for v in crossed] == arrivals[2:]


async def test_a_quota_429_gates_for_its_reset(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(SimulatorConfig(quota=QuotaConfig(1, 20.0)))
    auth = await bearer(client, sim)
    statuses = [(await get_logs(client, sim, auth, body(ITEM))).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    wait = sim.stats.throttles[0].wait_secs
    assert wait is not None and 19.0 < wait <= 20.0
    crossed = sim.stats.gate_violations(slack_secs=0.0)
    assert [v.arrival for v in crossed] == [sim.stats.arrivals[2]]


async def test_a_request_after_the_wait_crosses_nothing(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    auth = await bearer(client, sim)
    sim.faults.schedule("rate_limit_burst")  # Reset 300 ms
    assert (await get_logs(client, sim, auth, body(ITEM))).status_code == 429
    await asyncio.sleep(0.35)
    assert (await get_logs(client, sim, auth, body(ITEM))).status_code == 200
    assert sim.stats.gate_violations(slack_secs=0.0) == []
    assert len(sim.stats.arrivals) == 2 and len(sim.stats.throttles) == 1
