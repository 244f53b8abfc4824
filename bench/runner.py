"""Running one benchmark case: the floor, then the real collector against the simulator.

A *case* is one scenario at one size (S5 has three). For each case the harness:

1. regenerates the clicks in a helper process: truth digests plus the pages file
   (:mod:`bench.floor` ``prepare``);
2. for each rep, times the floor on the collector's CPU (:mod:`bench.floor` ``measure``),
   then starts a fresh simulator and receiver on the helper CPU, runs
   ``mimecast-collector once`` (or another command) on the collector's CPU until it
   exits, samples the helpers' CPU around it, stops the receiver, runs the naive
   baseline against the same simulator when the case has one (:mod:`bench.naive_run`),
   stops the simulator by PID, and checks what arrived against the truth.

Floor and collector reps are interleaved so both see the same background load.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.logs import parse_log
from bench.naive_run import run_naive
from bench.procs import Child, Exit, Pinning
from bench.receivers import FileTarget, Target
from bench.truth import DataSpec, verify
from bench.upstream import Upstream, start_simulator, stop_simulator


@dataclass(frozen=True, slots=True)
class Context:
    """Harness-wide settings.

    Attributes:
        workdir: scratch space for this harness run (outputs, state, logs).
        pinning: which CPU runs what.
        python: the interpreter that runs the collector, simulator and floor.
        span: ``(start, end)`` epoch seconds of every dataset, inside the 30 days the
            collector reads and before ``now - lag_secs``.
        seed: dataset seed.
        rich: realistic API 2.0 clicks (the default); False gives the 12 documented
            v1 fields only (``--v1-fields``).
        floor_reps: timed floor passes per case (spread over the collector reps).
        keep_output: keep delivered files and pages files after checking them.
        strict_receivers: S2 and S4 deliver to the tests' strict emulators instead of
            the lean :mod:`bench.fast_receiver`.
        say: progress messages.
    """

    workdir: Path
    pinning: Pinning
    python: str
    span: tuple[int, int]
    seed: int = 1
    rich: bool = True
    floor_reps: int = 5
    keep_output: bool = False
    strict_receivers: bool = False
    say: Callable[[str], None] = print


@dataclass(slots=True)
class Case:
    """One scenario at one size.

    Attributes:
        scenario: ``S1`` ... ``S8``.
        label: the size or variant, e.g. ``1M``.
        clicks: clicks in the simulator.
        reps: collector runs.
        page_size: the source's ``page_size``.
        upstream: simulator latency and quota.
        target: builds the delivery target for each rep.
        command: collector argv after the executable; ``{config}`` is replaced.
        source: extra keys of the ``[sources.bench]`` table.
        timeout_secs: the longest one collector run may take before it is killed.
        floor: measure the floor for this case.
        naive: run the naive baseline after each collector rep, on the same simulator.
    """

    scenario: str
    label: str
    clicks: int
    reps: int
    page_size: int = 500
    upstream: Upstream = field(default_factory=Upstream)
    target: Callable[[], Target] = FileTarget
    command: tuple[str, ...] = ("once", "-c", "{config}")
    source: dict[str, Any] = field(default_factory=dict)
    timeout_secs: float = 600.0
    floor: bool = True
    naive: bool = False


def run_rep(
    ctx: Context, case: Case, spec: DataSpec, rep_dir: Path, truth: Counter[int]
) -> dict[str, Any]:
    """One collector run against a fresh simulator; returns the rep's measurements."""
    sim, facts = start_simulator(ctx.python, ctx.pinning, spec, case.upstream, rep_dir)
    target = case.target()
    naive: dict[str, Any] | None = None
    try:
        try:
            target.start(rep_dir, ctx.python, ctx.pinning)
            config = write_config(rep_dir, facts, case, target.sink_table())
            argv = [ctx.python, "-m", "collector"]
            argv += [part.replace("{config}", str(config)) for part in case.command]
            sim_cpu, rx_cpu = sim.cpu_secs(), target.cpu_secs()
            collector = Child(
                "collector",
                argv,
                cpu=ctx.pinning.collector_cpu,
                pinning=ctx.pinning,
                stderr=rep_dir / "collector.log",
            )
            ended = collector.wait(case.timeout_secs)
            sim_cpu, rx_cpu = sim.cpu_secs() - sim_cpu, target.cpu_secs() - rx_cpu
        finally:
            target.stop()
        if case.naive:
            ctx.say(f"{case.scenario} {case.label}: naive baseline on the same simulator")
            naive = run_naive(
                ctx.python, ctx.pinning, facts, spec, case.page_size, rep_dir, truth,
                case.timeout_secs, ctx.keep_output,
            )  # fmt: skip
    finally:
        sim_stats = stop_simulator(sim)
    found = measurements(ctx, rep_dir, ended, sim_stats, target, truth, (sim_cpu, rx_cpu))
    if naive is not None:
        # The simulator counts every request it served; the loop's are not the collector's.
        found["requests"] -= naive["requests"]
        found["naive"] = naive
    return found


def measurements(
    ctx: Context,
    rep_dir: Path,
    ended: Exit,
    sim_stats: dict[str, Any],
    target: Target,
    truth: Counter[int],
    helper_cpu: tuple[float, float],
) -> dict[str, Any]:
    """Check the delivery and gather one rep's figures (then drop its output files)."""
    log = parse_log(rep_dir / "collector.log")
    verdict = verify(target.lines(), truth)
    if not ctx.keep_output:
        shutil.rmtree(rep_dir / "out", ignore_errors=True)
    requests = int(sim_stats.get("requests", {}).get("/api/ttp/url/get-logs", 0))
    return {
        "returncode": ended.returncode,
        "timed_out": ended.timed_out,
        "wall_secs": round(ended.wall_secs, 3),
        "busy_secs": round(log.busy_secs(), 3),
        "events": log.events,
        "pages": log.pages,
        "cycles": log.cycles,
        "cpu_secs": round(ended.cpu_secs, 3),
        "user_secs": round(ended.user_secs, 3),
        "sys_secs": round(ended.sys_secs, 3),
        "peak_rss_kib": ended.peak_rss_kib,
        "ru_maxrss_kib": ended.ru_maxrss_kib,
        "requests": requests,
        "rate_limited": int(sim_stats.get("rate_limited", 0)),
        "rate_limited_retries": log.rate_limited_retries,
        "wait_secs": round(log.rate_limited_wait_secs, 3),
        "other_retries": log.other_retries,
        "sim_cpu_secs": round(helper_cpu[0], 3),
        "receiver_cpu_secs": round(helper_cpu[1], 3),
        "sim_internal_errors": int(sim_stats.get("internal_errors", 0)),
        "verdict": asdict(verdict),
        "first_error": log.first_error or (log.non_json[0] if log.non_json else None),
    }


def write_config(rep_dir: Path, facts: dict[str, str], case: Case, sink: dict[str, Any]) -> Path:
    """Write the collector's TOML config for one rep and return its path."""
    source: dict[str, Any] = {
        "type": "mimecast_ttp_url",
        "base_url": facts["base_url"],
        "client_id": facts["client_id"],
        "client_secret": facts["client_secret"],
        # Everything the simulator holds lies within the 30-day retention.
        "initial_lookback_secs": 30 * 86_400,
        "lag_secs": 60,
        "page_size": case.page_size,
        "retry_max_secs": 900,
        **case.source,
    }
    text = f"state_dir = {_toml(str(rep_dir / 'state'))}\n"
    text += '\n[log]\nlevel = "info"\nformat = "json"\n'
    text += "\n[sources.bench]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in source.items())
    text += "\n[sinks.bench]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in sink.items())
    path = rep_dir / "collector.toml"
    path.write_text(text)
    return path


def _toml(value: Any) -> str:
    # JSON strings, numbers, booleans and flat lists are valid TOML values.
    return orjson.dumps(value).decode()


def prepare_case(ctx: Context, spec: DataSpec, case: Case, case_dir: Path) -> dict[str, Any]:
    """Regenerate the case's clicks in a helper process: truth digests and pages file."""
    argv = [ctx.python, "-m", "bench.floor", "prepare", "--clicks", str(spec.clicks)]
    argv += ["--seed", str(spec.seed), "--start", str(spec.start), "--end", str(spec.end)]
    argv += ["--page-size", str(case.page_size), "--truth", str(case_dir / "truth.bin")]
    argv += ["--pages", str(case_dir / "pages.bin")] + (["--rich"] if spec.rich else [])
    return _json_child(ctx, "floor-prepare", argv, ctx.pinning.helper_cpu, case_dir, 1800.0)


def floor_passes(ctx: Context, pages: Path, out_dir: Path, reps: int) -> list[dict[str, Any]]:
    argv = [ctx.python, "-m", "bench.floor", "measure", "--pages", str(pages)]
    argv += ["--reps", str(reps), "--dir", str(out_dir)]
    result = _json_child(ctx, "floor", argv, ctx.pinning.collector_cpu, out_dir.parent, 1800.0)
    reps_done: list[dict[str, Any]] = result["reps"]
    return reps_done


def _json_child(
    ctx: Context, name: str, argv: list[str], cpu: int | None, log_dir: Path, timeout: float
) -> dict[str, Any]:
    """Run a harness helper to completion and parse the JSON line it prints."""
    child = Child(
        name,
        argv,
        cpu=cpu,
        pinning=ctx.pinning,
        stderr=log_dir / f"{name}.log",
        capture_stdout=True,
    )
    started = time.monotonic()
    try:
        lines = child.read_until("{", timeout=timeout)
    except (TimeoutError, RuntimeError):
        child.stop(signal.SIGTERM, grace=10.0)
        raise
    ended = child.wait(max(10.0, timeout - (time.monotonic() - started)))
    if ended.returncode != 0:
        raise RuntimeError(f"{name} failed ({ended.returncode}); see {log_dir / name}.log")
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result
