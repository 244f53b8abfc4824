"""``simulate --start-epoch/--end-epoch``: data that another process can regenerate.

The benchmark harness recomputes the simulator's truth in its own process from
(count, span, seed, field set); that only works when the span does not depend on the
moment the simulator started.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import httpx
import pytest

from collector.events import format_mimecast_date
from collector.simulator import ClickDataset
from collector.simulator.cli import add_arguments, data_span

from .helpers import canon, read_facts

T0 = 1_731_000_000


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_span_defaults_to_the_last_days_before_now() -> None:
    assert data_span(_parse(), now=T0) == (T0 - 7 * 86_400, T0)
    assert data_span(_parse("--days", "1"), now=T0) == (T0 - 86_400, T0)


def test_span_from_epochs_ignores_now() -> None:
    args = _parse("--start-epoch", str(T0), "--end-epoch", str(T0 + 600))
    assert data_span(args, now=T0 + 10**6) == (T0, T0 + 600)
    # Only the end given: --days counts back from it.
    assert data_span(_parse("--end-epoch", str(T0), "--days", "2"), now=0) == (T0 - 172_800, T0)


def test_span_that_ends_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match="after the end"):
        data_span(_parse("--start-epoch", str(T0 + 1), "--end-epoch", str(T0)), now=T0)


def test_bad_span_exits_2_without_serving() -> None:
    command = [sys.executable, "-m", "collector.simulator", "--port", "0"]
    command += ["--start-epoch", str(T0 + 1), "--end-epoch", str(T0)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "usage error" in done.stderr
    assert "ready" not in done.stdout


def test_served_clicks_are_the_dataset_regenerated_from_the_same_arguments() -> None:
    start, end = T0, T0 + 3_600
    command = [sys.executable, "-m", "collector.simulator", "--port", "0", "--clicks", "700"]
    command += ["--seed", "3", "--v1-fields", "--start-epoch", str(start), "--end-epoch", str(end)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        facts = read_facts(process.stdout)
        assert (facts["from"], facts["to"]) == ("2024-11-07T17:20:00Z", "2024-11-07T18:20:00Z")
        served = _drain(facts, start, end)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0
    expected = ClickDataset.generate(700, start=start, end=end, seed=3, rich=False).truth()
    assert canon(served) == canon(expected)
    assert all(len(click) == 12 for click in served)  # --v1-fields: the documented fields


def _drain(facts: dict[str, str], start: int, end: int) -> list[dict[str, object]]:
    base = facts["base_url"]
    token = httpx.post(
        f"{base}/oauth/token",
        data={
            "client_id": facts["client_id"],
            "client_secret": facts["client_secret"],
            "grant_type": "client_credentials",
        },
    ).json()["access_token"]
    item = {"from": format_mimecast_date(start), "to": format_mimecast_date(end)}
    pagination: dict[str, object] = {"pageSize": 500}
    clicks: list[dict[str, object]] = []
    while True:
        body = {"meta": {"pagination": pagination}, "data": [item]}
        page = httpx.post(
            f"{base}/api/ttp/url/get-logs", json=body, headers={"Authorization": f"Bearer {token}"}
        ).json()
        clicks += page["data"][0]["clickLogs"] if page["data"] else []
        next_token = page["meta"]["pagination"].get("next")
        if next_token is None:
            return clicks
        pagination = {"pageSize": 500, "pageToken": next_token}
