"""Throughput of each HTTP sink for a backlog, next to the file sink, in one run.

Not a test (pytest does not collect it). Run from the repository root::

    .venv/bin/python -m tests.http_sinks.bench_throughput --clicks 200000

For every case a fresh collector drains the same simulated backlog (the simulator runs
in this process, as in the end-to-end tests) into one sink; the receiver emulator runs
in a child process, so that it uses the second core instead of competing with the
collector for this one. Reported: clicks per second of wall time of ``run_once``, the
CPU seconds this process (collector + simulator) used, and how many events the receiver
stored (to compare with the backlog).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from collector.app import Collector
from collector.config import parse_config
from collector.daemon import run_once
from collector.logging import configure_logging
from collector.simulator import ClickDataset, Simulator, SimulatorConfig
from collector.simulator.envelope import json_response
from collector.simulator.httpserver import Request, Response

from .bulk_emulator import BulkEmulator
from .hec_emulator import HecEmulator
from .receiver import Receiver

INDEX = "logs-mimecast.ttp_url-default"


async def serve(kind: str) -> None:
    """Child process: run one emulator and print its URL; ``GET /_bench/count`` counts."""
    # The emulator keeps every event it receives; without this, collecting garbage
    # over that growing heap makes the receiver, not the sink, the bottleneck.
    gc.disable()
    emulator: Any
    if kind.startswith("hec"):
        emulator = HecEmulator(use_ack=kind == "hec-ack")

        def count() -> int:
            return len(emulator.stored)
    elif kind == "es":
        emulator = BulkEmulator()
        emulator.mappings_checked = False

        def count() -> int:
            return len(emulator.stored(INDEX))
    else:
        emulator = Receiver()

        def count() -> int:
            return len(emulator.events)

    route = emulator.server._handler

    async def handler(request: Request) -> Response:
        if request.path == "/_bench/count":
            return json_response(200, {"count": count()})
        response: Response = await route(request)
        return response

    emulator.server._handler = handler
    await emulator.server.start()
    print(emulator.url, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await emulator.server.stop()


def sink_options(kind: str, url: str, out: Path) -> dict[str, Any]:
    token = "hec-token-0123456789"
    if kind == "file":
        return {"type": "file", "path": str(out / "clicks.ndjson")}
    if kind == "hec":
        return {"type": "splunk_hec", "endpoint": url, "token": token}
    if kind.startswith("hec-ack"):
        interval = 1.0 if kind == "hec-ack" else 0.05
        return {
            "type": "splunk_hec",
            "endpoint": url,
            "token": token,
            "acknowledgements": True,
            "ack_poll_interval_secs": interval,
        }
    if kind.startswith("es"):
        api_key = "ZW11bGF0b3I6c2VjcmV0LWtleS12YWx1ZQ=="
        fmt = "raw" if kind == "es-raw" else "ecs"
        return {"type": "elasticsearch", "endpoint": url, "api_key": api_key, "format": fmt}
    return {"type": "http", "endpoint": url + "/ingest", "compression": "gzip"}


async def measure(kind: str, dataset: ClickDataset, url: str) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        async with Simulator(SimulatorConfig(), dataset) as sim:
            config = parse_config(
                {
                    "state_dir": str(out / "state"),
                    "sources": {
                        "clicks": {
                            "type": "mimecast_ttp_url",
                            "base_url": sim.base_url,
                            "client_id": sim.config.client_id,
                            "client_secret": sim.config.client_secret,
                            "initial_lookback_secs": 86400,
                        }
                    },
                    "sinks": {"out": sink_options(kind, url, out)},
                }
            )
            async with Collector(config) as collector:
                cpu, wall = time.process_time(), time.perf_counter()
                results = await run_once(collector, asyncio.Event())
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert results == {"clicks": None}, results
        if kind == "file":
            # Rotated files (past max_bytes) count too.
            stored = sum(sum(1 for _ in path.open("rb")) for path in out.glob("clicks.ndjson*"))
        else:
            async with httpx.AsyncClient() as client:
                stored = (await client.get(url + "/_bench/count")).json()["count"]
    return wall, cpu, stored


async def main(clicks: int, kinds: list[str]) -> None:
    configure_logging(os.environ.get("BENCH_LOG", "error"))
    now = int(time.time())
    dataset = ClickDataset.generate(clicks, start=now - 86400 + 600, end=now - 600, seed=42)
    print(f"{clicks} clicks, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for kind in kinds:
        child = None
        url = ""
        emulator = {"file": None, "hec": "hec", "es": "es", "es-raw": "es", "http": "http"}
        server = emulator.get(kind, "hec-ack")
        if server is not None:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.http_sinks.bench_throughput", "--serve", server],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdout is not None
            url = child.stdout.readline().strip()
        try:
            wall, cpu, stored = await measure(kind, dataset, url)
        finally:
            if child is not None:
                child.send_signal(signal.SIGTERM)
                child.wait(30)
        print(
            f"{kind:12s} {clicks / wall:10,.0f} clicks/s  wall {wall:6.2f}s  cpu {cpu:6.2f}s"
            f"  stored {stored}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=200_000)
    parser.add_argument("--serve")
    parser.add_argument(
        "--kinds", default="file,hec,hec-ack,hec-ack-fast,es,es-raw,http", help="comma list"
    )
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
    else:
        asyncio.run(main(args.clicks, args.kinds.split(",")))
