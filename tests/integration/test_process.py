"""The real `mimecast-collector` process: kill -9, SIGTERM, exit codes, messages, secrets."""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from collector.simulator import ClickDataset, FaultPlan, SimulatorConfig, SimulatorThread

from .conftest import (
    SIM_CLIENT_SECRET,
    cli,
    multiset,
    read_lines,
    settings,
    start_cli,
    wait_for,
    write_toml,
)

NOW = int(time.time())


def truth_of(sim: SimulatorThread) -> Counter[bytes]:
    return multiset(sim.call(sim.simulator.dataset.truth))


@pytest.mark.parametrize(
    "parallel", [1, 4], ids=["one window with prefetch", "four slices at once"]
)
def test_kill_9_at_random_moments_loses_nothing(tmp_path: Path, parallel: int) -> None:
    dataset = ClickDataset.generate(20_000, start=NOW - 86400, end=NOW - 60, seed=21)
    rng = random.Random(2026 + parallel)
    sim_config = SimulatorConfig(latency_secs=0.01)
    with SimulatorThread(sim_config, dataset) as sim:
        source = {"page_size": 100, "catchup_parallel": parallel}
        document = settings(tmp_path, sim.base_url, source=source, envelope=True)
        config = write_toml(document, tmp_path / "collector.toml")
        log = tmp_path / "collector.log"
        output = tmp_path / "out" / "clicks.ndjson"
        killed_at: list[float] = []
        for _ in range(6):
            process = start_cli("run", "-c", str(config), log=log)
            # Kill at a random instant once it has made some progress (or at once).
            time.sleep(rng.uniform(0.5, 2.0))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed_at.append(time.monotonic())
            process.wait(timeout=10)
        assert len(killed_at) >= 5
        done = cli("once", "-c", str(config), timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        expected = truth_of(sim)
        served = sim.call(lambda: [arrival.at for arrival in sim.simulator.stats.arrivals])
    lines = read_lines(output)
    delivered = Counter(orjson.dumps(line["log"], option=orjson.OPT_SORT_KEYS) for line in lines)
    missing = expected - delivered
    assert sum(missing.values()) == 0
    # Doubles are only re-deliveries, with the same event ids: per kill, a page in flight
    # per slice, plus the pages acknowledged but not yet saved by the group commit, which
    # were all read within checkpoint_interval_secs (1 s; 0.5 s more for the sink).
    ids = Counter(line["event_id"] for line in lines)
    doubled = sum(n - 1 for n in ids.values() if n > 1)
    unsaved = sum(sum(1 for at in served if kill - 1.5 <= at <= kill) for kill in killed_at)
    assert doubled <= (len(killed_at) * parallel + unsaved) * 100
    assert sum(delivered.values()) - doubled == sum(expected.values())


def test_sigterm_stops_within_10s_and_resumes_without_loss(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(5_000, start=NOW - 86400, end=NOW - 60, seed=22)
    with SimulatorThread(SimulatorConfig(latency_secs=0.05), dataset) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100})
        config = write_toml(document, tmp_path / "collector.toml")
        log = tmp_path / "collector.log"
        process = start_cli("run", "-c", str(config), log=log)
        wait_for(lambda: b"page_delivered" in log.read_bytes(), 30, "a first page")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
        assert b'"event":"stopped"' in log.read_bytes()
        done = cli("once", "-c", str(config))
        assert done.returncode == 0, done.stderr[-2000:]
        expected = truth_of(sim)
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == expected


def test_non_retryable_auth_failure_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(1_000, start=NOW - 3600, end=NOW - 60, seed=23)
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        document = settings(tmp_path, sim.base_url)
        config = write_toml(document, tmp_path / "collector.toml")
        assert cli("once", "-c", str(config)).returncode == 0
        checkpoint = tmp_path / "state" / "clicks.checkpoint.json"
        before = checkpoint.read_bytes()
        wrong = "wrong-secret-value-1234"
        document["sources"]["clicks"]["client_secret"] = wrong
        write_toml(document, config)
        time.sleep(1.1)  # let "now - lag_secs" move past the cursor: a new window to read
        done = cli("once", "-c", str(config))
    assert done.returncode == 1
    assert (
        "error: source clicks: Mimecast rejected the API 2.0 client credentials "
        "(HTTP 401, invalid_client): check client_id and client_secret" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert wrong not in done.stderr and SIM_CLIENT_SECRET not in done.stderr
    assert checkpoint.read_bytes() == before


def test_binding_expired_is_named_with_what_to_do(tmp_path: Path) -> None:
    faults = FaultPlan(seed=1)
    faults.schedule("binding_expired", 5)
    with SimulatorThread(SimulatorConfig(), ClickDataset(), faults) as sim:
        config = sim.simulator.config
        hmac = {
            "auth": "hmac",
            "app_id": config.app_id,
            "app_key": config.app_key,
            "access_key": config.access_key,
            "secret_key": config.secret_key,
        }
        document = settings(tmp_path, sim.base_url, source=hmac)
        del (
            document["sources"]["clicks"]["client_id"],
            document["sources"]["clicks"]["client_secret"],
        )
        done = cli("once", "-c", str(write_toml(document, tmp_path / "c.toml")))
    assert done.returncode == 1
    assert "API 1.0 key binding expired" in done.stderr
    assert "err_xdk_binding_expired" in done.stderr
    assert config.secret_key not in done.stderr and config.access_key not in done.stderr
    assert not (tmp_path / "state" / "clicks.checkpoint.json").exists()


def test_secrets_never_reach_logs_even_in_debug(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(1_500, start=NOW - 3600, end=NOW - 60, seed=24)
    faults = FaultPlan(seed=3, rates={"rate_limit": 0.1, "server_error": 0.1})
    faults.schedule("token_expire")
    with SimulatorThread(SimulatorConfig(), dataset, faults) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100})
        document["log"] = {"level": "debug", "format": "json"}
        secret_file = tmp_path / "secret"
        secret_file.write_text(SIM_CLIENT_SECRET + "\n")
        del document["sources"]["clicks"]["client_secret"]
        document["sources"]["clicks"]["client_secret_file"] = str(secret_file)
        done = cli("once", "-c", str(write_toml(document, tmp_path / "c.toml")))
        check = cli("check", "-c", str(tmp_path / "c.toml"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert b"retrying" in done.stderr.encode()
    for output in (done.stdout, done.stderr, check.stdout, check.stderr):
        assert SIM_CLIENT_SECRET not in output
    for line in done.stderr.splitlines():
        orjson.loads(line)  # JSON lines, one per page or event of note


def test_check_reports_each_source_and_sink(tmp_path: Path) -> None:
    with SimulatorThread(SimulatorConfig(), ClickDataset()) as sim:
        document = settings(tmp_path, sim.base_url)
        config = write_toml(document, tmp_path / "c.toml")
        good = cli("check", "-c", str(config))
        document["sources"]["clicks"]["client_secret"] = "nope-nope-nope"
        bad = cli("check", "-c", str(write_toml(document, config)))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "source clicks: OK (API 2.0 OAuth2" in good.stdout
    assert "sink out: OK (file)" in good.stdout
    assert bad.returncode == 1
    assert "source clicks: FAILED: Mimecast rejected the API 2.0 client credentials" in bad.stdout
    assert "sink out: OK" in bad.stdout


def test_checkpoint_show_and_reset(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(300, start=NOW - 3600, end=NOW - 60, seed=25)
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
        shown = cli("checkpoint", "show", "-c", str(config))
        assert shown.returncode == 0
        assert orjson.loads(shown.stdout)["clicks"]["state"] == "no checkpoint yet"
        assert cli("once", "-c", str(config)).returncode == 0
        report = orjson.loads(cli("checkpoint", "show", "-c", str(config)).stdout)["clicks"]
        assert report["collected_until"] is not None and report["pass_in_progress"] is None
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 1800))
        reset = cli("checkpoint", "reset", "-c", str(config), "--source", "clicks", "--from", start)
        assert reset.returncode == 0 and start in reset.stdout
        assert cli("once", "-c", str(config)).returncode == 0
    expected = [c for c in dataset.truth() if c["date"] >= start.replace("Z", "+0000")]
    written = read_lines(tmp_path / "out" / "clicks.ndjson")
    # Everything once, then again everything from the reset time on.
    assert multiset(written) == multiset(dataset.truth()) + multiset(expected)
    bad = cli("checkpoint", "reset", "-c", str(config), "--source", "nope")
    assert bad.returncode == 2 and "unknown source 'nope'" in bad.stderr
    bad = cli("checkpoint", "reset", "-c", str(config), "--source", "clicks", "--from", "yesterday")
    assert bad.returncode == 2 and "is not an ISO 8601 time" in bad.stderr


def test_corrupt_checkpoint_stops_with_a_clear_error(tmp_path: Path) -> None:
    with SimulatorThread(SimulatorConfig(), ClickDataset()) as sim:
        config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
        state = tmp_path / "state"
        state.mkdir()
        (state / "clicks.checkpoint.json").write_bytes(b'{"schema": 1, "sour')
        done = cli("once", "-c", str(config))
    assert done.returncode == 1
    assert "is corrupt or unreadable" in done.stderr and "checkpoint reset" in done.stderr
    assert (state / "clicks.checkpoint.json").read_bytes() == b'{"schema": 1, "sour'


def test_second_process_on_the_same_state_is_refused(tmp_path: Path) -> None:
    with SimulatorThread(SimulatorConfig(latency_secs=0.2), ClickDataset()) as sim:
        config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
        log = tmp_path / "first.log"
        first = start_cli("run", "-c", str(config), log=log)
        try:
            wait_for(lambda: b'"event":"started"' in log.read_bytes(), 30, "the first process")
            second = cli("once", "-c", str(config))
        finally:
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=10)
    assert second.returncode == 1
    assert "another mimecast-collector holds" in second.stderr


def test_demo_runs_without_credentials(tmp_path: Path) -> None:
    done = cli("demo", "--out", str(tmp_path / "demo-out"), "--clicks", "2000")
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "demo-out"
    assert "2,000 click logs into" in done.stdout
    assert "400 attachment logs into" in done.stdout
    assert "400 impersonation logs into" in done.stdout
    assert done.stdout.count("0 missing, 0 duplicated") == 3
    assert len((out / "url-clicks.ndjson").read_bytes().splitlines()) == 2000
    for name in ("attachments", "impersonation"):
        assert len((out / f"{name}.ndjson").read_bytes().splitlines()) == 400


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_once_is_interruptible(tmp_path: Path, signum: int) -> None:
    dataset = ClickDataset.generate(3_000, start=NOW - 86400, end=NOW - 60, seed=26)
    with SimulatorThread(SimulatorConfig(latency_secs=0.1), dataset) as sim:
        config = write_toml(
            settings(tmp_path, sim.base_url, source={"page_size": 100}), tmp_path / "c.toml"
        )
        log = tmp_path / "once.log"
        process = start_cli("once", "-c", str(config), log=log)
        wait_for(lambda: b"page_delivered" in log.read_bytes(), 30, "a first page")
        os.kill(process.pid, signum)
        assert process.wait(timeout=10) == 0
        assert b'"interrupted":true' in log.read_bytes()


def test_dlq_replay_command(tmp_path: Path) -> None:
    config = write_toml(settings(tmp_path, "http://127.0.0.1:9"), tmp_path / "c.toml")
    nothing = cli("dlq", "replay", "-c", str(config), "--sink", "out")
    assert nothing.returncode == 0 and "no dead letters" in nothing.stdout
    unknown = cli("dlq", "replay", "-c", str(config), "--sink", "nope")
    assert unknown.returncode == 2 and "unknown sink 'nope'" in unknown.stderr


def test_sigterm_ends_once_even_while_a_dead_sink_is_being_retried(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(500, start=NOW - 3600, end=NOW - 60, seed=27)
    with socket.socket() as placeholder:  # a loopback port with nobody listening
        placeholder.bind(("127.0.0.1", 0))
        dead_port = placeholder.getsockname()[1]
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        document = settings(tmp_path, sim.base_url)
        document["sinks"] = {
            "down": {
                "type": "http",
                "endpoint": f"http://127.0.0.1:{dead_port}/ingest",
                "retry_max_secs": 300,
            }
        }
        config = write_toml(document, tmp_path / "c.toml")
        log = tmp_path / "once.log"
        process = start_cli("once", "-c", str(config), log=log)
        wait_for(lambda: b'"event":"retrying"' in log.read_bytes(), 60, "a retry")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
    # Nothing was delivered, so the pass is still open: the clicks will be read again.
    saved = orjson.loads((tmp_path / "state" / "clicks.checkpoint.json").read_bytes())
    assert saved["cursor"] is None and saved["pass"]["windows"]
