"""The simulated Mimecast upstream: how it behaves, and its process.

Each rep gets a fresh ``mimecast-collector simulate`` on the helper CPU, so its quota
bucket, snapshot cache and counters start clean and its ``stats=`` line (printed on
SIGINT) describes exactly one collector run.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.procs import Child, Pinning
from bench.truth import DataSpec


@dataclass(frozen=True, slots=True)
class Upstream:
    """How the simulator behaves: per-page latency and a quota (``LIMIT/PERIOD_SECS``)."""

    latency_ms: float = 0.0
    quota: str | None = None
    quota_body: str = "fail"

    def args(self) -> list[str]:
        """The matching ``simulate`` options."""
        args = ["--latency-ms", str(self.latency_ms)]
        if self.quota is not None:
            args += ["--quota", self.quota, "--quota-body", self.quota_body]
        return args


def start_simulator(
    python: str, pinning: Pinning, spec: DataSpec, upstream: Upstream, rep_dir: Path
) -> tuple[Child, dict[str, str]]:
    """Start ``mimecast-collector simulate`` on the helper CPU; return it and its facts."""
    argv = [python, "-m", "collector", "simulate", "--port", "0", *spec.simulator_args()]
    sim = Child(
        "simulator",
        [*argv, *upstream.args()],
        cpu=pinning.helper_cpu,
        pinning=pinning,
        stderr=rep_dir / "simulator.log",
        capture_stdout=True,
    )
    # Generation takes ~3.5 s per 1M clicks on an idle core; leave room for a busy one.
    lines = sim.read_until("ready", timeout=60.0 + spec.clicks * 30e-6)
    facts = dict(line.partition("=")[::2] for line in lines if "=" in line)
    return sim, facts


def stop_simulator(sim: Child) -> dict[str, Any]:
    """SIGINT by PID; return the ``stats=`` it prints on the way out ({} if none)."""
    if not sim.running():
        return {}
    sim.stop(signal.SIGINT, grace=30.0)
    stats: dict[str, Any] = {}
    while not sim.lines.empty():
        line = sim.lines.get_nowait()
        if line is not None and line.startswith("stats="):
            stats = orjson.loads(line.removeprefix("stats="))
    return stats
