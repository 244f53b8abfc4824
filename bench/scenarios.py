"""Scenarios S1 to S8 of issue 4: what each runs, and when it cannot run yet.

A scenario that needs a feature the collector does not have yet is *listed* with the
status "not available yet" and the reason; it is never faked. Each one turns on by
itself when its feature lands:

- S2 to S4: when the sink type is registered and its receiver can start
  (:mod:`bench.receivers`);
- S7: when ``mimecast-collector backfill --help`` succeeds.

S1 to S4 (:data:`DRAINS`) are judged against each other, so when several are chosen
they run as one step, rep by rep in turn (:func:`steps`, :func:`drains`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench import goals
from bench.cases import run_case, run_interleaved
from bench.freshness import measure as measure_freshness
from bench.idle import run_idle
from bench.receivers import SINK_BENCHES, registered_sink, sink_bench_status
from bench.runner import Case, Context
from bench.summary import correct, summarize
from bench.upstream import Upstream
from collector.events import format_iso

Row = dict[str, Any]

TITLES = {
    "S1": "file sink, no API latency (CPU-bound)",
    "S2": "Splunk HEC sink",
    "S3": "syslog over TCP (rsyslogd)",
    "S4": "Elasticsearch bulk sink",
    "S5": "flat memory: peak RSS by backlog size",
    "S6": "250 ms per page + quota (429s), file sink",
    "S7": "30-day catch-up with 1, 2, 4, 8 slices",
    "S8": "idle daemon, polling every 60 s",
    "S9": "freshness at the defaults: live clicks, late ones, idle polling",
}
ALL = tuple(TITLES)
DEFAULT_REPS = {"S1": 3, "S2": 3, "S3": 3, "S4": 3, "S5": 1, "S6": 1, "S7": 1, "S8": 1, "S9": 1}


@dataclass(frozen=True, slots=True)
class Options:
    """Scenario sizes and knobs, from the command line."""

    clicks: int = 1_000_000
    reps: int | None = None
    s5_sizes: tuple[int, ...] = (100_000, 1_000_000, 5_000_000)
    s6_clicks: int = 150_000
    s6_quota: str = "10/3.6"
    s6_latency_ms: float = 250.0
    s6_sink_latency_ms: float = 100.0
    s7_clicks: int = 200_000
    idle_secs: float = 300.0
    live_secs: float = 300.0

    def reps_for(self, scenario: str) -> int:
        """``--reps`` if given, else the scenario's default."""
        return self.reps if self.reps is not None else DEFAULT_REPS[scenario]


def size_label(clicks: int) -> str:
    """1000000 -> ``1M``, 20000 -> ``20k``."""
    if clicks >= 1_000_000 and clicks % 100_000 == 0:
        return f"{clicks / 1_000_000:g}M"
    return f"{clicks / 1000:g}k" if clicks >= 1000 else str(clicks)


def drain_timeout(clicks: int, floor_rate: float = 5_000.0) -> float:
    """Kill a drain that runs slower than ``floor_rate`` events/s (plus two minutes)."""
    return 120.0 + clicks / floor_rate


def measured(case: Case, ctx: Context, baseline_cpu: float | None, **params: Any) -> Row:
    """Run ``case`` and make its report row."""
    raw = run_case(ctx, case)
    return _row(case, raw, baseline_cpu, params)


def _row(
    case: Case, raw: dict[str, Any], baseline_cpu: float | None, params: dict[str, Any]
) -> Row:
    summary = summarize(raw, baseline_cpu)
    return {
        "scenario": case.scenario,
        "case": case.label,
        "title": TITLES[case.scenario],
        "status": "ok" if correct(summary) else "incorrect",
        "reason": None if correct(summary) else "; ".join(summary["errors"]) or "see runs",
        "params": {"clicks": case.clicks, "page_size": case.page_size, "reps": case.reps, **params},
        "summary": summary,
        "raw": raw,
    }


def unavailable(scenario: str, reason: str, case: str = "-") -> Row:
    """A row for a scenario that cannot run yet."""
    return {
        "scenario": scenario,
        "case": case,
        "title": TITLES[scenario],
        "status": "not available yet",
        "reason": reason,
        "params": {},
    }


DRAINS = ("S1", "S2", "S3", "S4")
"""The drains judged against each other: chosen together, they run rep by rep in turn."""


@dataclass(frozen=True, slots=True)
class Drain:
    """S1 to S4 as planned: its case and report parameters, or why it cannot run."""

    scenario: str
    case: Case | None = None
    params: dict[str, Any] | None = None
    reason: str | None = None


def plan_drain(scenario: str, ctx: Context, opts: Options) -> Drain:
    """S1 (file sink, no latency: the CPU-bound drain), or S2 to S4: the same drain into
    a network sink and its loopback receiver."""
    case = Case(scenario, size_label(opts.clicks), opts.clicks, opts.reps_for(scenario))
    case.timeout_secs = drain_timeout(opts.clicks)
    case.naive = True  # the loop writes a file: the baseline a SOC script gives
    if scenario == "S1":
        return Drain(scenario, case, {})
    bench = SINK_BENCHES[scenario]
    reason = sink_bench_status(bench)
    if reason is not None:
        return Drain(scenario, reason=reason)
    case.target = partial(bench.target, strict=ctx.strict_receivers)
    receiver = f"{bench.receiver} ({'strict emulator' if ctx.strict_receivers else 'lean'})"
    return Drain(scenario, case, {"sink": registered_sink(bench), "receiver": receiver})


def drains(
    ctx: Context, opts: Options, base: float | None, scenarios: Sequence[str]
) -> tuple[list[Row], list[goals.Goal]]:
    """Run the chosen drains' reps in turn (:func:`bench.cases.run_interleaved`)."""
    plans = [plan_drain(scenario, ctx, opts) for scenario in scenarios]
    raws = iter(run_interleaved(ctx, [plan.case for plan in plans if plan.case is not None]))
    rows: list[Row] = []
    judged: list[goals.Goal] = []
    for plan in plans:
        if plan.case is None:
            row = unavailable(plan.scenario, plan.reason or "not available")
        else:
            row = _row(plan.case, next(raws), base, plan.params or {})
        rows.append(row)
        if plan.scenario == "S1":
            judged += goals.s1_goals(row)
        else:
            minimum = SINK_BENCHES[plan.scenario].goal_ratio
            judged.append(goals.sink_goal(plan.scenario, row, minimum))
    return rows, judged


def s5(ctx: Context, opts: Options, base: float | None) -> tuple[list[Row], list[goals.Goal]]:
    """Peak RSS of the same drain at growing backlogs."""
    rows = []
    for clicks in opts.s5_sizes:
        case = Case("S5", size_label(clicks), clicks, opts.reps_for("S5"))
        case.timeout_secs = drain_timeout(clicks)
        rows.append(measured(case, ctx, base))
    return rows, [goals.s5_goal(rows)]


def s6(ctx: Context, opts: Options, base: float | None) -> tuple[list[Row], list[goals.Goal]]:
    """Realistic upstream: 250 ms per page and a quota that answers 429."""
    upstream = Upstream(opts.s6_latency_ms, opts.s6_quota)
    case = Case(
        "S6", size_label(opts.s6_clicks), opts.s6_clicks, opts.reps_for("S6"), upstream=upstream
    )
    params = {
        "api_latency_ms": opts.s6_latency_ms,
        "quota": opts.s6_quota,
        # The goal's formula uses the 100 ms sink latency; the file sink has no
        # latency knob, so none is applied until a network sink's receiver can add it.
        "sink_latency_ms": opts.s6_sink_latency_ms,
        "sink_latency_applied_ms": 0,
    }
    ideal = goals.s6_ideal({"page_size": case.page_size, **params})
    case.timeout_secs = 300.0 + 3 * opts.s6_clicks / ideal
    row = measured(case, ctx, base, **params, ideal_events_per_sec=round(ideal, 1))
    return [row], goals.s6_goals(row)


def backfill_available(ctx: Context) -> bool:
    """True once the collector has a ``backfill`` command."""
    probe = [ctx.python, "-m", "collector", "backfill", "--help"]
    done = subprocess.run(probe, capture_output=True, timeout=60, check=False)
    return done.returncode == 0


def s7(ctx: Context, opts: Options, base: float | None) -> tuple[list[Row], list[goals.Goal]]:
    """Catch-up with N time slices (``backfill --parallel N``) at 250 ms per page.

    N = 1, 2, 4, 8 without a quota (the speed-up), then 8 slices under the S6 quota.
    """
    if not backfill_available(ctx):
        reason = "no `mimecast-collector backfill` command (parallel catch-up, issue 4 part 4)"
        return [unavailable("S7", reason)], goals.s7_goals([])
    rows = []
    start, end = (format_iso(t) for t in ctx.span)

    def backfill(n: int) -> tuple[str, ...]:
        return ("backfill", "-c", "{config}", "--source", "bench", "--from", start, "--to", end,
                "--parallel", str(n))  # fmt: skip

    for n in (1, 2, 4, 8):
        case = Case("S7", f"{n} slices", opts.s7_clicks, opts.reps_for("S7"), command=backfill(n))
        case.upstream = Upstream(opts.s6_latency_ms)
        case.timeout_secs = 300.0 + 3 * opts.s7_clicks / (case.page_size / 0.25)
        rows.append(measured(case, ctx, base, parallel=n, api_latency_ms=opts.s6_latency_ms))
    # Once the quota binds, 8 slices must run at exactly its rate, without 429s.
    clicks = opts.s6_clicks
    case = Case("S7", "8 slices, quota", clicks, opts.reps_for("S7"), command=backfill(8))
    case.upstream = Upstream(opts.s6_latency_ms, opts.s6_quota)
    params = {"page_size": case.page_size, "quota": opts.s6_quota, "sink_latency_ms": 0}
    quota_rate = goals.s6_ideal({**params, "api_latency_ms": 0})
    case.timeout_secs = 300.0 + 3 * clicks / quota_rate
    rows.append(measured(case, ctx, base, parallel=8, quota=opts.s6_quota, quota_rate=quota_rate))
    return rows, goals.s7_goals(rows)


def s8(ctx: Context, opts: Options, base: float | None) -> tuple[list[Row], list[goals.Goal]]:
    """The daemon idle: ``run`` with a 60 s interval and no new clicks."""
    case = Case("S8", f"{opts.idle_secs:g}s idle", 1_000, 1, source={"interval_secs": 60})
    raw = run_idle(ctx, case, opts.idle_secs)
    row = _row(case, raw, base, {"idle_secs": opts.idle_secs, "interval_secs": 60})
    return [row], [goals.s8_goal(row)]


def s9(ctx: Context, opts: Options, base: float | None) -> tuple[list[Row], list[goals.Goal]]:
    """Freshness at the defaults (issue 14): see :mod:`bench.freshness`."""
    found = measure_freshness(
        ctx.python, ctx.workdir / "S9", live_secs=opts.live_secs, idle_secs=opts.idle_secs
    )
    one = found["after_live"]
    correct_ = one["missing"] == 0 and one["doubled"] == 0 and one["returncode"] == 0
    row = {
        "scenario": "S9",
        "case": f"{opts.live_secs:g}s live, {opts.idle_secs:g}s idle",
        "title": TITLES["S9"],
        "status": "ok" if correct_ else "incorrect",
        "reason": None if correct_ else f"{one['missing']} missing, {one['doubled']} doubled",
        "params": found["live"],
        "freshness": found,
    }
    return [row], goals.s9_goals(found)


# S1 to S4 run through :func:`drains` (see :func:`run_step`).
RUNNERS: dict[
    str, Callable[[Context, Options, float | None], tuple[list[Row], list[goals.Goal]]]
] = {
    "S5": s5,
    "S6": s6,
    "S7": s7,
    "S8": s8,
    "S9": s9,
}


def steps(chosen: Sequence[str]) -> list[tuple[str, ...]]:
    """The chosen scenarios in order, the drains among them as one step where the first is."""
    together = tuple(name for name in chosen if name in DRAINS)
    out: list[tuple[str, ...]] = []
    for name in chosen:
        if name not in DRAINS:
            out.append((name,))
        elif name == together[0]:
            out.append(together)
    return out


def run_step(
    step: tuple[str, ...], ctx: Context, opts: Options, base: float | None
) -> tuple[list[Row], list[goals.Goal]]:
    """One step of :func:`steps`: the drains in turn, or another scenario alone."""
    if step[0] in DRAINS:
        return drains(ctx, opts, base, step)
    return RUNNERS[step[0]](ctx, opts, base)
