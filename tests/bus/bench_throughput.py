"""Throughput of the kafka and otlp sinks for a backlog, next to the file sink, in one run.

Not a test (pytest does not collect it). Run from the repository root::

    .venv/bin/python -m tests.bus.bench_throughput --clicks 200000

Each case drains the same simulated backlog (simulator in this process) through a fresh
collector into one sink. Tansu and rotel run as their own processes on 127.0.0.1 (rotel
exporting to its blackhole). Reported: clicks per second of wall time of ``run_once``,
the CPU seconds this process used, and how many clicks the receiver holds (Kafka: the
topic's offsets; rotel keeps nothing, so the sink's own count of acknowledged clicks).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from collector.app import Collector
from collector.config import parse_config
from collector.daemon import run_once
from collector.logging import configure_logging
from collector.simulator import ClickDataset, Simulator, SimulatorConfig
from tests.integration.conftest import settings

from .brokers import Rotel, Tansu

TOPIC = "mimecast.clicks.url"


def kafka_stored(broker: Tansu, clicks: int) -> int:
    """Distinct event ids read back from the topic."""
    return len({key for key, _ in broker.read(TOPIC, expect=clicks, timeout=120)})


async def measure(
    kind: str, dataset: ClickDataset, sink: dict[str, Any], out: Path
) -> tuple[float, float, int]:
    async with Simulator(SimulatorConfig(), dataset) as sim:
        document = settings(out, sim.base_url, source={"retry_max_secs": 300})
        document["sinks"] = {"out": sink}
        config = parse_config(document)
        async with Collector(config) as collector:
            cpu, wall = time.process_time(), time.perf_counter()
            results = await run_once(collector, asyncio.Event())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            acknowledged = sum(handle.stats.events for handle in collector.sinks.values())
    assert results == {"clicks": None}, results
    return wall, cpu, acknowledged


async def main(clicks: int, kinds: list[str]) -> None:
    configure_logging(os.environ.get("BENCH_LOG", "error"))
    now = int(time.time())
    dataset = ClickDataset.generate(clicks, start=now - 86400 + 600, end=now - 600, seed=42)
    print(f"{clicks} clicks, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for kind in kinds:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch)
            broker: Any = None
            if kind == "file":
                sink: dict[str, Any] = {"type": "file", "path": str(out / "clicks.ndjson")}
            elif kind == "kafka":
                broker = Tansu(out)
                broker.start()
                sink = {
                    "type": "kafka",
                    "bootstrap_servers": [broker.bootstrap],
                    "security_protocol": "plaintext",
                }
            else:
                # Without its per-record debug log: printing 200k records would be the bottleneck.
                broker = Rotel(out, debug=False)
                broker.start()
                sink = {"type": "otlp", "endpoint": broker.url}
            try:
                wall, cpu, stored = await measure(kind, dataset, sink, out)
                if kind == "kafka":
                    stored = kafka_stored(broker, clicks)
            finally:
                if broker is not None:
                    broker.kill() if kind == "kafka" else broker.stop()
        print(
            f"{kind:6s} {clicks / wall:10,.0f} clicks/s  wall {wall:6.2f}s  cpu {cpu:6.2f}s"
            f"  stored {stored}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=200_000)
    parser.add_argument("--kinds", default="file,kafka,otlp", help="comma list")
    args = parser.parse_args()
    asyncio.run(main(args.clicks, args.kinds.split(",")))
