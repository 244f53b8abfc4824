"""Freshness: the delivery delay histogram, the idle polling budget, the late sweep."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import structlog

from collector.app import Collector
from collector.daemon import run_daemon, run_once
from collector.metrics import MetricsConfig, MetricsServer
from collector.simulator import ClickDataset, QuotaConfig, Simulator, SimulatorConfig
from collector.simulator.api import GET_LOGS_PATH

from .conftest import multiset, parse, read_lines, settings
from .test_metrics import samples

NOW = int(time.time())


def clicks_at(dataset: ClickDataset, date: int, count: int, seed: int) -> None:
    """Add ``count`` distinct clicks dated ``date`` (already published)."""
    extra = ClickDataset.generate(count, start=date, end=date, seed=seed, duplicate_fraction=0)
    for click in extra.truth():
        dataset.add(click, published_at=0.0)


async def test_delivery_delay_is_exact_on_a_controlled_clock(tmp_path: Path) -> None:
    acked_at = NOW - 600  # every "now" of the collector: planning and acknowledgement
    dataset = ClickDataset()
    for seed, (age, count) in enumerate([(3, 2), (8, 5), (40, 1), (1000, 2)]):
        clicks_at(dataset, acked_at - age, count, seed)
    async with Simulator(SimulatorConfig(), dataset) as sim:
        document = settings(tmp_path, sim.base_url, source={"lag_secs": 0})
        async with Collector(parse(document)) as collector:
            runner = collector.runners["clicks"]
            runner.clock = lambda: float(acked_at)
            server = MetricsServer(collector, MetricsConfig(address="127.0.0.1:0"))
            await server.start()
            try:
                with structlog.testing.capture_logs() as logs:
                    assert await run_once(collector, asyncio.Event()) == {"clicks": None}
                async with httpx.AsyncClient() as http:
                    response = await http.get(f"http://127.0.0.1:{server.port}/metrics")
            finally:
                await server.stop()
    got = samples(response.text)
    name = "mimecast_collector_delivery_delay_seconds"

    def bucket(bound: str) -> float:
        return got[(f"{name}_bucket", (("le", bound), ("source", "clicks")))]

    # Delays 3 3 | 8 8 8 8 8 | 40 | 1000 1000.
    assert [bucket(b) for b in ("1.0", "2.5", "5.0", "10.0", "30.0", "45.0", "900.0")] == [
        0,
        0,
        2,
        7,
        7,
        8,
        8,
    ]
    assert bucket("3600.0") == bucket("+Inf") == 10
    assert got[(f"{name}_count", (("source", "clicks"),))] == 10
    assert got[(f"{name}_sum", (("source", "clicks"),))] == 2 * 3 + 5 * 8 + 40 + 2 * 1000
    finished = [entry for entry in logs if entry["event"] == "cycle_finished"]
    assert [(e["delay_p50_secs"], e["delay_max_secs"]) for e in finished] == [(8.0, 1000.0)]
    summaries = [entry for entry in logs if entry["event"] == "once_summary"]
    assert summaries == [
        {
            "event": "once_summary",
            "log_level": "info",
            "source": "clicks",
            "events": 10,
            "pages": 4,
            "delay_p50_secs": 8.0,
            "delay_max_secs": 1000.0,
        }
    ]


def three_sources(tmp_path: Path, base_url: str, **source: Any) -> dict[str, Any]:
    """Three sources on one credential (same host, same client id), one file sink."""
    document = settings(tmp_path, base_url, source=source)
    template = document["sources"].pop("clicks")
    template.pop("interval_secs")
    for name in ("a", "b", "c"):
        document["sources"][name] = template | source
    return document


async def run_for(document: dict[str, Any], secs: float) -> None:
    stop = asyncio.Event()
    async with Collector(parse(document)) as collector:
        daemon = asyncio.create_task(run_daemon(collector, stop))
        await asyncio.sleep(secs)
        stop.set()
        assert await asyncio.wait_for(daemon, 15) is None


async def test_idle_polling_of_three_sources_stays_within_the_share(tmp_path: Path) -> None:
    # 10000/hour scaled down: 200 per 10 s. 5% of it is one request a second for the
    # three sources together, i.e. one idle poll every 3 s per source. (Each source on
    # its own 5% would poll every second: three times the share.)
    quota = QuotaConfig(limit=200, period_secs=10)
    async with Simulator(SimulatorConfig(quota=quota), ClickDataset()) as sim:
        document = three_sources(
            tmp_path, sim.base_url, quota_period_secs=10, initial_lookback_secs=60
        )
        stop = asyncio.Event()
        async with Collector(parse(document)) as collector:
            daemon = asyncio.create_task(run_daemon(collector, stop))
            await asyncio.sleep(1.0)  # past the first polls, made before the quota is known
            before, started = sim.stats.requests[GET_LOGS_PATH], time.monotonic()
            await asyncio.sleep(4.0)
            spent = sim.stats.requests[GET_LOGS_PATH] - before
            elapsed = time.monotonic() - started
            stop.set()
            assert await asyncio.wait_for(daemon, 15) is None
    allowed = 0.05 * quota.limit / quota.period_secs * elapsed
    # One poll of slack for the instant the count was taken.
    assert spent <= allowed + 1, (spent, allowed)
    # It does poll all along, not once and then sleep for the unknown-quota minute.
    assert spent >= allowed / 2, (spent, allowed)


async def test_interval_secs_wins_and_a_short_one_warns_once(tmp_path: Path) -> None:
    # 100 per 10 s: 5% is one idle poll every 2 s; interval_secs = 1 polls twice as often.
    quota = QuotaConfig(limit=100, period_secs=10)
    async with Simulator(SimulatorConfig(quota=quota), ClickDataset()) as sim:
        document = settings(tmp_path, sim.base_url, source={"quota_period_secs": 10})
        with structlog.testing.capture_logs() as logs:
            await run_for(document, 3.5)
        requests = sim.stats.requests[GET_LOGS_PATH]
    warnings = [entry for entry in logs if entry["event"] == "interval_above_budget"]
    assert len(warnings) == 1
    assert warnings[0]["message"].startswith("sources.clicks.interval_secs = 1 polls more often")
    assert "2.0 s between polls" in warnings[0]["message"]
    assert requests >= 3  # every second, as configured, not every 2 s


async def test_the_late_sweep_catches_what_the_polls_no_longer_reread(tmp_path: Path) -> None:
    base = NOW - 3600
    clock = [float(base)]
    dataset = ClickDataset()
    clicks_at(dataset, base - 50, 3, seed=1)
    source = {
        "lag_secs": 0,
        "poll_overlap_secs": 2,
        "overlap_secs": 60,
        "late_sweep_secs": 300,
        "initial_lookback_secs": 3600,
    }
    async with Simulator(SimulatorConfig(), dataset) as sim:
        async with Collector(parse(settings(tmp_path, sim.base_url, source=source))) as collector:
            runner = collector.runners["clicks"]
            runner.clock = lambda: clock[0]
            with structlog.testing.capture_logs() as logs:
                first = await runner.run_cycle()  # a fresh process sweeps first
                clicks_at(dataset, base - 40, 2, seed=2)  # published 40 s late
                # This poll's pass ends 30 s later: dedup must still remember the first
                # clicks (50 s before the last sweep's end), or the sweep doubles them.
                clock[0] = base + 30
                poll = await runner.run_cycle()
                clock[0] = base + 301
                sweep = await runner.run_cycle()
        truth = dataset.truth()
    assert (first.sweep, poll.sweep, sweep.sweep) == (True, False, True)
    assert (first.events, poll.events, sweep.events) == (3, 0, 2)
    starts = [entry["window_from"] for entry in logs if entry["event"] == "pass_started"]
    assert starts[1:] == [
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in (base - 2, base - 60)
    ]
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(truth)
