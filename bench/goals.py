"""The goals of issue 4 and the targets of issue 13, judged on a run's summaries.
Every goal is a ratio or a count measured in the same run, so results stay comparable
across machines.

A goal is ``met`` True or False when its scenario ran, None ("n/a") when it did not.
Goals are reported, never enforced: timing does not decide the exit code.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
Goal = dict[str, Any]

S1_MIN_RATIO = 0.40
S1_MAX_CPU_RATIO = 3.0
S1_MAX_RSS_MIB = 64.0
S5_MAX_GROWTH_MIB = 8.0
S6_MIN_SHARE = 0.95
S6_MAX_429_PCT = 1.0
S7_MIN_EFFICIENCY = 0.9
S8_MAX_CPU_PCT = 0.5
S9_MAX_P99_SECS = 30.0

# Issue 13, "Hot path": ratios within one run, on realistic API 2.0 clicks.
I13_S1_MIN_RATIO_TO_NAIVE = 2.0
I13_S1_MAX_CPU_RATIO = 3.0
I13_S1_MAX_RSS_MIB = 56.0
I13_SINK_MIN_RATIO_TO_FILE = 0.8
I13_S5_MAX_GROWTH_MIB = 8.0

_SIGNS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


def goal(scenario: str, name: str, sign: str, bound: float, measured: float | None) -> Goal:
    """One line of the goals table: ``measured <sign> bound``, or n/a without a figure."""
    met = None if measured is None else _SIGNS[sign](measured, bound)
    return {
        "scenario": scenario,
        "goal": name,
        "target": f"{sign} {bound:g}",
        "measured": measured,
        "met": met,
    }


def ran(row: Row | None) -> bool:
    """True when the scenario ran far enough to have a summary (correct or not)."""
    return row is not None and "summary" in row


def figure(row: Row | None, key: str, pick: str = "median") -> float | None:
    """A summary figure of ``row`` (the ``pick`` of a spread), or None."""
    if row is None or "summary" not in row:
        return None
    value = row["summary"].get(key)
    if isinstance(value, dict):
        value = value[pick]
    return None if value is None else float(value)


def s1_goals(row: Row | None) -> list[Goal]:
    """Throughput, CPU and memory of S1 against the floor."""
    return [
        goal("S1", "throughput / floor", ">=", S1_MIN_RATIO, figure(row, "ratio_to_floor")),
        goal("S1", "CPU-s per 100k / floor", "<=", S1_MAX_CPU_RATIO,
             figure(row, "cpu_ratio_to_floor")),
        goal("S1", "peak RSS (MiB)", "<=", S1_MAX_RSS_MIB, figure(row, "peak_rss_mib", "max")),
    ]  # fmt: skip


def sink_goal(scenario: str, row: Row | None, minimum: float) -> Goal:
    """S2 to S4: throughput as a share of the floor."""
    return goal(scenario, "throughput / floor", ">=", minimum, figure(row, "ratio_to_floor"))


def s5_goal(rows: list[Row], bound: float = S5_MAX_GROWTH_MIB) -> Goal:
    """Flat memory: the largest backlog's peak RSS minus the smallest's."""
    done = [row for row in rows if figure(row, "peak_rss_mib", "max") is not None]
    if len(done) < 2:
        return goal("S5", "RSS(largest) - RSS(smallest) (MiB)", "<=", bound, None)
    small = min(done, key=lambda row: int(row["params"]["clicks"]))
    large = max(done, key=lambda row: int(row["params"]["clicks"]))
    peaks = [figure(row, "peak_rss_mib", "max") or 0.0 for row in (large, small)]
    name = f"RSS({large['case']}) - RSS({small['case']}) (MiB)"
    return goal("S5", name, "<=", bound, round(peaks[0] - peaks[1], 1))


def s6_ideal(params: dict[str, Any]) -> float:
    """min(quota x page size, page size / max(API latency, sink latency)) in events/s."""
    page = float(params["page_size"])
    latency = max(float(params["api_latency_ms"]), float(params["sink_latency_ms"])) / 1000
    limit, _, period = str(params["quota"]).partition("/")
    by_quota = int(limit) / float(period) * page
    return min(by_quota, page / latency) if latency > 0 else by_quota


def s6_goals(row: Row | None) -> list[Goal]:
    """Realistic upstream: near the API's ceiling, few 429s, nothing lost or doubled."""
    rate = figure(row, "events_per_sec")
    share, name = None, "events/s / ideal"
    if rate is not None and row is not None:
        ideal = s6_ideal(row["params"])
        share, name = round(rate / ideal, 3), f"events/s / ideal ({ideal:.0f} ev/s)"
    lost = None
    if ran(row) and row is not None:
        lost = float(sum(row["summary"][key] for key in ("missing", "duplicated", "unexpected")))
    return [
        goal("S6", name, ">=", S6_MIN_SHARE, share),
        goal("S6", "429s % of requests", "<=", S6_MAX_429_PCT, figure(row, "rate_limited_pct")),
        goal("S6", "missing + duplicated", "==", 0, lost),
    ]


def s7_goals(rows: list[Row]) -> list[Goal]:
    """Catch-up: speed-up >= 0.9 x N for N slices, against the 1-slice run; at the
    quota's rate, without 429s, once the quota binds."""
    free = [row for row in rows if "quota" not in row["params"]]
    by_n = {row["params"].get("parallel"): row for row in free if ran(row)}
    base = figure(by_n.get(1), "events_per_sec")
    out = []
    for n in (2, 4, 8):
        rate = figure(by_n.get(n), "events_per_sec")
        speedup = round(rate / base, 2) if rate and base else None
        out.append(goal("S7", f"speed-up with {n} slices", ">=", S7_MIN_EFFICIENCY * n, speedup))
    bound = next((row for row in rows if "quota" in row["params"]), None)
    rate, share, name = figure(bound, "events_per_sec"), None, "events/s / quota rate"
    if rate is not None and bound is not None:
        quota_rate = float(bound["params"]["quota_rate"])
        share, name = round(rate / quota_rate, 3), f"{name} ({quota_rate:.0f} ev/s, 8 slices)"
    out.append(goal("S7", name, ">=", S6_MIN_SHARE, share))
    limited = figure(bound, "rate_limited_pct")
    out.append(goal("S7", "429s % of requests (quota bound)", "<=", S6_MAX_429_PCT, limited))
    return out


def s8_goal(row: Row | None) -> Goal:
    """Idle polling costs almost nothing."""
    pct = None
    if ran(row) and row is not None:
        pct = row["raw"]["runs"][0]["idle_cpu_pct"]
    return goal("S8", "average CPU % of one core", "<", S8_MAX_CPU_PCT, pct)


def s9_goals(found: dict[str, Any]) -> list[Goal]:
    """Issue 14: p99 from publication to acknowledgement, nothing lost, idle polling."""
    live, one, three = found["after_live"], found["one"], found["three"]
    return [
        goal("S9", "p99 publication to sink, s", "<=", S9_MAX_P99_SECS, live["p99_secs"]),
        goal("S9", "missing + doubled clicks", "==", 0, live["missing"] + live["doubled"]),
        goal(
            "S9",
            "idle requests/h, 1 source",
            "<=",
            one["idle_budget_per_hour"],
            one["idle_requests_per_hour"],
        ),
        goal(
            "S9",
            "idle requests/h, 3 sources",
            "<=",
            three["idle_budget_per_hour"],
            three["idle_requests_per_hour"],
        ),
    ]


def issue13_goals(rows: list[Row]) -> list[Goal]:
    """The target table of issue 13, from every row of the run.

    S2 to S4 are judged against S1 (the file sink) of the same run, so they are n/a
    when S1 did not run; the ratio uses the median drain rates (``events_per_sec``).

    Each is also given corrected for the VM's drift, which changes its speed by a third
    within an hour: S1 to S4 run rep by rep in turn (:func:`bench.cases.run_interleaved`),
    but a rep still lasts long enough to drift. Every scenario runs the same naive loop
    right after each collector rep, so each one's ``ratio_to_naive`` over S1's compares
    the two sinks at the speed of their own minutes.
    """
    by_scenario: dict[str, list[Row]] = {}
    for row in rows:
        by_scenario.setdefault(row["scenario"], []).append(row)
    s1 = _first(by_scenario, "S1")
    out = [
        goal("S1", "once, whole process, / naive loop", ">=", I13_S1_MIN_RATIO_TO_NAIVE,
             figure(s1, "ratio_to_naive")),
        goal("S1", "CPU-s per 100k / floor", "<=", I13_S1_MAX_CPU_RATIO,
             figure(s1, "cpu_ratio_to_floor")),
        goal("S1", "peak RSS, max of reps (MiB)", "<=", I13_S1_MAX_RSS_MIB,
             figure(s1, "peak_rss_mib", "max")),
    ]  # fmt: skip
    for scenario in ("S2", "S3", "S4"):
        sink = _first(by_scenario, scenario)
        for key, what in (
            ("events_per_sec", "events/s / S1 file sink"),
            ("ratio_to_naive", "the same, each over its own naive loop"),
        ):
            share = _share(figure(sink, key), figure(s1, key))
            out.append(goal(scenario, what, ">=", I13_SINK_MIN_RATIO_TO_FILE, share))
    out.append(s5_goal(by_scenario.get("S5", []), I13_S5_MAX_GROWTH_MIB))
    return out


def _share(part: float | None, whole: float | None) -> float | None:
    return round(part / whole, 3) if part is not None and whole else None


def _first(by_scenario: dict[str, list[Row]], scenario: str) -> Row | None:
    found = by_scenario.get(scenario)
    return found[0] if found else None
