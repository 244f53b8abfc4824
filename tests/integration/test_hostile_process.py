"""The real `mimecast-collector` process under signals, a closed stdout and a flooded metrics port."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.metrics_limits import METRICS_LIMITS
from collector.simulator import ClickDataset, SimulatorConfig, SimulatorThread

from .conftest import cli, settings, start_cli, wait_for, write_toml

NOW = int(time.time())


def log_events(log: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sigterm_lets_the_page_in_flight_finish_and_logs_no_error(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(3_000, start=NOW - 86400, end=NOW - 60, seed=41)
    # Each get-logs answer takes 1.5 s: SIGTERM lands while a page is in flight.
    with SimulatorThread(SimulatorConfig(latency_secs=1.5), dataset) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100})
        config = write_toml(document, tmp_path / "c.toml")
        log = tmp_path / "run.log"
        process = start_cli("run", "-c", str(config), log=log)
        wait_for(lambda: b"page_delivered" in log.read_bytes(), 30, "a first page")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    events = log_events(log)
    names = [event["event"] for event in events]
    stopping = names.index("stopping")
    # The page requested before SIGTERM was still delivered and recorded.
    assert "page_delivered" in names[stopping:], names
    assert names[-1] == "stopped" and "cycles_cancelled" not in names
    assert [e for e in events if e["level"] in ("error", "critical")] == []
    assert b"CancelledError" not in log.read_bytes()


def test_sigterm_cancels_a_page_stuck_past_the_grace_period_without_an_error(
    tmp_path: Path,
) -> None:
    dataset = ClickDataset.generate(500, start=NOW - 3600, end=NOW - 60, seed=44)
    # The first get-logs answer takes 30 s: longer than the grace period.
    with SimulatorThread(SimulatorConfig(latency_secs=30), dataset) as sim:
        config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
        log = tmp_path / "run.log"
        process = start_cli("run", "-c", str(config), log=log)
        wait_for(lambda: b'"event":"pass_started"' in log.read_bytes(), 30, "a first request")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=12) == 0
        assert time.monotonic() - started < 10  # the README's promise
    events = log_events(log)
    names = [event["event"] for event in events]
    assert "cycles_cancelled" in names and names[-1] == "stopped"
    assert [e for e in events if e["level"] in ("error", "critical")] == []
    assert b"CancelledError" not in log.read_bytes()


def test_sighup_is_logged_and_ignored_by_run(tmp_path: Path) -> None:
    with SimulatorThread(SimulatorConfig(), ClickDataset()) as sim:
        config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
        log = tmp_path / "run.log"
        process = start_cli("run", "-c", str(config), log=log)
        wait_for(lambda: b'"event":"started"' in log.read_bytes(), 30, "the daemon")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: b"sighup_ignored" in log.read_bytes(), 5, "the SIGHUP log line")
        time.sleep(0.5)
        assert process.poll() is None  # still running
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    warning = next(e for e in log_events(log) if e["event"] == "sighup_ignored")
    assert warning["level"] == "warning" and "restart" in warning["message"]


def test_sighup_stops_once_cleanly(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(3_000, start=NOW - 86400, end=NOW - 60, seed=42)
    with SimulatorThread(SimulatorConfig(latency_secs=0.1), dataset) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100})
        config = write_toml(document, tmp_path / "c.toml")
        log = tmp_path / "once.log"
        process = start_cli("once", "-c", str(config), log=log)
        wait_for(lambda: b"page_delivered" in log.read_bytes(), 30, "a first page")
        process.send_signal(signal.SIGHUP)
        assert process.wait(timeout=10) == 0
    assert b'"interrupted":true' in log.read_bytes()
    assert b'"signal":"SIGHUP"' in log.read_bytes()


def test_stdout_sink_with_stdout_closed_is_a_clear_sink_error(tmp_path: Path) -> None:
    with SimulatorThread(SimulatorConfig(), ClickDataset()) as sim:
        document = settings(tmp_path, sim.base_url)
        document["sinks"] = {"console": {"type": "stdout"}}
        config = write_toml(document, tmp_path / "c.toml")
        done = subprocess.run(
            [sys.executable, "-m", "collector", "once", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: os.close(1),  # as `>&-` does
            timeout=60,
            check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert stderr.splitlines()[-1] == (
        "error: sink console: cannot write to stdout: the collector was started with "
        "standard output closed (>&-); connect it to a pipe or a file, or use a file sink"
    )
    assert "AttributeError" not in stderr and "Traceback" not in stderr


def test_an_interval_of_1e15_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    write_toml(settings(tmp_path, "http://127.0.0.1:9"), config)
    text = config.read_text().replace("interval_secs = 1", "interval_secs = 1e15")
    config.write_text(text)
    done = cli("run", "-c", str(config), timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("config error: sources.clicks.interval_secs: ")
    assert len(done.stderr.splitlines()) == 1


def _lower_descriptor_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))


def test_a_flooded_metrics_port_starves_neither_health_nor_checkpoint(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(2_000, start=NOW - 3600, end=NOW - 60, seed=43)
    port = free_port()
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100})
        document["metrics"] = {"address": f"127.0.0.1:{port}"}
        config = write_toml(document, tmp_path / "c.toml")
        log = tmp_path / "run.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "collector", "run", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=handle,
                preexec_fn=_lower_descriptor_limit,  # 128 descriptors, 300 connections
            )
        flood: list[socket.socket] = []
        try:
            wait_for(lambda: b'"event":"cycle_finished"' in log.read_bytes(), 30, "a cycle")
            for _ in range(300):
                client = socket.create_connection(("127.0.0.1", port))
                client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
                flood.append(client)
            flooded_at = len(log.read_bytes())
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
            assert answer.status_code == 200
            # Cycles (and their checkpoint writes) go on while the connections are held.
            wait_for(
                lambda: log.read_bytes()[flooded_at:].count(b'"event":"cycle_finished"') >= 2,
                15,
                "two cycles after the flood",
            )
            # Once the request timeout has passed, the held connections are closed.
            assert METRICS_LIMITS.request_timeout_secs > 0
            time.sleep(METRICS_LIMITS.request_timeout_secs + 1)
            for client in flood:
                client.settimeout(2)
                with contextlib.suppress(ConnectionResetError):  # closed, or reset: both fine
                    assert client.recv(1024) == b""
        finally:
            for client in flood:
                client.close()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
    after = log.read_bytes()[flooded_at:]
    assert b"Too many open files" not in after and b"cycle_failed" not in after
    assert b"Traceback" not in after


@pytest.mark.parametrize("command", ["check", "once"])
def test_a_secret_key_that_is_not_base64_exits_2(tmp_path: Path, command: str) -> None:
    document = settings(tmp_path, "http://127.0.0.1:9")
    source = document["sources"]["clicks"]
    del source["client_id"], source["client_secret"]
    source.update(auth="hmac", app_id="a", app_key="k", access_key="ak", secret_key="c2VjcmV0a")
    done = cli(command, "-c", str(write_toml(document, tmp_path / "c.toml")), timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("config error: sources.clicks.secret_key: is not base64")
    assert "OK" not in done.stdout and "TaskGroup" not in done.stderr
    assert "c2VjcmV0a" not in done.stderr
