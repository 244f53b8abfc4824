"""What the three endpoints share (auth, one quota, faults, quirks) and what they don't
(permissions), over real HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from collector.events import parse_mimecast_date
from collector.simulator import (
    ClickDataset,
    FaultPlan,
    ImpersonationDataset,
    QuotaConfig,
    Simulator,
    SimulatorConfig,
    SimulatorThread,
)

from .helpers import T0, MakeSim, bearer, body, canon, error_of, mc_headers
from .ttp_helpers import PATHS, WINDOW, datasets, fetch_kind, post, records_of


async def test_one_quota_counts_every_endpoint(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    config = SimulatorConfig(quota=QuotaConfig(3, 600))
    sim = await make_sim(config, None, None, **datasets(20))
    headers = await bearer(client, sim)
    remaining = []
    for kind in ("url", "attachment", "impersonation"):
        response = await post(client, sim, kind, headers, body(WINDOW))
        assert response.status_code == 200
        remaining.append(response.headers["x-ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    throttled = await post(client, sim, "attachment", headers, body(WINDOW))
    assert throttled.status_code == 429
    assert error_of(throttled)["code"] == "err_xdk_rate_limit_exceeded"
    kinds = [arrival.kind for arrival in sim.stats.arrivals]
    assert kinds == ["url", "attachment", "impersonation", "attachment"]
    assert sim.stats.throttles[0].arrival.kind == "attachment"


@pytest.mark.parametrize("kind", ["attachment", "impersonation"])
async def test_faults_apply_to_each_endpoint(
    make_sim: MakeSim, client: httpx.AsyncClient, kind: str
) -> None:
    faults = FaultPlan()
    sim = await make_sim(SimulatorConfig(), None, faults, **datasets(30))
    headers = await bearer(client, sim)
    faults.schedule("retryable_fail")
    faults.schedule("rate_limit_detail")
    faults.schedule("server_error")
    failed = await post(client, sim, kind, headers, body(WINDOW))
    assert failed.status_code == 200 and error_of(failed)["retryable"] is True
    throttled = await post(client, sim, kind, headers, body(WINDOW))
    assert throttled.status_code == 429 and "detail" in throttled.json()
    broken = await post(client, sim, kind, headers, body(WINDOW))
    assert broken.status_code >= 500
    faults.schedule("page_token_reject")
    first = await post(client, sim, kind, headers, body(WINDOW, page_size=10))
    token = first.json()["meta"]["pagination"]["next"]
    rejected = await post(client, sim, kind, headers, body(page_size=10, token=token))
    assert error_of(rejected)["code"] == "err_validation_invalid_page_token"
    # The fault is spent: the pass goes on with the same token.
    again = await post(client, sim, kind, headers, body(page_size=10, token=token))
    assert len(records_of(again, kind)) == 10


@pytest.mark.parametrize("kind", ["attachment", "impersonation"])
async def test_paging_quirks_apply_to_each_endpoint(
    make_sim: MakeSim, client: httpx.AsyncClient, kind: str
) -> None:
    config = SimulatorConfig(empty_page="same_token", total_count="double")
    sim = await make_sim(config, None, None, **datasets(25))
    headers = await bearer(client, sim)
    last = await post(client, sim, kind, headers, body(WINDOW, page_size=25))
    assert len(records_of(last, kind)) == 25
    pagination = last.json()["meta"]["pagination"]
    assert pagination["totalCount"] == 50
    token = pagination["next"]  # the quirk: the real last page keeps a next
    empty = await post(client, sim, kind, headers, body(page_size=25, token=token))
    assert records_of(empty, kind) == []
    assert empty.json()["meta"]["pagination"]["next"] == token
    # Following the quirk to its end still yields exactly the truth.
    got = await fetch_kind(client, sim, kind, headers, WINDOW, page_size=10)
    assert canon(got) == canon(sim.datasets[kind].truth())


@pytest.mark.parametrize("style", ["http_403", "fail"])
async def test_a_denied_endpoint_answers_forbidden_and_the_others_serve(
    make_sim: MakeSim, client: httpx.AsyncClient, style: str
) -> None:
    config = SimulatorConfig(denied_kinds=frozenset({"attachment"}), permission_error=style)  # type: ignore[arg-type]
    faults = FaultPlan()
    sim = await make_sim(config, None, faults, **datasets(10))
    headers = await bearer(client, sim)
    faults.schedule("retryable_fail")
    denied = await post(client, sim, "attachment", headers, body(WINDOW))
    error = error_of(denied)
    assert (error["code"], error["retryable"]) == ("err_xdk_forbidden", False)
    if style == "http_403":
        assert denied.status_code == 403
    else:
        assert denied.status_code == 200
        assert denied.json()["fail"][0]["key"] == WINDOW
    # The denial drew no fault: the scheduled one hits the next permitted request.
    assert faults.scheduled == ["retryable_fail"]
    assert error_of(await post(client, sim, "url", headers, body(WINDOW)))["retryable"] is True
    served = await post(client, sim, "impersonation", headers, body(WINDOW))
    assert len(records_of(served, "impersonation")) == 10
    unauthenticated = await post(client, sim, "attachment", {}, body(WINDOW))
    assert unauthenticated.status_code == 401
    assert sim.stats.outcomes["permission_denied"] == 1


async def test_a_denied_endpoint_still_spends_quota(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    config = SimulatorConfig(denied_kinds=frozenset({"impersonation"}), quota=QuotaConfig(1, 600))
    sim = await make_sim(config)
    headers = await bearer(client, sim)
    assert (await post(client, sim, "impersonation", headers, body(WINDOW))).status_code == 403
    assert (await post(client, sim, "url", headers, body(WINDOW))).status_code == 429


def test_denied_kinds_are_checked() -> None:
    with pytest.raises(ValueError, match="denied_kinds: unknown kind 'dlp'"):
        SimulatorConfig(denied_kinds=frozenset({"dlp"}))
    with pytest.raises(ValueError, match="permission_error"):
        SimulatorConfig(permission_error="404")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["attachment", "impersonation"])
async def test_hmac_signs_the_new_paths(
    make_sim: MakeSim, client: httpx.AsyncClient, kind: str
) -> None:
    sim = await make_sim(SimulatorConfig(), None, None, **datasets(5))
    signed = mc_headers(sim.config, path=PATHS[kind])
    assert len(records_of(await post(client, sim, kind, signed, body(WINDOW)), kind)) == 5
    # A signature over another endpoint's path does not open this one.
    wrong = mc_headers(sim.config, path=PATHS["url"])
    refused = await post(client, sim, kind, wrong, body(WINDOW))
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "err_xdk_invalid_signature"


async def test_records_published_later_appear_only_from_then_on(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    impersonations = ImpersonationDataset.generate(5, start=T0, end=T0 + 10, seed=2)
    late = {
        **impersonations.truth()[0],
        "id": "MTOKEN:late",
        "eventTime": "2024-11-07T18:00:00+0000",
    }
    impersonations.add(late, published_at=time.time() + 0.3)
    sim = await make_sim(SimulatorConfig(), None, None, impersonations=impersonations)
    headers = await bearer(client, sim)
    before = await fetch_kind(client, sim, "impersonation", headers, WINDOW)
    assert "MTOKEN:late" not in {r["id"] for r in before} and len(before) == 5
    await asyncio.sleep(0.35)
    after = await fetch_kind(client, sim, "impersonation", headers, WINDOW)
    assert "MTOKEN:late" in {r["id"] for r in after} and len(after) == 6


async def test_live_mode_feeds_the_kinds_asked_for(make_sim: MakeSim) -> None:
    sim = await make_sim()
    with pytest.raises(ValueError, match="unknown kind 'dlp'"):
        sim.start_live(10, kinds=("dlp",))
    sim.start_live(200, late_fraction=1.0, kinds=("attachment", "impersonation"))
    await asyncio.sleep(0.3)
    await sim.stop_live()
    assert len(sim.dataset) == 0
    for kind in ("attachment", "impersonation"):
        dataset = sim.datasets[kind]
        assert len(dataset) > 5
        for published, record in dataset.timeline(published_only=False):
            # Every record is late: dated before it was published.
            assert parse_mimecast_date(record[dataset.date_field]) < published


def test_simulator_thread_serves_the_new_kinds() -> None:
    clicks = ClickDataset.generate(3, start=T0, end=T0 + 60, seed=1)
    simulator = Simulator(SimulatorConfig(), clicks, **datasets(4))
    with SimulatorThread(simulator=simulator) as thread:
        token = thread.call(thread.simulator.issue_token)
        response = httpx.post(
            f"{thread.base_url}{PATHS['attachment']}",
            json=body(WINDOW),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert len(records_of(response, "attachment")) == 4
        assert thread.simulator is simulator


def test_simulator_thread_takes_a_simulator_or_its_parts_not_both() -> None:
    with pytest.raises(ValueError, match="either a simulator or its config"):
        SimulatorThread(SimulatorConfig(), simulator=Simulator())
