"""``python -m bench.quirks``: every quirk of the simulator's matrix, one `once` each.

For each quirk (docs/simulator.md) the real pipeline drains a backlog from a
simulator showing that quirk, over 127.0.0.1, in four catch-up slices, into a file
sink, and the run is checked against the simulator's truth as multisets. The report
is a Markdown table: outcome, missing, duplicated, requests, 429s, and requests that
crossed a 429 gate. Quirks that cannot be read to the end (pages that repeat forever,
a 27-hour Reset) must fail with a clear error and deliver nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from collector.app import Collector
from collector.config import parse_config
from collector.daemon import run_once
from collector.logging import configure_logging
from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig
from collector.simulator.faults import QuotaConfig

# A 429 without a usable Reset holds the gate for at least half the first backoff.
LEAST_BACKOFF_SECS = 0.5
IN_FLIGHT_SLACK_SECS = 0.1


@dataclass(frozen=True)
class Quirk:
    """One row of the matrix: simulator settings, faults by rate, and what must happen."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, float] = field(default_factory=dict)
    must_fail: bool = False


MATRIX = (
    Quirk("none (baseline)"),
    Quirk("empty last page, same token", {"empty_page": "same_token"}),
    Quirk("empty pages, fresh token each", {"empty_page": "fresh_token"}),
    Quirk("empty page, next + pageSize 0", {"empty_page": "size0_next"}),
    Quirk("page tokens expire after 0.05 s", {"page_token_ttl_secs": 0.05, "latency_secs": 0.02}),
    Quirk("totalCount 0", {"total_count": "zero"}),
    Quirk("totalCount doubled", {"total_count": "double"}),
    Quirk("`to` exclusive", {"to_inclusive": False}),
    Quirk("429 with Reset (15%)", faults={"rate_limit": 0.15}),
    Quirk("429 without Reset (15%)", faults={"rate_limit_no_reset": 0.15}),
    Quirk('429 {"detail"} body (15%)', faults={"rate_limit_detail": 0.15}),
    Quirk("429 while Remaining is high (15%)", faults={"rate_limit_burst": 0.15}),
    Quirk("429 with Reset 0 (15%)", faults={"rate_limit_zero_reset": 0.15}),
    Quirk("429 with Reset -5 (15%)", faults={"rate_limit_negative_reset": 0.15}),
    Quirk("429 with Reset nan (15%)", faults={"rate_limit_nan_reset": 0.15}),
    Quirk("quota 20/2 s (leaky bucket)", {"quota": QuotaConfig(20, 2.0)}),
    Quirk("X-RateLimit-* missing on every 2nd answer", {"ratelimit_headers_missing_every": 2}),
    Quirk("tokens cycle A→B→A", {"page_cycle": "previous"}),
    Quirk("tokens cycle back to the first page", {"page_cycle": "first"}),
    Quirk(
        "200 with Remaining 0, Reset 27.8 h (15%)",
        faults={"quota_exhausted_huge_reset": 0.15},
        must_fail=True,
    ),
    Quirk("same clicks forever, fresh tokens", {"endless_from_page": 2}, must_fail=True),
)


def canon(record: Any) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


async def run_quirk(quirk: Quirk, clicks: int, seed: int, workdir: Path) -> dict[str, Any]:
    now = int(time.time())
    dataset = ClickDataset.generate(clicks, start=now - 8 * 3600, end=now - 30, seed=seed)
    truth = Counter(canon(click) for click in dataset.truth())
    out = workdir / "out.ndjson"
    config = SimulatorConfig(seed=seed, **quirk.config)
    started = time.monotonic()
    async with Simulator(config, dataset, FaultPlan(seed=seed, rates=quirk.faults)) as sim:
        document = {
            "state_dir": str(workdir / "state"),
            "log": {"level": "error", "format": "json"},
            "sources": {
                "clicks": {
                    "type": "mimecast_ttp_url",
                    "base_url": sim.base_url,
                    "client_id": config.client_id,
                    "client_secret": config.client_secret,
                    "initial_lookback_secs": 9 * 3600,
                    "lag_secs": 0,
                    "page_size": 100,
                    "catchup_slice_secs": 3600,
                    "catchup_parallel": 4,
                    "retry_max_secs": 30,
                }
            },
            "sinks": {"out": {"type": "file", "path": str(out)}},
        }
        async with Collector(parse_config(document)) as collector:
            results = await run_once(collector, asyncio.Event())
        violations = sim.stats.gate_violations(
            slack_secs=IN_FLIGHT_SLACK_SECS, assumed_wait_secs=LEAST_BACKOFF_SECS
        )
        requests = len(sim.stats.arrivals)
        throttles = len(sim.stats.throttles)
    written = (
        Counter(canon(orjson.loads(line)) for line in out.read_bytes().splitlines())
        if (out.exists())
        else Counter()
    )
    error = results["clicks"]
    return {
        "quirk": quirk.name,
        "outcome": "ok" if error is None else f"failed: {str(error)[:90]}",
        "expected": "clear error" if quirk.must_fail else "ok",
        "missing": sum((truth - written).values()),
        "duplicated": sum((written - truth).values()),
        "requests": requests,
        "429s": throttles,
        "gate_crossings": len(violations),
        "secs": round(time.monotonic() - started, 1),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| quirk | outcome | missing | duplicated | requests | 429s | gate crossings | s |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['quirk']} | {row['outcome']} | {row['missing']} | {row['duplicated']} | "
            f"{row['requests']} | {row['429s']} | {row['gate_crossings']} | {row['secs']} |"
        )
    return "\n".join(lines)


async def main(clicks: int, seed: int) -> int:
    configure_logging(level="error")
    rows = []
    for quirk in MATRIX:
        with tempfile.TemporaryDirectory() as workdir:
            rows.append(await run_quirk(quirk, clicks, seed, Path(workdir)))
    print(markdown(rows))
    bad = [
        row
        for row in rows
        if row["duplicated"]
        or row["gate_crossings"]
        or (row["missing"] and row["expected"] == "ok")
        or (row["outcome"] == "ok") != (row["expected"] == "ok")
    ]
    return 1 if bad else 0


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quirks", description=__doc__)
    parser.add_argument("--clicks", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    return asyncio.run(main(args.clicks, args.seed))


if __name__ == "__main__":
    raise SystemExit(cli())
