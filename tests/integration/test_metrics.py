"""Metrics and readiness: exact counters under faults, and ready/not-ready transitions."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from collector.app import Collector
from collector.daemon import run_once
from collector.errors import TransientSinkError
from collector.events import Batch
from collector.metrics import MetricsServer
from collector.metrics_config import MetricsConfig
from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig, SimulatorThread
from collector.sinks import Sink

from .conftest import cli, parse, settings, start_cli, wait_for, write_toml

NOW = int(time.time())


class FlakySink:
    """Wraps a real sink and fails its first ``failures`` sends, as a receiver outage would."""

    def __init__(self, inner: Sink, failures: int) -> None:
        self.name = inner.name
        self._inner = inner
        self._failures = failures

    async def start(self) -> None:
        await self._inner.start()

    async def send(self, events: Batch) -> None:
        if self._failures > 0:
            self._failures -= 1
            raise TransientSinkError(self.name, "receiver answered HTTP 503")
        await self._inner.send(events)

    async def healthcheck(self) -> None:
        await self._inner.healthcheck()

    async def aclose(self) -> None:
        await self._inner.aclose()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_are_exact_under_429s_and_sink_errors(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(1_000, start=NOW - 7200, end=NOW - 3600, seed=31)
    faults = FaultPlan(seed=1)
    faults.schedule("rate_limit", 2)
    async with Simulator(SimulatorConfig(), dataset, faults) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100, "overlap_secs": 0})
        async with Collector(parse(document)) as collector:
            handle = collector.sinks["out"]
            handle.sink = FlakySink(handle.sink, failures=3)
            server = MetricsServer(collector, MetricsConfig(address="127.0.0.1:0"))
            await server.start()
            try:
                assert await run_once(collector, asyncio.Event()) == {"clicks": None}
                async with httpx.AsyncClient() as http:
                    response = await http.get(f"http://127.0.0.1:{server.port}/metrics")
            finally:
                await server.stop()
        served = sim.stats
    assert response.status_code == 200
    got = samples(response.text)
    src = (("source", "clicks"),)
    snk = (("sink", "out"),)
    assert got[("mimecast_collector_events_total", src)] == 1_000
    assert got[("mimecast_collector_rate_limited_total", src)] == 2 == served.rate_limited
    assert got[("mimecast_collector_requests_total", (("outcome", "rate_limited"), *src))] == 2
    assert (
        got[("mimecast_collector_requests_total", (("outcome", "ok"), *src))]
        == served.outcomes["ok"]
    )
    assert got[("mimecast_collector_pages_total", src)] == served.outcomes["ok"]
    assert got[("mimecast_collector_retries_total", src)] == 2
    assert got[("mimecast_collector_rate_limited_wait_seconds_total", src)] > 0
    assert got[("mimecast_collector_token_refreshes_total", src)] == served.tokens_issued == 1
    assert got[("mimecast_collector_duplicates_skipped_total", src)] == 0
    assert got[("mimecast_collector_cycles_total", (("result", "ok"), *src))] == 1
    assert got[("mimecast_collector_sink_events_total", snk)] == 1_000
    assert got[("mimecast_collector_sink_batches_total", snk)] == 10
    assert got[("mimecast_collector_sink_retries_total", snk)] == 3
    assert (
        got[("mimecast_collector_sink_errors_total", (("error_type", "TransientSinkError"), *snk))]
        == 3
    )
    assert got[("mimecast_collector_sink_send_duration_seconds_count", snk)] == 10
    assert got[("mimecast_collector_cycle_duration_seconds_count", src)] == 1
    newest = max(c["date"] for c in dataset.truth())
    newest_epoch = time.mktime(time.strptime(newest, "%Y-%m-%dT%H:%M:%S+0000")) - time.timezone
    lag = got[("mimecast_collector_checkpoint_lag_seconds", src)]
    assert abs(lag - (time.time() - newest_epoch)) < 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readiness_goes_not_ready_ready_not_ready(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(200, start=NOW - 3600, end=NOW - 60, seed=32)
    # A slow first answer keeps the first cycle from completing for a while.
    with SimulatorThread(SimulatorConfig(latency_secs=2.0), dataset) as sim:
        port = free_port()
        document = settings(tmp_path, sim.base_url, source={"interval_secs": 1})
        document["metrics"] = {"address": f"127.0.0.1:{port}"}
        config = write_toml(document, tmp_path / "c.toml")
        log = tmp_path / "run.log"
        process = start_cli("run", "-c", str(config), log=log)
        try:
            readyz = f"http://127.0.0.1:{port}/readyz"
            wait_for(lambda: _status(f"http://127.0.0.1:{port}/healthz") == 200, 30, "/healthz")
            assert _status(readyz) == 503
            not_ready = cli("health", "-c", str(config))
            assert not_ready.returncode == 1
            assert "source clicks: no cycle has completed yet" in not_ready.stdout
            wait_for(lambda: _status(readyz) == 200, 30, "ready")
            assert cli("health", "-c", str(config)).returncode == 0

            # Mimecast starts refusing every request: not ready after 3 intervals.
            def refuse() -> None:
                sim.simulator.config.latency_secs = 0.0
                sim.simulator.faults._rates["forbidden"] = 1.0

            sim.call(refuse)
            wait_for(lambda: _status(readyz) == 503, 30, "not ready again")
            down = cli("health", "-c", str(config))
            assert down.returncode == 1
            assert "last error: Mimecast refused /api/ttp/url/get-logs" in down.stdout
            assert "'Monitoring | URL Protection | Read'" in down.stdout
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_health_without_metrics_reads_the_health_file(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(100, start=NOW - 3600, end=NOW - 60, seed=33)
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
        before = cli("health", "-c", str(config))
        assert before.returncode == 1 and "is `run` running?" in before.stdout
        log = tmp_path / "run.log"
        process = start_cli("run", "-c", str(config), log=log)
        try:
            wait_for(lambda: cli("health", "-c", str(config)).returncode == 0, 30, "ready")
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_a_taken_metrics_port_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        document = settings(tmp_path, "http://127.0.0.1:9")
        document["metrics"] = {"address": f"127.0.0.1:{port}"}
        done = cli("run", "-c", str(write_toml(document, tmp_path / "c.toml")), timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"config error: metrics.address: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in done.stderr
