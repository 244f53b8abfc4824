"""All three TTP logs from one daemon (issue 12): URL clicks, attachment and impersonation
logs on one credential, against the simulator, with faults; each kind exact as a multiset."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collector.app import Collector
from collector.daemon import run_daemon, run_once
from collector.errors import AuthError
from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig
from collector.simulator.faults import QuotaConfig
from collector.simulator.thread import SimulatorThread
from collector.simulator.ttp_datasets import AttachmentDataset, ImpersonationDataset

from .conftest import (
    SIM_CLIENT_ID,
    SIM_CLIENT_SECRET,
    cli,
    multiset,
    parse,
    read_lines,
    start_cli,
    write_toml,
)

NOW = int(time.time())
KINDS = ("url", "attachment", "impersonation")


def document(tmp_path: Path, base_url: str, **common: Any) -> dict[str, Any]:
    """Three sources on one credential (written once, referenced twice), one file sink
    that keeps each kind in its own file."""
    shared = {"initial_lookback_secs": 2 * 86400, "lag_secs": 0, "retry_max_secs": 120}
    return {
        "state_dir": str(tmp_path / "state"),
        "log": {"format": "json"},
        "sources": {
            "clicks": {
                "type": "mimecast_ttp_url",
                "base_url": base_url,
                "client_id": SIM_CLIENT_ID,
                "client_secret": SIM_CLIENT_SECRET,
                **shared,
                **common,
            },
            "attachments": {
                "type": "mimecast_ttp_attachment",
                "credentials": "clicks",
                **shared,
                **common,
            },
            "impersonation": {
                "type": "mimecast_ttp_impersonation",
                "credentials": "clicks",
                **shared,
                **common,
            },
        },
        "sinks": {
            "files": {
                "type": "file",
                "path": str(tmp_path / "out" / "{kind}.ndjson"),
                "format": "envelope",
            }
        },
    }


def datasets(count: int, seed: int) -> dict[str, Any]:
    span = {"start": NOW - 86400, "end": NOW - 60, "seed": seed}
    return {
        "dataset": ClickDataset.generate(count, **span),
        "attachments": AttachmentDataset.generate(count, **span),
        "impersonations": ImpersonationDataset.generate(count, **span),
    }


def truths(sets: dict[str, Any]) -> dict[str, Counter[bytes]]:
    return {
        "url": multiset(sets["dataset"].truth()),
        "attachment": multiset(sets["attachments"].truth()),
        "impersonation": multiset(sets["impersonations"].truth()),
    }


def delivered(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    return read_lines(tmp_path / "out" / f"{kind}.ndjson")


async def test_three_kinds_with_faults_each_exact(tmp_path: Path) -> None:
    sets = datasets(3000, 41)
    expected = truths(sets)
    for kind in KINDS:
        assert any(n > 1 for n in expected[kind].values()), f"{kind}: identical records"
    faults = FaultPlan(
        seed=41, rates={"rate_limit": 0.03, "server_error": 0.03, "drop": 0.02, "truncate": 0.02}
    )
    async with Simulator(SimulatorConfig(seed=41), faults=faults, **sets) as sim:
        config = parse(document(tmp_path, sim.base_url, page_size=100))
        async with Collector(config) as collector:
            results = await run_once(collector, asyncio.Event())
            gates = [name for name in collector.gates() if name.startswith("mimecast/")]
        logins = sim.stats.tokens_issued
    assert results == {"clicks": None, "attachments": None, "impersonation": None}
    assert logins == 1, "one credential, one OAuth2 login for the three sources"
    assert gates == ["mimecast/clicks"], "one credential, one gate"
    for kind in KINDS:
        lines = delivered(tmp_path, kind)
        assert {line["kind"] for line in lines} == {kind}
        assert multiset(line["log"] for line in lines) == expected[kind], kind


async def test_late_records_of_every_kind_are_caught_by_run(tmp_path: Path) -> None:
    """One `run`, three kinds, faults on, records published late: each kind exact."""
    faults = FaultPlan(seed=43, rates={"rate_limit": 0.03, "server_error": 0.03, "drop": 0.02})
    async with Simulator(SimulatorConfig(seed=43), faults=faults) as sim:
        common = {"lag_secs": 1, "overlap_secs": 30, "interval_secs": 1}
        config = parse(document(tmp_path, sim.base_url, **common))
        stop = asyncio.Event()
        async with Collector(config) as collector:
            daemon = asyncio.create_task(run_daemon(collector, stop))
            sim.start_live(15, late_fraction=0.3, max_delay_secs=8, kinds=KINDS)
            await asyncio.sleep(8)
            await sim.stop_live()
            await asyncio.sleep(5)
            stop.set()
            await asyncio.wait_for(daemon, 15)
        expected = {
            "url": multiset(sim.dataset.truth()),
            "attachment": multiset(sim.attachments.truth()),
            "impersonation": multiset(sim.impersonations.truth()),
        }
    for kind in KINDS:
        assert sum(expected[kind].values()) > 60, kind
        assert multiset(line["log"] for line in delivered(tmp_path, kind)) == expected[kind], kind


async def test_three_sources_on_one_credential_stay_under_its_quota(tmp_path: Path) -> None:
    """The quota is the application's: three sources share one pacer, which mirrors the
    bucket, so not one request meets a 429 (the share of the quota's rate they reach is
    measured by ``python -m bench.quota_share``, not here). Three pacers, one per source,
    would meet many."""
    sets = datasets(1500, 44)
    quota = QuotaConfig(limit=12, period_secs=1.2)
    async with Simulator(SimulatorConfig(seed=44, quota=quota), **sets) as sim:
        config = parse(document(tmp_path, sim.base_url, page_size=50))
        async with Collector(config) as collector:
            results = await run_once(collector, asyncio.Event())
        rate_limited = sim.stats.rate_limited
        requests = len(sim.stats.arrivals)
    assert set(results.values()) == {None}
    assert requests > 3 * quota.limit, "the test must outrun the bucket"
    assert rate_limited == 0, (rate_limited, requests)
    for kind, truth in truths(sets).items():
        assert multiset(line["log"] for line in delivered(tmp_path, kind)) == truth


async def test_a_denied_kind_fails_alone_and_names_its_permission(tmp_path: Path) -> None:
    sets = datasets(300, 45)
    config_ = SimulatorConfig(seed=45, denied_kinds=frozenset({"impersonation"}))
    async with Simulator(config_, **sets) as sim:
        config = parse(document(tmp_path, sim.base_url))
        async with Collector(config) as collector:
            results = await run_once(collector, asyncio.Event())
    error = results["impersonation"]
    assert isinstance(error, AuthError)
    assert "Monitoring | Impersonation Protection | Read" in str(error)
    assert results["clicks"] is None and results["attachments"] is None
    assert (
        multiset(line["log"] for line in delivered(tmp_path, "attachment"))
        == truths(sets)["attachment"]
    )


@pytest.mark.slow
def test_kill_9_while_collecting_attachments_loses_nothing(tmp_path: Path) -> None:
    sets = datasets(6000, 46)
    rng = random.Random(46)
    with SimulatorThread(simulator=Simulator(SimulatorConfig(latency_secs=0.01), **sets)) as sim:
        doc = document(tmp_path, sim.base_url, page_size=100)
        config = write_toml(doc, tmp_path / "c.toml")
        kills = 0
        for _ in range(4):
            process = start_cli("run", "-c", str(config), log=tmp_path / "run.log")
            time.sleep(rng.uniform(0.5, 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=10)
        assert kills >= 3
        done = cli("once", "-c", str(config), timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
    lines = delivered(tmp_path, "attachment")
    got = multiset(line["log"] for line in lines)
    expected = truths(sets)["attachment"]
    assert expected - got == Counter(), "nothing lost"
    ids = Counter(line["event_id"] for line in lines)
    doubled = sum(n - 1 for n in ids.values() if n > 1)
    assert sum(got.values()) - doubled == sum(expected.values()), "doubles share their ids"


async def test_the_first_burst_waits_for_the_first_answer(tmp_path: Path) -> None:
    """Before any answer the pacer knows no quota: three sources of four catch-up slices
    would send 12 requests at once into a bucket of 6. One goes first; the rest wait
    for its X-RateLimit-* headers, so not one meets a 429."""
    sets = datasets(600, 47)
    quota = QuotaConfig(limit=6, period_secs=0.6)
    async with Simulator(SimulatorConfig(seed=47, quota=quota), **sets) as sim:
        config = parse(document(tmp_path, sim.base_url, page_size=50))
        assert sum(source.catchup_parallel for source in config.sources.values()) > quota.limit
        async with Collector(config) as collector:
            results = await run_once(collector, asyncio.Event())
        rate_limited = sim.stats.rate_limited
    assert set(results.values()) == {None}
    assert rate_limited == 0
    for kind, truth in truths(sets).items():
        assert multiset(line["log"] for line in delivered(tmp_path, kind)) == truth
