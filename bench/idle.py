"""S8: the daemon at rest. ``run`` polls every 60 s and finds nothing new.

The collector first drains a small backlog (so it is a warmed-up daemon with a
checkpoint, not a fresh process), then the harness measures its CPU time over the
idle period with psutil, from the end of that first cycle. The simulator gets no new
clicks, and the data ends an hour before "now", so each poll's overlap re-read is
empty too. Finally SIGTERM by PID, and the backlog is checked against the truth.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from bench.logs import count_event
from bench.procs import Child
from bench.receivers import FileTarget
from bench.runner import Case, Context, measurements, prepare_case, write_config
from bench.truth import DataSpec, load_truth
from bench.upstream import start_simulator, stop_simulator

FIRST_CYCLE_TIMEOUT_SECS = 120.0


def run_idle(ctx: Context, case: Case, idle_secs: float) -> dict[str, Any]:
    """Run ``case`` as a daemon, idle for ``idle_secs`` after its first cycle."""
    case_dir = ctx.workdir / f"{case.scenario}-{case.label}"
    rep_dir = case_dir / "rep1"
    (rep_dir / "out").mkdir(parents=True, exist_ok=True)
    spec = DataSpec(case.clicks, ctx.seed, ctx.span[0], ctx.span[1], ctx.rich)
    prepared = prepare_case(ctx, spec, case, case_dir)
    truth = load_truth(case_dir / "truth.bin")
    (case_dir / "pages.bin").unlink(missing_ok=True)
    sim, facts = start_simulator(ctx.python, ctx.pinning, spec, case.upstream, rep_dir)
    target = FileTarget()
    try:
        target.start(rep_dir, ctx.python, ctx.pinning)
        config = write_config(rep_dir, facts, case, target.sink_table())
        log = rep_dir / "collector.log"
        collector = Child(
            "collector",
            [ctx.python, "-m", "collector", "run", "-c", str(config)],
            cpu=ctx.pinning.collector_cpu,
            pinning=ctx.pinning,
            stderr=log,
        )
        _wait_for_cycles(collector, log, 1, FIRST_CYCLE_TIMEOUT_SECS)
        ctx.say(f"S8: first cycle done; idle for {idle_secs:.0f}s")
        cycles0 = count_event(log, "cycle_finished")
        cpu0, sim0, started = collector.cpu_secs(), sim.cpu_secs(), time.monotonic()
        while (left := idle_secs - (time.monotonic() - started)) > 0:
            if collector.poll() is not None:
                raise RuntimeError(f"the daemon exited during the idle period; see {log}")
            time.sleep(min(1.0, left))
        elapsed = time.monotonic() - started
        idle_cpu, sim_cpu = collector.cpu_secs() - cpu0, sim.cpu_secs() - sim0
        idle_cycles = count_event(log, "cycle_finished") - cycles0
        ended = collector.stop(signal.SIGTERM, grace=15.0)
    finally:
        sim_stats = stop_simulator(sim)
    run = measurements(ctx, rep_dir, ended, sim_stats, target, truth, (sim_cpu, 0.0))
    run |= {
        "idle_secs": round(elapsed, 2),
        "idle_cpu_secs": round(idle_cpu, 4),
        "idle_cpu_pct": round(100.0 * idle_cpu / elapsed, 4) if elapsed else None,
        "idle_cycles": idle_cycles,
        "interval_secs": case.source.get("interval_secs"),
    }
    (case_dir / "truth.bin").unlink(missing_ok=True)
    return {"data": spec.as_dict(), "prepare": prepared, "floor": [], "runs": [run]}


def _wait_for_cycles(collector: Child, log: Path, cycles: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while count_event(log, "cycle_finished") < cycles:
        if collector.poll() is not None:
            raise RuntimeError(f"collector exited before its first cycle finished; see {log}")
        if time.monotonic() > deadline:
            collector.stop(signal.SIGTERM)
            raise TimeoutError(f"no cycle_finished within {timeout:.0f}s; see {log}")
        time.sleep(0.1)
