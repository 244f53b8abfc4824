"""Running benchmark cases rep by rep, alone or in turn with the cases they are compared to.

:func:`run_case` runs one case's reps back to back. :func:`run_interleaved` runs rep 1
of every case, then rep 2 of every case, and so on: S1 to S4 are judged against each
other, and run one after the other they would see a VM whose speed drifts by a third
within the hour at different minutes. One rep is :func:`bench.runner.run_rep`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runner import Case, Context, floor_passes, prepare_case, run_rep
from bench.truth import DataSpec, load_truth


@dataclass(slots=True)
class CaseRun:
    """One case in progress: its clicks prepared, its reps run one at a time."""

    case: Case
    case_dir: Path
    spec: DataSpec
    prepared: dict[str, Any]
    truth: Counter[int]
    floor_reps: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)


def run_case(ctx: Context, case: Case) -> dict[str, Any]:
    """Run every rep of ``case``; return its raw results (see :mod:`bench.summary`)."""
    return run_interleaved(ctx, [case])[0]


def run_interleaved(ctx: Context, cases: list[Case]) -> list[dict[str, Any]]:
    """Run the cases' reps in turn (rep 1 of each, then rep 2 of each, ...).

    Cases compared with each other (S2 to S4 against S1) then see the machine at the
    same minutes: run one after the other, a VM's drift lands between them.
    """
    runs = [start_case(ctx, case) for case in cases]
    for rep in range(max((case.reps for case in cases), default=0)):
        for run in runs:
            if rep < run.case.reps:
                next_rep(ctx, run)
    return [finish_case(ctx, run) for run in runs]


def start_case(ctx: Context, case: Case) -> CaseRun:
    """Regenerate the case's clicks (truth and pages) in its own directory."""
    case_dir = ctx.workdir / f"{case.scenario}-{case.label}"
    case_dir.mkdir(parents=True, exist_ok=True)
    spec = DataSpec(case.clicks, ctx.seed, ctx.span[0], ctx.span[1], ctx.rich)
    ctx.say(f"{case.scenario} {case.label}: generating {case.clicks:,} clicks (truth, pages)")
    prepared = prepare_case(ctx, spec, case, case_dir)
    return CaseRun(case, case_dir, spec, prepared, load_truth(case_dir / "truth.bin"))


def next_rep(ctx: Context, run: CaseRun) -> None:
    """The case's next rep: its share of the floor's passes, then the collector."""
    case, rep = run.case, len(run.runs) + 1
    rep_dir = run.case_dir / f"rep{rep}"
    (rep_dir / "out").mkdir(parents=True, exist_ok=True)
    per_rep = math.ceil(ctx.floor_reps / case.reps) if case.floor and case.clicks else 0
    if per_rep:
        run.floor_reps += floor_passes(ctx, run.case_dir / "pages.bin", rep_dir / "out", per_rep)
    ctx.say(f"{case.scenario} {case.label}: collector rep {rep}/{case.reps}")
    run.runs.append(run_rep(ctx, case, run.spec, rep_dir, run.truth))


def finish_case(ctx: Context, run: CaseRun) -> dict[str, Any]:
    """Drop the case's bulky files; return its raw results."""
    if not ctx.keep_output:
        for name in ("pages.bin", "truth.bin"):
            (run.case_dir / name).unlink(missing_ok=True)
    return {"data": run.spec.as_dict(), "prepare": run.prepared, "floor": run.floor_reps,
            "runs": run.runs}  # fmt: skip
