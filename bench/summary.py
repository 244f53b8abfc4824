"""From the raw reps of a case to the figures the report shows.

Rates are medians over reps with min and max. Ratios divide the collector's median by
the floor's median from the same case (same pages, same CPU, interleaved in time).

Two definitions matter:

- **events/s** is events delivered divided by the time the collector spent in cycles
  that delivered something (``cycle_finished.duration_secs``): the drain rate, without
  interpreter start-up. ``events_per_sec_wall`` divides by the whole process lifetime.
- **CPU-s per 100k** is the collector's own user+sys time from ``wait4``, *start-up
  included* (the conservative figure the goals are judged on). ``cpu_s_per_100k_net``
  subtracts the CPU of a run with no clicks at all (the baseline).
- **ratio_to_naive** is the collector's whole-process rate (``events_per_sec_wall``)
  over the naive loop's (its clicks over its whole process lifetime): both include
  interpreter start-up, as a user timing ``once`` from a timer sees it (issue 13).
  ``naive`` holds the loop's own events/s, CPU-s per 100k and peak RSS, and what it
  read against the truth.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

Spread = dict[str, float]
"""``{"median", "min", "max"}`` of a figure over reps."""


def spread(values: Iterable[float | None], digits: int = 4) -> Spread | None:
    """Median, min and max of ``values``; None when there are none."""
    data = [value for value in values if value is not None]
    if not data:
        return None
    return {
        "median": round(statistics.median(data), digits),
        "min": round(min(data), digits),
        "max": round(max(data), digits),
    }


def ratio(numerator: Spread | None, denominator: Spread | None) -> float | None:
    """Median over median, or None when either is missing or zero."""
    if not numerator or not denominator or not denominator["median"]:
        return None
    return round(numerator["median"] / denominator["median"], 3)


def _per_100k(secs: float, events: int) -> float | None:
    return secs / events * 100_000 if events else None


def summarize(raw: dict[str, Any], baseline_cpu: float | None) -> dict[str, Any]:
    """Summarize one case's raw results (see :func:`bench.cases.run_case`)."""
    runs: list[dict[str, Any]] = raw["runs"]
    floor: list[dict[str, Any]] = raw.get("floor", [])
    delivered = [run["verdict"]["delivered"] for run in runs]
    ok = [run["returncode"] == 0 and not run["timed_out"] for run in runs]
    rate = spread(run["events"] / run["busy_secs"] for run in runs if run["busy_secs"] > 0)
    wall = spread(run["events"] / run["wall_secs"] for run in runs if run["events"])
    cpu = spread(_per_100k(run["cpu_secs"], run["events"]) for run in runs)
    net = None
    if baseline_cpu is not None:
        net = spread(_per_100k(run["cpu_secs"] - baseline_cpu, run["events"]) for run in runs)
    floor_rate = spread(rep["events_per_sec"] for rep in floor)
    floor_cpu = spread(rep["cpu_s_per_100k"] for rep in floor)
    requests = [run["requests"] for run in runs]
    limited = [run["rate_limited"] for run in runs]
    naive = summarize_naive([run["naive"] for run in runs if "naive" in run])
    return {
        "reps": len(runs),
        "events_per_sec": rate,
        "events_per_sec_wall": wall,
        "floor_events_per_sec": floor_rate,
        "ratio_to_floor": ratio(rate, floor_rate),
        "ratio_to_naive": ratio(wall, naive["events_per_sec"]) if naive and naive["ok"] else None,
        "naive": naive,
        "cpu_s_per_100k": cpu,
        "cpu_s_per_100k_net": net,
        "floor_cpu_s_per_100k": floor_cpu,
        "cpu_ratio_to_floor": ratio(cpu, floor_cpu),
        "cpu_ratio_to_floor_net": ratio(net, floor_cpu),
        "peak_rss_mib": spread((_mib(run["peak_rss_kib"]) for run in runs), digits=1),
        "requests": statistics.median(requests) if requests else None,
        "rate_limited": statistics.median(limited) if limited else None,
        "rate_limited_pct": _pct(sum(limited), sum(requests)),
        "wait_secs": spread((run["wait_secs"] for run in runs), digits=2),
        "sim_cpu_share": _share(runs, "sim_cpu_secs"),
        "receiver_cpu_share": _share(runs, "receiver_cpu_secs"),
        "delivered": min(delivered) if delivered else 0,
        "expected": runs[0]["verdict"]["expected"] if runs else 0,
        "missing": max((run["verdict"]["missing"] for run in runs), default=0),
        "duplicated": max((run["verdict"]["duplicated"] for run in runs), default=0),
        "unexpected": max((run["verdict"]["unexpected"] for run in runs), default=0),
        "malformed": max((run["verdict"]["malformed"] for run in runs), default=0),
        "idle_cpu_pct": spread((run.get("idle_cpu_pct") for run in runs), digits=4),
        "all_exited_ok": all(ok),
        "errors": [run["first_error"] for run in runs if run["first_error"]][:3]
        + (naive["errors"] if naive else []),
    }


def summarize_naive(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The naive loop's figures over reps (see :mod:`bench.naive_run`); None if it never ran.

    ``ok`` is False when any rep failed or did not read every click exactly once; the
    case is then incorrect and no ratio is given.
    """
    if not runs:
        return None
    verdicts = [run["verdict"] for run in runs]
    problems = [
        f"naive baseline rep {index} exited {run['returncode']}"
        + (" (timed out)" if run["timed_out"] else "")
        for index, run in enumerate(runs, 1)
        if run["returncode"] != 0 or run["timed_out"]
    ]
    problems += [
        f"naive baseline rep {index} read {v['delivered']:,} of {v['expected']:,} clicks "
        f"({v['missing']:,} missing, {v['duplicated'] + v['unexpected']:,} extra)"
        for index, v in enumerate(verdicts, 1)
        if v["delivered"] != v["expected"] or v["missing"] or v["duplicated"] or v["unexpected"]
    ]
    return {
        "reps": len(runs),
        "events_per_sec": spread(
            run["verdict"]["delivered"] / run["wall_secs"] for run in runs if run["wall_secs"]
        ),
        "cpu_s_per_100k": spread(
            _per_100k(run["cpu_secs"], run["verdict"]["delivered"]) for run in runs
        ),
        "peak_rss_mib": spread((_mib(run["peak_rss_kib"]) for run in runs), digits=1),
        "requests": statistics.median(run["requests"] for run in runs),
        "read": min(v["delivered"] for v in verdicts),
        "expected": verdicts[0]["expected"],
        "missing": max(v["missing"] for v in verdicts),
        "extra": max(v["duplicated"] + v["unexpected"] + v["malformed"] for v in verdicts),
        "ok": not problems,
        "errors": problems[:3],
    }


def _share(runs: list[dict[str, Any]], key: str) -> Spread | None:
    """A helper's CPU seconds over the collector's, per rep."""
    return spread((run[key] / run["cpu_secs"] for run in runs if run["cpu_secs"]), digits=3)


def _mib(kib: int | None) -> float | None:
    return None if kib is None else kib / 1024


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 3) if whole else None


def correct(summary: dict[str, Any]) -> bool:
    """Every rep exited 0 and delivered every click exactly once, nothing else; and the
    naive baseline, when the case has one, read every click exactly once too."""
    bad = ("missing", "duplicated", "unexpected", "malformed")
    naive = summary.get("naive")
    if naive is not None and not naive["ok"]:
        return False
    return bool(summary.get("all_exited_ok")) and not any(summary.get(key) for key in bad)
