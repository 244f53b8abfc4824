"""S1 to S4 chosen together run as one step, rep by rep in turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import cases
from bench.procs import Pinning
from bench.runner import Case, Context
from bench.scenarios import steps


def test_the_drains_chosen_form_one_step_where_the_first_one_is() -> None:
    assert steps(["S5", "S1", "S6", "S4", "S2"]) == [("S5",), ("S1", "S4", "S2"), ("S6",)]
    assert steps(["S3"]) == [("S3",)]
    assert steps(["S8", "S9"]) == [("S8",), ("S9",)]


def test_reps_run_in_turn_and_each_case_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []

    def start(ctx: Context, case: Case) -> cases.CaseRun:
        return cases.CaseRun(case, tmp_path, None, {}, None)  # type: ignore[arg-type]

    def rep(ctx: Context, run: cases.CaseRun) -> None:
        order.append(f"{run.case.scenario}#{len(run.runs) + 1}")
        run.runs.append({"rep": len(run.runs) + 1})

    def finish(ctx: Context, run: cases.CaseRun) -> dict[str, Any]:
        return {"scenario": run.case.scenario, "runs": run.runs}

    monkeypatch.setattr(cases, "start_case", start)
    monkeypatch.setattr(cases, "next_rep", rep)
    monkeypatch.setattr(cases, "finish_case", finish)
    ctx = Context(workdir=tmp_path, pinning=Pinning(None, None, "none"), python="", span=(0, 1))
    found = cases.run_interleaved(ctx, [Case("S1", "1k", 1, 3), Case("S2", "1k", 1, 2)])
    assert order == ["S1#1", "S2#1", "S1#2", "S2#2", "S1#3"]
    assert [(raw["scenario"], len(raw["runs"])) for raw in found] == [("S1", 3), ("S2", 2)]
