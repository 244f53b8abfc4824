"""The naive baseline (issue 13): it reads the same simulator's pages, it is checked
against the truth like any delivery, and a loop that read nothing fails its case.

Real processes only: a ``mimecast-collector simulate`` on 127.0.0.1 and the naive loop
as ``python -m bench.naive loop``, both started the way the harness starts them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.cli import build_parser
from bench.floor import click_shape
from bench.naive_run import run_naive
from bench.procs import Child, Pinning, stop_all
from bench.summary import correct, summarize, summarize_naive
from bench.truth import DataSpec, load_truth, write_truth
from bench.upstream import Upstream, start_simulator, stop_simulator
from collector.simulator import ClickDataset

REPO = Path(__file__).resolve().parents[2]
T0 = 1_731_000_000
SPEC = DataSpec(1_200, seed=3, start=T0, end=T0 + 86_400, rich=True)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[Child, dict[str, str]]]:
    """A real simulator serving SPEC's clicks, stopped by PID afterwards."""
    sim, facts = start_simulator(sys.executable, Pinning.plan(), SPEC, Upstream(), tmp_path)
    try:
        yield sim, facts
    finally:
        stop_simulator(sim)
        stop_all()


def _truth(tmp_path: Path, spec: DataSpec) -> Any:
    dataset = ClickDataset.generate(
        spec.clicks, start=spec.start, end=spec.end, seed=spec.seed, rich=spec.rich
    )
    blobs = dataset.select(
        start=spec.start, stop=spec.end + 1, route="all", scan_result="all", snapshot=2e9
    )
    write_truth(blobs, tmp_path / "truth.bin")
    return load_truth(tmp_path / "truth.bin")


def test_naive_loop_reads_every_click_of_the_same_simulator_exactly_once(
    simulator: tuple[Child, dict[str, str]], tmp_path: Path
) -> None:
    _, facts = simulator
    truth = _truth(tmp_path, SPEC)
    run = run_naive(sys.executable, Pinning.plan(), facts, SPEC, 500, tmp_path, truth, 60.0)
    assert run["returncode"] == 0
    assert run["verdict"]["delivered"] == run["verdict"]["expected"] == 1_200
    assert run["verdict"]["missing"] == run["verdict"]["duplicated"] == 0
    assert run["clicks_reported"] == 1_200
    assert run["requests"] == 3  # 500 + 500 + 200, the last page without `next`
    assert run["wall_secs"] > 0 and run["cpu_secs"] > 0 and run["peak_rss_kib"]
    assert not (tmp_path / "naive.ndjson").exists()  # checked, then removed
    naive = summarize_naive([run])
    assert naive is not None and naive["ok"] is True and naive["read"] == 1_200


def test_a_naive_loop_that_read_nothing_fails_the_case(
    simulator: tuple[Child, dict[str, str]], tmp_path: Path
) -> None:
    _, facts = simulator
    truth = _truth(tmp_path, SPEC)
    # A span a year before every click: the loop gets one empty page and exits 0.
    elsewhere = DataSpec(SPEC.clicks, SPEC.seed, T0 - 400 * 86_400, T0 - 399 * 86_400)
    run = run_naive(sys.executable, Pinning.plan(), facts, elsewhere, 500, tmp_path, truth, 60.0)
    assert run["returncode"] == 0
    assert run["verdict"]["delivered"] == 0
    naive = summarize_naive([run])
    assert naive is not None
    assert naive["ok"] is False
    assert naive["errors"] == [
        "naive baseline rep 1 read 0 of 1,200 clicks (1,200 missing, 0 extra)"
    ]
    summary = summarize({"runs": [_collector_run(naive_run=run)]}, None)
    assert summary["ratio_to_naive"] is None  # no flattering ratio from an empty read
    assert correct(summary) is False
    assert naive["errors"][0] in summary["errors"]


def _collector_run(naive_run: dict[str, Any]) -> dict[str, Any]:
    """A collector rep that delivered all 1,200 clicks correctly in 1 s."""
    verdict = {"expected": 1_200, "delivered": 1_200, "missing": 0, "duplicated": 0}
    return {
        "verdict": {**verdict, "unexpected": 0, "malformed": 0},
        "returncode": 0, "timed_out": False, "events": 1_200, "busy_secs": 0.5,
        "wall_secs": 1.0, "cpu_secs": 0.9, "requests": 3, "rate_limited": 0,
        "wait_secs": 0.0, "peak_rss_kib": 60_000, "sim_cpu_secs": 0.01,
        "receiver_cpu_secs": 0.0, "first_error": None, "naive": naive_run,
    }  # fmt: skip


def test_ratio_to_naive_is_whole_process_rate_over_whole_process_rate() -> None:
    verdict = {"expected": 1_200, "delivered": 1_200, "missing": 0, "duplicated": 0}
    naive_run = {
        "returncode": 0, "timed_out": False, "wall_secs": 0.5, "cpu_secs": 0.4,
        "peak_rss_kib": 30_000, "clicks_reported": 1_200, "requests": 3,
        "verdict": {**verdict, "unexpected": 0, "malformed": 0},
    }  # fmt: skip
    summary = summarize({"runs": [_collector_run(naive_run)]}, None)
    assert correct(summary) is True
    # Collector: 1,200 clicks in a 1 s process; naive: in a 0.5 s process.
    assert summary["ratio_to_naive"] == 0.5
    assert summary["naive"]["events_per_sec"]["median"] == 2_400
    assert summary["naive"]["cpu_s_per_100k"]["median"] == pytest.approx(33.333, abs=1e-3)


def test_realistic_clicks_are_the_default_and_v1_fields_the_option() -> None:
    parser = build_parser()
    assert parser.parse_args([]).v1_fields is False
    assert parser.parse_args(["--v1-fields"]).v1_fields is True
    # The old switch is still accepted (a no-op now), so old commands keep working.
    assert parser.parse_args(["--rich"]).v1_fields is False
    with pytest.raises(SystemExit) as usage:
        parser.parse_args(["--reps", "0"])
    assert usage.value.code == 2


def test_realistic_clicks_carry_every_documented_field() -> None:
    dataset = ClickDataset.generate(5_000, start=T0, end=T0 + 3600, seed=1, rich=True)
    blobs = dataset.select(start=T0, stop=T0 + 3601, route="all", scan_result="all", snapshot=2e9)
    shape = click_shape(blobs)
    fields = shape["fields"]
    assert isinstance(fields, dict)
    v1 = {"category", "userEmailAddress", "url", "userAwarenessAction", "route", "adminOverride",
          "date", "scanResult", "action", "ttpDefinition", "userOverride", "emailPartsDescription"}  # fmt: skip
    observed = {"fromUserEmailAddress", "subject", "sendingIp", "messageId", "actions",
                "creationMethod", "tagMap", "advancedPhishingResult"}  # fmt: skip
    assert set(fields) == v1 | observed  # mimecast-api.md section 2, documented and observed
    assert all(fields[name] == 1.0 for name in v1 | observed - {"tagMap", "advancedPhishingResult"})
    assert 0 < fields["tagMap"] < 1


@pytest.mark.slow
def test_compare_is_the_harness_s1_case_with_its_naive_baseline(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.naive", "compare", "--clicks", "3000", "--reps", "1"]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = orjson.loads(done.stdout)
    assert result["correct"] is True and result["rich"] is True
    assert result["naive"]["read"] == result["naive"]["expected"] == 3_000
    assert result["ratio_to_naive"] > 0
    assert result["collector"]["peak_rss_mib"]["max"] > 0
