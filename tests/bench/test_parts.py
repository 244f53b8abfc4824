"""Unit tests of the harness's own parts: the truth check, the floor's pages, log parsing."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import orjson

from bench.floor import measure, page_chunks, read_pages, write_pages
from bench.logs import parse_log
from bench.rsyslog import RsyslogTarget
from bench.summary import spread
from bench.truth import digest, load_truth, verify, write_truth
from collector.simulator import ClickDataset

T0 = 1_731_000_000


def _blobs(count: int) -> list[bytes]:
    dataset = ClickDataset.generate(count, start=T0, end=T0 + 3600, seed=5, rich=False)
    return dataset.select(start=T0, stop=T0 + 3601, route="all", scan_result="all", snapshot=2e9)


def test_digest_ignores_key_order_spacing_and_envelope() -> None:
    click = {"url": "https://x.example/a", "date": "2024-11-07T17:20:00+0000", "n": 1}
    same = b'{ "n": 1, "date": "2024-11-07T17:20:00+0000", "url": "https://x.example/a" }\n'
    envelope = orjson.dumps({"event_id": "abc-0", "source": "s", "time": "t", "log": click})
    assert digest(orjson.dumps(click)) == digest(same) == digest(envelope)
    assert digest(orjson.dumps(click)) != digest(orjson.dumps({**click, "n": 2}))


def test_verify_counts_a_multiset(tmp_path: Path) -> None:
    a, b, c = (orjson.dumps({"n": n}) for n in range(3))
    write_truth([a, a, b], tmp_path / "truth.bin")
    truth = load_truth(tmp_path / "truth.bin")
    assert truth.total() == 3
    exact = verify([a + b"\n", b, a, b""], truth)
    assert (exact.delivered, exact.correct) == (3, True)
    # One copy of a missing, b twice, c never expected, one line not JSON.
    wrong = verify([a, b, b, c, b"{oops"], truth)
    assert (wrong.missing, wrong.duplicated, wrong.unexpected, wrong.malformed) == (1, 1, 1, 1)
    assert truth == Counter(truth)  # verify did not consume the truth


def test_floor_pages_hold_exactly_the_clicks_in_the_simulator_envelope(tmp_path: Path) -> None:
    blobs = _blobs(1234)
    pages = [page for chunk in page_chunks(blobs, 500, 1e9) for page in chunk]
    assert len(pages) == 3
    parsed = [orjson.loads(page) for page in pages]
    assert [p["meta"]["pagination"]["pageSize"] for p in parsed] == [500, 500, 234]
    assert "next" in parsed[0]["meta"]["pagination"]
    assert "next" not in parsed[-1]["meta"]["pagination"]
    assert all(p["fail"] == [] for p in parsed)
    clicks = [orjson.dumps(c) for p in parsed for c in p["data"][0]["clickLogs"]]
    assert clicks == blobs
    assert write_pages(blobs, 500, tmp_path / "pages.bin") == 3
    read_back = [page for chunk in read_pages(tmp_path / "pages.bin") for page in chunk]
    # Same pages; only the snapshot time inside the page tokens differs.
    assert [orjson.loads(page)["data"] for page in read_back] == [p["data"] for p in parsed]


def test_floor_measure_writes_every_event_then_removes_its_file(tmp_path: Path) -> None:
    write_pages(_blobs(1500), 500, tmp_path / "pages.bin")
    result = measure(tmp_path / "pages.bin", tmp_path / "floor.ndjson")
    assert result["events"] == 1500
    assert result["events_per_sec"] > 0
    assert not (tmp_path / "floor.ndjson").exists()
    assert os.listdir(tmp_path) == ["pages.bin"]


def test_parse_log_counts_pages_cycles_and_429_waits(tmp_path: Path) -> None:
    lines = [
        {"event": "page_delivered", "level": "info", "events": 500},
        {
            "event": "retrying",
            "level": "warning",
            "wait_secs": 0.4,
            "error_type": "RateLimitedError",
        },
        {
            "event": "retrying",
            "level": "warning",
            "wait_secs": 1.0,
            "error_type": "TransientSourceError",
        },
        {"event": "page_delivered", "level": "info", "events": 10},
        {
            "event": "cycle_finished",
            "level": "info",
            "events": 510,
            "duration_secs": 2.5,
            "caught_up": True,
        },
        {
            "event": "cycle_finished",
            "level": "info",
            "events": 0,
            "duration_secs": 0.1,
            "caught_up": True,
        },
    ]
    log = tmp_path / "collector.log"
    log.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines) + b"error: boom\n")
    summary = parse_log(log)
    assert (summary.pages, summary.events, summary.cycles) == (2, 510, 2)
    assert summary.busy_secs() == 2.5  # the idle cycle does not count
    assert (summary.rate_limited_retries, summary.rate_limited_wait_secs) == (1, 0.4)
    assert (summary.other_retries, summary.other_wait_secs) == (1, 1.0)
    assert summary.non_json == ["error: boom"]


def test_spread_is_median_min_max() -> None:
    assert spread([3.0, 1.0, None, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    assert spread([]) is None


def test_rsyslog_lines_are_the_records_as_served(tmp_path: Path) -> None:
    click = orjson.dumps({"url": "https://x.example/a", "subject": "Grüße"})
    target = RsyslogTarget(lambda host, port: {})
    target.out = tmp_path / "received.msg"
    # The syslog sink's json payload adds its kind as the last key; a BOM may lead.
    target.out.write_bytes(
        b"\xef\xbb\xbf" + click[:-1] + b',"mimecast":{"kind":"url"}}\n' + click + b"\n"
    )
    assert [digest(line) for line in target.lines()] == [digest(click)] * 2
