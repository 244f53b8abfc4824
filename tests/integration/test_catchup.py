"""Catch-up: quota pacing without 429s, parallel slices, and resumable backfill."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import orjson
import structlog

from collector.app import Collector
from collector.daemon import run_once
from collector.simulator import (
    ClickDataset,
    QuotaConfig,
    Simulator,
    SimulatorConfig,
    SimulatorThread,
)

from .conftest import cli, multiset, parse, read_lines, settings, start_cli, wait_for, write_toml

NOW = int(time.time())


async def test_a_drain_under_a_quota_is_paced_instead_of_rate_limited(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(8_000, start=NOW - 6 * 3600, end=NOW - 60, seed=51)
    quota = QuotaConfig(limit=10, period_secs=1.0)
    async with Simulator(SimulatorConfig(quota=quota), dataset) as sim:
        document = settings(
            tmp_path, sim.base_url, source={"page_size": 100, "catchup_slice_secs": 3600}
        )
        async with Collector(parse(document)) as collector:
            started = time.monotonic()
            assert await run_once(collector, asyncio.Event()) == {"clicks": None}
            elapsed = time.monotonic() - started
            stats = collector.runners["clicks"].stats
        requests = sum(sim.stats.outcomes.values())
        limited = sim.stats.rate_limited
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())
    assert requests > 80  # 80 pages and more: the quota (10 burst, then 10/s) was binding
    assert limited <= 0.01 * requests, (limited, requests)
    assert stats.paced_wait_secs > 1.0
    # At the quota's rate, not much slower: (requests - burst) / rate, plus slack.
    assert elapsed < (requests - 10) / 10 * 1.5 + 3


async def test_a_long_pass_is_read_in_parallel_slices(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(6_000, start=NOW - 20 * 3600, end=NOW - 60, seed=52)
    async with Simulator(SimulatorConfig(latency_secs=0.02), dataset) as sim:
        document = settings(
            tmp_path,
            sim.base_url,
            source={"page_size": 100, "catchup_slice_secs": 3600, "catchup_parallel": 4},
        )
        with structlog.testing.capture_logs() as logs:
            async with Collector(parse(document)) as collector:
                assert await run_once(collector, asyncio.Event()) == {"clicks": None}
    started = [e for e in logs if e["event"] == "pass_started"]
    assert started[0]["slices"] == 4
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())


def test_backfill_is_interruptible_and_resumes_exactly(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(6_000, start=NOW - 10 * 3600, end=NOW - 3600, seed=53)
    start, end = NOW - 8 * 3600, NOW - 2 * 3600
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    with SimulatorThread(SimulatorConfig(latency_secs=0.05), dataset) as sim:
        config = write_toml(
            settings(tmp_path, sim.base_url, source={"page_size": 50}), tmp_path / "c.toml"
        )
        args = (
            "backfill",
            "-c",
            str(config),
            "--source",
            "clicks",
            "--from",
            iso(start),
            "--to",
            iso(end),
            "--parallel",
            "3",
        )
        log = tmp_path / "backfill.log"
        first = start_cli(*args, log=log)
        wait_for(lambda: log.read_bytes().count(b"page_delivered") >= 5, 30, "some pages")
        # Group commit: pages are saved in the background, within checkpoint_interval_secs.
        wait_for(
            lambda: any((tmp_path / "state").glob("*.backfill-*.checkpoint.json")), 5, "a save"
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        resumed = cli(*args)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert "resuming:" in resumed.stdout
        again = cli(*args)
        assert again.returncode == 0 and "is complete" in again.stdout
        assert not (tmp_path / "state" / "clicks.checkpoint.json").exists()  # untouched
    wanted = [
        c
        for c in dataset.truth()
        if iso(start).replace("Z", "+0000") <= c["date"] <= iso(end).replace("Z", "+0000")
    ]
    written = multiset(read_lines(tmp_path / "out" / "clicks.ndjson"))
    missing = multiset(wanted) - written
    assert sum(missing.values()) == 0
    assert set(written) <= set(multiset(wanted))  # nothing outside the range
    extra = sum((written - multiset(wanted)).values())
    assert extra <= 3 * 50  # at most one page in flight per slice was sent twice
    report = orjson.loads(
        (tmp_path / "state" / f"clicks.backfill-{start}-{end}.checkpoint.json").read_bytes()
    )
    assert report["cursor"] == iso(end)


def test_backfill_usage_errors(tmp_path: Path) -> None:
    config = write_toml(settings(tmp_path, "http://127.0.0.1:9"), tmp_path / "c.toml")
    bad = cli(
        "backfill",
        "-c",
        str(config),
        "--source",
        "nope",
        "--from",
        "2025-01-01T00:00:00Z",
        "--to",
        "2025-01-02T00:00:00Z",
    )
    assert bad.returncode == 2 and "unknown source 'nope'" in bad.stderr
    bad = cli(
        "backfill",
        "-c",
        str(config),
        "--source",
        "clicks",
        "--from",
        "2025-01-02T00:00:00Z",
        "--to",
        "2025-01-01T00:00:00Z",
    )
    assert bad.returncode == 2 and "--to: must be later than --from" in bad.stderr
