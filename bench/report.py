"""The report: machine and versions, then the results and goals as markdown tables.

The JSON file holds everything (every rep, every floor pass); the markdown table is
the summary a person reads and what docs/performance.md quotes.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import collector
from bench.procs import loadavg

PACKAGES = (
    "mimecast-collector", "orjson", "httpx", "httpcore", "h11", "anyio", "sniffio",
    "structlog", "tenacity", "pydantic", "apscheduler", "psutil",
)  # fmt: skip


def cpu_ticks() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat (user, nice, system, idle, iowait, ..., steal)."""
    with open("/proc/stat", encoding="ascii") as stat:
        return [int(field) for field in stat.readline().split()[1:]]


def load_snapshot() -> dict[str, Any]:
    """Load averages and CPU tick counters, to describe the machine's load around the run."""
    return {"loadavg": loadavg(), "ticks": cpu_ticks()}


def load_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Whole-machine CPU busy % and steal % between two snapshots (all CPUs)."""
    delta = [b - a for a, b in zip(before["ticks"], after["ticks"], strict=False)]
    total = sum(delta[:8]) or 1
    idle = delta[3] + delta[4]
    return {
        "loadavg_before": before["loadavg"],
        "loadavg_after": after["loadavg"],
        "machine_busy_pct": round(100.0 * (total - idle) / total, 1),
        "steal_pct": round(100.0 * delta[7] / total, 2) if len(delta) > 7 else None,
    }


def machine(workdir: Path) -> dict[str, Any]:
    """CPU, memory, kernel and the filesystem the outputs are written to."""
    model, hypervisor = "unknown", False
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name") and model == "unknown":
                model = line.partition(":")[2].strip()
            if line.startswith("flags") and " hypervisor" in line:
                hypervisor = True
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        mem_kib = int(meminfo.readline().split()[1])
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "virtualized": hypervisor,
        "mem_total_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "filesystem": _filesystem(workdir),
    }


def _filesystem(path: Path) -> str:
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            device, point, fstype = line.split()[:3]
            if resolved.startswith(point) and len(point) > len(best):
                best, kind = point, f"{fstype} on {device} ({point})"
    return kind


def versions(repo: Path) -> dict[str, Any]:
    """Python, the packages on the hot path, and the collector's git commit."""
    found: dict[str, Any] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    # The code actually measured: PYTHONPATH may point the processes at a snapshot.
    found["collector_path"] = str(Path(collector.__file__).parent)
    found["git_commit"] = _git(repo, "rev-parse", "HEAD")
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    found["git_dirty"] = bool(status) if status is not None else None
    return found


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


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


def markdown(report: dict[str, Any]) -> str:
    """The whole report as markdown."""
    m, v, load = report["machine"], report["versions"], report["load"]
    base = report.get("baseline") or {}
    lines = [
        f"# Benchmark run {report['started']}",
        "",
        f"- Machine: {m['cpus']} x {m['cpu_model']}{' (VM)' if m['virtualized'] else ''}, "
        f"{m['mem_total_gib']} GiB, Linux {m['kernel']}, outputs on {m['filesystem']}",
        f"- Versions: Python {v['python']}, "
        + ", ".join(f"{k} {v[k]}" for k in PACKAGES if v.get(k)),
        f"- Collector code: {v['collector_path']}, commit {v['git_commit']}"
        f"{' (with uncommitted changes)' if v['git_dirty'] else ''}",
        f"- Pinning: collector and floor on CPU {report['pinning']['collector_cpu']}, "
        f"simulator/receivers/harness on CPU {report['pinning']['helper_cpu']} "
        f"({report['pinning']['method']})",
        f"- Load: loadavg {load['loadavg_before']} before, {load['loadavg_after']} after; "
        f"whole machine {load['machine_busy_pct']}% busy during the run "
        f"(steal {load['steal_pct']}%)",
        f"- Start-up baseline (0 clicks): {base.get('cpu_secs', '-')} CPU-s, "
        f"{base.get('wall_secs', '-')} s wall, peak RSS {base.get('peak_rss_mib', '-')} MiB",
        *([f"- Note: {report['note']}"] if report.get("note") else []),
        f"- Options: {' '.join(report['argv']) or '(defaults)'}; "
        f"duration {report['duration_secs']:.0f} s",
        "",
        RESULT_HEADER,
        "|" + "---|" * 17,
        *(result_line(row) for row in report["rows"]),
        "",
        "| scenario | goal (issue 4) | target | measured | |",
        "|---|---|---|---|---|",
        *(goal_line(goal) for goal in report["goals"]),
        "",
    ]
    return "\n".join(lines)
