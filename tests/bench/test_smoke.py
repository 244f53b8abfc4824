"""CI smoke of the benchmark harness: ``python -m bench --smoke`` end to end.

It runs the real collector against the simulator (20k clicks, S1 only, one rep) and
asserts on correctness and on the shape of the report only, never on time: CI
machines are too noisy for that, and the harness reports goals, it does not enforce
them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
SUMMARY_FIELDS = (
    "events_per_sec",
    "events_per_sec_wall",
    "floor_events_per_sec",
    "ratio_to_floor",
    "cpu_s_per_100k",
    "cpu_s_per_100k_net",
    "floor_cpu_s_per_100k",
    "cpu_ratio_to_floor",
    "peak_rss_mib",
    "requests",
    "rate_limited",
    "wait_secs",
    "sim_cpu_share",
    "delivered",
    "expected",
    "missing",
    "duplicated",
    "unexpected",
    "ratio_to_naive",
    "naive",
)
NAIVE_FIELDS = ("events_per_sec", "cpu_s_per_100k", "peak_rss_mib", "read", "expected", "ok")


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the smoke once for every test of this module."""
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "bench", "--smoke", "--quiet", "--out", str(out)]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the harness then stops its own children by PID.
        process.terminate()
        process.communicate(timeout=60)
        pytest.fail("python -m bench --smoke took more than 120 s")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), out


def _report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = orjson.loads((out / "results.json").read_bytes())
    return report


@pytest.mark.slow
def test_smoke_delivers_every_click_exactly_once(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = smoke
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = _report(out)["rows"]
    assert (row["scenario"], row["case"], row["status"]) == ("S1", "20k", "ok")
    summary = row["summary"]
    assert summary["expected"] == summary["delivered"] == 20_000
    assert summary["missing"] == 0
    assert summary["duplicated"] == 0
    assert summary["unexpected"] == 0
    assert summary["all_exited_ok"] is True


@pytest.mark.slow
def test_smoke_report_has_the_promised_fields(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = smoke
    assert done.returncode == 0, done.stderr[-3000:]
    report = _report(out)
    for key in ("machine", "versions", "pinning", "load", "baseline", "rows", "goals"):
        assert key in report
    summary = report["rows"][0]["summary"]
    for field in SUMMARY_FIELDS:
        assert field in summary, field
    # Present and positive; how large is for the benchmark to say, not for CI.
    assert summary["events_per_sec"]["median"] > 0
    assert summary["floor_events_per_sec"]["median"] > 0
    assert summary["ratio_to_floor"] > 0
    assert summary["peak_rss_mib"]["max"] > 0
    assert summary["requests"] >= 40  # 20k clicks at page size 500, and any re-reads
    run = report["rows"][0]["raw"]["runs"][0]
    assert run["returncode"] == 0
    assert {goal["goal"] for goal in report["goals"]} >= {"throughput / floor"}
    table = (out / "results.md").read_text()
    assert "| S1 | 20k |" in table
    assert table.strip() in done.stdout


@pytest.mark.slow
def test_smoke_includes_the_naive_baseline_on_realistic_clicks(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = smoke
    assert done.returncode == 0, done.stderr[-3000:]
    report = _report(out)
    # Realistic API 2.0 clicks by default (issue 13), every documented field present.
    assert report["data_span"]["rich"] is True
    prepared = report["rows"][0]["raw"]["prepare"]
    assert {"tagMap", "emailPartsDescription", "advancedPhishingResult"} <= set(prepared["fields"])
    assert len(prepared["fields"]) >= 19
    summary = report["rows"][0]["summary"]
    naive = summary["naive"]
    for field in NAIVE_FIELDS:
        assert field in naive, field
    # It read every click the simulator served, exactly once, in its one rep.
    assert naive["ok"] is True
    assert naive["read"] == naive["expected"] == 20_000
    assert naive["missing"] == naive["extra"] == 0
    assert report["rows"][0]["raw"]["runs"][0]["naive"]["returncode"] == 0
    # Shape only: a positive ratio, never a time goal.
    assert isinstance(summary["ratio_to_naive"], float) and summary["ratio_to_naive"] > 0
    assert naive["events_per_sec"]["median"] > 0
    assert naive["cpu_s_per_100k"]["median"] > 0
    assert naive["peak_rss_mib"]["max"] > 0
    targets = {(t["scenario"], t["goal"]) for t in report["targets_issue13"]}
    assert ("S1", "once, whole process, / naive loop") in targets
    table = (out / "results.md").read_text()
    assert "| S1 | 20k | " in table.split("Naive baseline")[1]
    assert "target (issue 13)" in table
