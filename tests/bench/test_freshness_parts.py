"""The freshness scenario's arithmetic: matching lines to publications, percentiles."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.freshness import Tail, freshness, percentile
from bench.tables import freshness_line


def test_freshness_matches_copies_in_publication_order_and_counts_losses() -> None:
    a, b, c = {"date": "a"}, {"date": "b"}, {"date": "c"}
    truth = [(100.0, a), (101.0, a), (102.0, b), (103.0, c)]
    seen = [(110.0, orjson.dumps(a)), (104.0, orjson.dumps(b)), (111.0, orjson.dumps(a))]
    seen.append((112.0, orjson.dumps({"date": "stray"})))
    found = freshness(truth, seen)
    # a: 10 s and 10 s (first copy to first publication); b: 2 s; c never arrived.
    assert found == {
        "clicks": 4,
        "missing": 1,
        "doubled": 1,
        "p50_secs": 10.0,
        "p95_secs": 10.0,
        "p99_secs": 10.0,
        "max_secs": 10.0,
    }


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (50, 95, 99)] == [50.0, 95.0, 99.0]
    assert percentile([], 50) is None


def test_tail_reads_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    tail = Tail(path)
    tail.poll()
    path.write_bytes(b'{"x":1}\n{"x":')
    tail.poll()
    with path.open("ab") as file:
        file.write(b"2}\n")
    tail.poll()
    assert [line for _, line in tail.seen] == [b'{"x":1}', b'{"x":2}']


def test_the_report_line_shows_the_figures() -> None:
    one = {
        "p50_secs": 7.4,
        "p95_secs": 11.1,
        "p99_secs": 11.7,
        "live_requests_per_hour": 480,
        "idle_requests_per_hour": 480.0,
        "idle_budget_per_hour": 500.0,
        "clicks": 600,
        "missing": 0,
        "doubled": 0,
    }
    three = {"idle_requests_per_hour": 480.0}
    row = {"status": "ok", "freshness": {"after_live": one, "one": one, "three": three}}
    line = freshness_line("S9 | 300s", row)
    assert "p99 11.7 s" in line and "480 (3 sources)" in line and line.endswith("| ok |")
    assert line.count("|") == 18  # the 17 columns of the results table
