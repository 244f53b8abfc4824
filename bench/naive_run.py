"""The naive baseline inside a case: the same simulator, the same pages, the same CPU.

After the collector's run in a rep, while that rep's simulator still serves the same
pages, the harness starts ``python -m bench.naive loop`` as a whole process pinned to
the collector's CPU, asks it for the whole data span, and times it like the collector
(wall clock from start to reaping, CPU from ``wait4``, peak RSS from ``VmHWM``). Then it
checks the loop's output against the truth like any delivery: a loop that silently read
nothing, or read some pages twice, fails the case instead of giving a flattering ratio.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from bench.procs import Child, Exit, Pinning
from bench.truth import DataSpec, read_lines, verify

_MIMECAST_DATE = "%Y-%m-%dT%H:%M:%S+0000"


def mimecast_date(epoch: int) -> str:
    """Epoch seconds as Mimecast's sample code sends them (``2024-11-17T17:02:30+0000``)."""
    return time.strftime(_MIMECAST_DATE, time.gmtime(epoch))


def naive_argv(
    python: str, facts: dict[str, str], spec: DataSpec, page_size: int, out: Path
) -> list[str]:
    """The loop's command line: every click of ``spec`` (``to`` one second past the last)."""
    span = [mimecast_date(spec.start), mimecast_date(spec.end + 1)]
    credentials = [facts["client_id"], facts["client_secret"]]
    return [
        python, "-m", "bench.naive", "loop", facts["base_url"], *credentials, *span, str(out),
        "--page-size", str(page_size),
    ]  # fmt: skip


def run_naive(
    python: str,
    pinning: Pinning,
    facts: dict[str, str],
    spec: DataSpec,
    page_size: int,
    rep_dir: Path,
    truth: Counter[int],
    timeout_secs: float,
    keep_output: bool = False,
) -> dict[str, Any]:
    """Run and time the naive loop once against the running simulator ``facts`` names."""
    out = rep_dir / "naive.ndjson"
    child = Child(
        "naive",
        naive_argv(python, facts, spec, page_size, out),
        cpu=pinning.collector_cpu,
        pinning=pinning,
        stderr=rep_dir / "naive.log",
        capture_stdout=True,
    )
    reported: dict[str, Any] = {}
    try:
        line = child.read_until("{", timeout=timeout_secs)[-1]
        reported = orjson.loads(line)
    except (TimeoutError, RuntimeError, orjson.JSONDecodeError):
        child.stop(signal.SIGTERM, grace=10.0)
    ended = child.wait(timeout_secs)
    verdict = verify(read_lines([out]) if out.exists() else iter(()), truth)
    if not keep_output:
        out.unlink(missing_ok=True)
    return _figures(ended, reported, asdict(verdict))


def _figures(ended: Exit, reported: dict[str, Any], verdict: dict[str, int]) -> dict[str, Any]:
    return {
        "returncode": ended.returncode,
        "timed_out": ended.timed_out,
        "wall_secs": round(ended.wall_secs, 3),
        "cpu_secs": round(ended.cpu_secs, 3),
        "peak_rss_kib": ended.peak_rss_kib,
        "clicks_reported": int(reported.get("clicks", 0)),
        "requests": int(reported.get("requests", 0)),
        "verdict": verdict,
    }
