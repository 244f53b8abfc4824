"""The collector against the simulator over 127.0.0.1: exact delivery as multisets."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
import structlog

from collector.app import Collector
from collector.checkpoint import Checkpoint
from collector.daemon import run_daemon
from collector.errors import MimecastApiError
from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig
from collector.store import CheckpointStore

from .conftest import collect_once, multiset, parse, read_lines, settings

NOW = int(time.time())


def backlog(count: int, seed: int = 1) -> ClickDataset:
    return ClickDataset.generate(count, start=NOW - 86400, end=NOW - 60, seed=seed)


async def test_backlog_with_identical_duplicates_is_delivered_exactly(tmp_path: Path) -> None:
    dataset = backlog(20_000)
    truth = multiset(dataset.truth())
    assert any(n > 1 for n in truth.values()), "the dataset must hold byte-identical clicks"
    async with Simulator(SimulatorConfig(), dataset) as sim:
        results = await collect_once(parse(settings(tmp_path, sim.base_url)))
        assert results == {"clicks": None}
        written = read_lines(tmp_path / "out" / "clicks.ndjson")
        assert multiset(written) == truth
        assert sim.stats.clicks_served >= len(written)  # really served over HTTP
        # A second cycle finds nothing new and writes nothing.
        results = await collect_once(parse(settings(tmp_path, sim.base_url)))
        assert results == {"clicks": None}
        assert len(read_lines(tmp_path / "out" / "clicks.ndjson")) == len(written)


async def test_raw_format_is_byte_exact_with_mimecast_key_order(tmp_path: Path) -> None:
    dataset = backlog(500, seed=3)
    async with Simulator(SimulatorConfig(), dataset) as sim:
        await collect_once(parse(settings(tmp_path, sim.base_url)))
    lines = (tmp_path / "out" / "clicks.ndjson").read_bytes().splitlines()
    import orjson

    expected = Counter(orjson.dumps(click) for click in dataset.truth())
    assert Counter(lines) == expected


REALISTIC_FAULTS = {
    "rate_limit": 0.04,
    "rate_limit_detail": 0.01,
    "server_error": 0.03,
    "retryable_fail": 0.02,
    "drop": 0.02,
    "truncate": 0.02,
    "token_expire": 0.01,
    "page_token_reject": 0.03,
}


async def test_fault_injection_at_realistic_rates_is_still_exact(tmp_path: Path) -> None:
    dataset = backlog(20_000, seed=2)
    faults = FaultPlan(seed=11, rates=REALISTIC_FAULTS)
    config = SimulatorConfig(empty_page_with_next=True, token_ttl_secs=5)
    async with Simulator(config, dataset, faults) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 250})
        results = await collect_once(parse(document))
        assert results == {"clicks": None}
        outcomes = sim.stats.outcomes
    written = read_lines(tmp_path / "out" / "clicks.ndjson")
    assert multiset(written) == multiset(dataset.truth())
    injected = sum(n for kind, n in outcomes.items() if kind in REALISTIC_FAULTS)
    assert injected >= 10, outcomes  # the faults really happened


async def test_rejected_page_token_restarts_the_pass_without_loss_or_doubles(
    tmp_path: Path,
) -> None:
    dataset = backlog(3_000, seed=4)
    faults = FaultPlan(seed=1)
    faults.schedule("page_token_reject", 2)
    async with Simulator(SimulatorConfig(), dataset, faults) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100})
        with structlog.testing.capture_logs() as logs:
            assert await collect_once(parse(document)) == {"clicks": None}
    assert sum(1 for entry in logs if entry["event"] == "pass_restarted") == 2
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())


async def test_hmac_end_to_end(tmp_path: Path) -> None:
    dataset = backlog(1_200, seed=5)
    async with Simulator(SimulatorConfig(), dataset) as sim:
        hmac = {
            "auth": "hmac",
            "app_id": sim.config.app_id,
            "app_key": sim.config.app_key,
            "access_key": sim.config.access_key,
            "secret_key": sim.config.secret_key,
        }
        document = settings(tmp_path, sim.base_url, source=hmac)
        del (
            document["sources"]["clicks"]["client_id"],
            document["sources"]["clicks"]["client_secret"],
        )
        assert await collect_once(parse(document)) == {"clicks": None}
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())


async def test_live_mode_with_late_clicks_misses_nothing_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    async with Simulator(SimulatorConfig(seed=3)) as sim:
        document = settings(
            tmp_path, sim.base_url, source={"lag_secs": 1, "overlap_secs": 30, "interval_secs": 1}
        )
        stop = asyncio.Event()
        async with Collector(parse(document)) as collector:
            daemon = asyncio.create_task(run_daemon(collector, stop))
            sim.start_live(40, late_fraction=0.3, max_delay_secs=15)
            await asyncio.sleep(10)
            await sim.stop_live()
            # Clicks are stamped up to "now"; give the daemon lag + a couple of intervals.
            await asyncio.sleep(4)
            stop.set()
            assert await asyncio.wait_for(daemon, 15) is None  # stopped, not crashed
        truth = sim.dataset.truth()
    written = read_lines(tmp_path / "out" / "clicks.ndjson")
    assert len(truth) > 300
    assert multiset(written) == multiset(truth)


async def test_retention_gap_is_reported_with_its_range(tmp_path: Path) -> None:
    dataset = backlog(100, seed=6)
    async with Simulator(SimulatorConfig(), dataset) as sim:
        document = settings(tmp_path, sim.base_url)
        config = parse(document)
        CheckpointStore(config.state_dir, "clicks").save(
            Checkpoint("clicks", cursor=NOW - 40 * 86400, not_before=NOW - 41 * 86400)
        )
        with structlog.testing.capture_logs() as logs:
            assert await collect_once(config) == {"clicks": None}
    gaps = [entry for entry in logs if entry["event"] == "retention_gap"]
    assert len(gaps) == 1
    assert gaps[0]["log_level"] == "error"
    assert "30-day retention" in gaps[0]["message"]
    assert gaps[0]["gap_from"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 40 * 86400))


async def test_non_retryable_failure_keeps_the_checkpoint(tmp_path: Path) -> None:
    dataset = backlog(2_000, seed=7)
    faults = FaultPlan(seed=1)
    async with Simulator(SimulatorConfig(), dataset, faults) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 500})
        config = parse(document)
        store = CheckpointStore(config.state_dir, "clicks")
        faults.schedule("fatal_fail")
        results = await collect_once(config)
        error = results["clicks"]
        assert isinstance(error, MimecastApiError)
        assert error.code == "err_validation_blank"
        assert store.load() is None  # nothing was delivered, nothing moved
        assert await collect_once(config) == {"clicks": None}
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())


@pytest.mark.parametrize("to_inclusive", [True, False])
async def test_window_boundaries_under_both_readings_of_to(
    tmp_path: Path, to_inclusive: bool
) -> None:
    # Consecutive windows (lag_secs moves the end) cut through same-second bursts,
    # with no overlap: the boundary second is the only one read twice, or not at all.
    dataset = ClickDataset.generate(3_000, start=NOW - 600, end=NOW - 20, seed=8)
    truth = multiset(dataset.truth())
    async with Simulator(SimulatorConfig(to_inclusive=to_inclusive), dataset) as sim:
        for lag in (400, 300, 250, 200, 100, 0):
            document = settings(
                tmp_path,
                sim.base_url,
                source={
                    "overlap_secs": 0,
                    "page_size": 50,
                    "lag_secs": lag,
                    "initial_lookback_secs": 700,
                },
            )
            assert await collect_once(parse(document)) == {"clicks": None}
    written = multiset(read_lines(tmp_path / "out" / "clicks.ndjson"))
    assert written == truth


async def test_a_cycle_ends_even_when_pages_are_slower_than_the_clock(tmp_path: Path) -> None:
    # Each page takes longer than a second, so "now - lag_secs" moves during every
    # window; the cycle must still end at the target it started with.
    dataset = backlog(250, seed=9)
    async with Simulator(SimulatorConfig(latency_secs=1.1), dataset) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100, "lag_secs": 0})
        results = await asyncio.wait_for(collect_once(parse(document)), 30)
    assert results == {"clicks": None}
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())
