"""The report's markdown tables: one line per case, per goal, per naive baseline.

Kept apart from :mod:`bench.report` (machine, versions, load and the page around the
tables) so each stays small.
"""

from __future__ import annotations

from typing import Any


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0 and abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,.{digits}f}"


def _spread(cell: dict[str, float] | None, digits: int = 0) -> str:
    if not cell:
        return "-"
    median, low, high = (_num(cell[k], digits) for k in ("median", "min", "max"))
    return median if low == high else f"{median} [{low}{DASH}{high}]"


DASH = "\u2013"  # an en dash reads better than a minus sign in ranges

RESULT_HEADER = (
    f"| scenario | case | events/s median [min{DASH}max] | floor events/s | ratio to floor "
    "| CPU-s/100k (net of start-up) | floor CPU-s/100k | CPU ratio (net) | peak RSS MiB "
    "| requests | 429s (% of requests) | 429 wait s | delivered / expected | missing | dup "
    "| CPU share sim / receiver (of collector's) | status |"
)


def result_line(row: dict[str, Any]) -> str:
    """One markdown table row for a scenario case."""
    name = f"{row['scenario']} | {row['case']}"
    if "freshness" in row:
        return freshness_line(name, row)
    if "summary" not in row:
        reason = row.get("reason") or ""
        return f"| {name} |" + " - |" * 14 + f" {row['status']}: {reason} |"
    s = row["summary"]
    cpu = f"{_spread(s['cpu_s_per_100k'], 3)} ({_num(_med(s['cpu_s_per_100k_net']), 3)})"
    cpu_ratio = f"{_num(s['cpu_ratio_to_floor'], 2)} ({_num(s['cpu_ratio_to_floor_net'], 2)})"
    limited = f"{_num(s['rate_limited'])} ({_num(s['rate_limited_pct'], 1)}%)"
    rate = _spread(s["events_per_sec"])
    if s.get("idle_cpu_pct"):
        # S8: the figure is the idle CPU, not the drain of its small backlog; CPU per
        # 100k clicks means nothing for a process that mostly waited.
        rate = f"idle: {_spread(s['idle_cpu_pct'], 3)}% CPU (drain {rate} ev/s)"
        cpu = cpu_ratio = "n/a (idle)"
    cells = [
        rate,
        _spread(s["floor_events_per_sec"]),
        _num(s["ratio_to_floor"], 2),
        cpu,
        _spread(s["floor_cpu_s_per_100k"], 3),
        cpu_ratio,
        _spread(s["peak_rss_mib"], 1),
        _num(s["requests"]),
        limited,
        _spread(s["wait_secs"], 1),
        f"{s['delivered']:,} / {s['expected']:,}",
        str(s["missing"]),
        str(s["duplicated"] + s["unexpected"]),
        f"{_spread(s['sim_cpu_share'], 2)} / {_spread(s['receiver_cpu_share'], 2)}",
        row["status"] + (f": {row['reason']}" if row.get("reason") else ""),
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def freshness_line(name: str, row: dict[str, Any]) -> str:
    """S9's row: its figures are latencies and request rates, not a drain's."""
    found = row["freshness"]
    one, live, three = found["one"], found["after_live"], found["three"]
    figures = (
        f"publication to sink p50 {_num(live['p50_secs'], 1)} s, p95 "
        f"{_num(live['p95_secs'], 1)} s, p99 {_num(live['p99_secs'], 1)} s; live "
        f"{_num(live['live_requests_per_hour'])} requests/h; idle "
        f"{_num(one['idle_requests_per_hour'])} requests/h (1 source), "
        f"{_num(three['idle_requests_per_hour'])} (3 sources), budget "
        f"{_num(one['idle_budget_per_hour'])}"
    )
    delivered = live["clicks"] - live["missing"]
    cells = [figures] + ["-"] * 9 + [f"{delivered:,} / {live['clicks']:,}"]
    cells += [str(live["missing"]), str(live["doubled"]), "-", row["status"]]
    return f"| {name} | " + " | ".join(cells) + " |"


NAIVE_HEADER = (
    "| scenario | case | collector events/s, whole process | naive events/s | ratio to naive "
    "| ratio to floor | CPU-s/100k collector / naive | peak RSS MiB collector / naive "
    "| naive read / served |"
)


def naive_line(row: dict[str, Any]) -> str | None:
    """A case's naive baseline row, or None when the case has none."""
    s = row.get("summary") or {}
    naive = s.get("naive")
    if not naive:
        return None
    cells = [
        _spread(s["events_per_sec_wall"]),
        _spread(naive["events_per_sec"]),
        _num(s["ratio_to_naive"], 2) if naive["ok"] else "- (" + "; ".join(naive["errors"]) + ")",
        _num(s["ratio_to_floor"], 2),
        f"{_spread(s['cpu_s_per_100k'], 3)} / {_spread(naive['cpu_s_per_100k'], 3)}",
        f"{_spread(s['peak_rss_mib'], 1)} / {_spread(naive['peak_rss_mib'], 1)}",
        f"{naive['read']:,} / {naive['expected']:,}",
    ]
    return f"| {row['scenario']} | {row['case']} | " + " | ".join(cells) + " |"


def clicks_line(report: dict[str, Any]) -> str:
    """Which click shape was measured, from the first case's generated data."""
    rich = report.get("data_span", {}).get("rich")
    shape = "realistic API 2.0 clicks" if rich else "the 12 documented v1 fields (--v1-fields)"
    prepared = next(
        (r["raw"]["prepare"] for r in report["rows"] if "raw" in r and r["raw"].get("prepare")),
        None,
    )
    if not prepared or "fields" not in prepared:
        return f"- Clicks: {shape}"
    fields: dict[str, float] = prepared["fields"]
    some = ", ".join(f"{name} {share:.0%}" for name, share in fields.items() if share < 1)
    return f"- Clicks: {shape}; {len(fields)} fields, mean {prepared['mean_click_bytes']} bytes" + (
        f"; on some clicks only: {some}" if some else ""
    )


def _med(cell: dict[str, float] | None) -> float | None:
    return cell["median"] if cell else None


def goal_line(goal: dict[str, Any]) -> str:
    """One markdown row of the goals table."""
    met = {True: "met", False: "NOT met", None: "n/a"}[goal["met"]]
    measured = goal["measured"]
    shown = (
        "-"
        if measured is None
        else (f"{measured:g}" if isinstance(measured, float) else str(measured))
    )
    return f"| {goal['scenario']} | {goal['goal']} | {goal['target']} | {shown} | {met} |"
