"""The whole collector, from the simulated Mimecast into a real Kafka-protocol broker.

Read back by partition assignment and compared with the simulator's truth as
multisets: nothing missing, nothing doubled except what the sink reported as sent
again with an unknown outcome.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig, SimulatorThread
from tests.integration.conftest import (
    canon,
    cli,
    collect_once,
    multiset,
    parse,
    settings,
    start_cli,
    write_toml,
)

from .brokers import Tansu, free_port

NOW = int(time.time())
TOPIC = "mimecast.clicks.url"


def backlog(count: int, seed: int) -> ClickDataset:
    return ClickDataset.generate(count, start=NOW - 86400 + 600, end=NOW - 600, seed=seed)


def kafka_settings(tmp_path: Path, base_url: str, bootstrap: str, **sink: Any) -> dict[str, Any]:
    document = settings(tmp_path, base_url, source={"page_size": 100})
    document["sinks"] = {
        "bus": {
            "type": "kafka",
            "bootstrap_servers": [bootstrap],
            "security_protocol": "plaintext",
            "delivery_timeout_secs": 2,
            "retry_max_secs": 30,
            **sink,
        }
    }
    return document


def values(messages: list[tuple[bytes, bytes]]) -> Counter[bytes]:
    return Counter(canon(orjson.loads(value)) for _, value in messages)


async def test_pipeline_into_kafka_is_exact(tmp_path: Path, tansu: Tansu) -> None:
    faults = FaultPlan(seed=3)
    for kind in ("server_error", "drop"):
        faults.schedule(kind)
    async with Simulator(SimulatorConfig(), backlog(2500, seed=5), faults) as sim:
        config = parse(kafka_settings(tmp_path, sim.base_url, tansu.bootstrap))
        results = await collect_once(config)
        truth = multiset(sim.dataset.truth())
    assert all(error is None for error in results.values()), results
    got = tansu.read(TOPIC, expect=2500)
    assert values(got) == truth
    assert len({key for key, _ in got}) == len(got)  # one event id per message


def test_broker_killed_and_restarted_mid_run_loses_nothing(tmp_path: Path, tansu: Tansu) -> None:
    """Stop the collector mid-page, read all broker 1 has, kill it, start an empty one.

    (Tansu keeps its data in memory, so what broker 1 held is read before it dies.)
    """
    from confluent_kafka import Consumer, TopicPartition

    with SimulatorThread(SimulatorConfig(latency_secs=0.02), backlog(6000, seed=6)) as sim:
        document = kafka_settings(tmp_path, sim.base_url, tansu.bootstrap)
        config = write_toml(document, tmp_path / "collector.toml")
        log = tmp_path / "collector.log"
        process = start_cli("once", "-c", str(config), log=log)
        tail = Consumer(
            {
                "bootstrap.servers": tansu.bootstrap,
                "group.id": "tail",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        before: list[tuple[bytes, bytes]] = []
        try:
            deadline = time.monotonic() + 30
            while TOPIC not in tail.list_topics(timeout=5).topics:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
            partitions = tail.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions
            tail.assign([TopicPartition(TOPIC, p, 0) for p in partitions])
            while len(before) < 1500:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                before += [(m.key(), m.value()) for m in tail.consume(1000, 0.1) if not m.error()]
            process.send_signal(signal.SIGSTOP)  # mid-run: pages in flight
            quiet = time.monotonic()
            while time.monotonic() - quiet < 1.0:
                batch = [(m.key(), m.value()) for m in tail.consume(1000, 0.1) if not m.error()]
                before += batch
                quiet = time.monotonic() if batch else quiet
        finally:
            tail.close()
        tansu.kill()
        tansu.start()
        process.send_signal(signal.SIGCONT)
        assert process.wait(timeout=90) == 0, log.read_text()[-3000:]
        truth = multiset(sim.call(sim.simulator.dataset.truth))
    after = tansu.read(TOPIC, expect=sum(truth.values()) - len(before))
    got = values(before + after)  # type: ignore[arg-type]
    assert not truth - got, "clicks lost"
    doubled = sum((got - truth).values())
    reported = sum(
        orjson.loads(line).get("unconfirmed", 0)
        for line in log.read_text().splitlines()
        if '"kafka_page_retry"' in line
    )
    assert doubled <= reported, (doubled, reported)
    assert sum(truth.values()) == 6000


def test_unreachable_broker_holds_the_checkpoint(tmp_path: Path) -> None:
    port = free_port()
    with SimulatorThread(SimulatorConfig(), backlog(800, seed=7)) as sim:
        document = kafka_settings(
            tmp_path,
            sim.base_url,
            f"127.0.0.1:{port}",
            delivery_timeout_secs=0.5,
            retry_max_secs=1.5,
        )
        config = write_toml(document, tmp_path / "collector.toml")
        failed = cli("once", "-c", str(config), timeout=60)
        assert failed.returncode == 1, failed.stderr[-2000:]
        assert re.search(r"sink bus: .*not acknowledged by Kafka", failed.stderr)
        assert "Traceback" not in failed.stderr
        checkpoint = tmp_path / "state" / "clicks.checkpoint.json"
        held = orjson.loads(checkpoint.read_bytes()) if checkpoint.exists() else {"pass": None}
        # No page is recorded as delivered: every window is still at its start.
        for window in (held["pass"] or {}).get("windows", []):
            assert window["page_token"] is None and window["frontier"] == window["from"], held
        # The broker comes up on that port: everything is delivered, so nothing was
        # skipped by a checkpoint that moved while Kafka was unreachable.
        broker = Tansu(tmp_path)
        broker.port, broker.bootstrap = port, f"127.0.0.1:{port}"
        broker.start()
        try:
            done = cli("once", "-c", str(config), timeout=60)
            assert done.returncode == 0, done.stderr[-2000:]
            truth = multiset(sim.call(sim.simulator.dataset.truth))
            assert values(broker.read(TOPIC, expect=800)) == truth
        finally:
            broker.kill()
