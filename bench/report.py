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
from bench.tables import (
    NAIVE_HEADER,
    RESULT_HEADER,
    clicks_line,
    goal_line,
    naive_line,
    result_line,
)

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
        clicks_line(report),
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
    naive = [line for row in report["rows"] if (line := naive_line(row))]
    if naive:
        lines += [
            "Naive baseline (`bench/naive.py`: urllib + json, one line per click, no "
            "checkpoint), after each collector rep on the same simulator and pages, pinned "
            "to the same CPU; both timed as whole processes, medians of reps:",
            "",
            NAIVE_HEADER,
            "|" + "---|" * 9,
            *naive,
            "",
        ]
    if report.get("targets_issue13"):
        lines += [
            "| scenario | target (issue 13) | target | measured | |",
            "|---|---|---|---|---|",
            *(goal_line(goal) for goal in report["targets_issue13"]),
            "",
        ]
    return "\n".join(lines)
