"""S9: freshness at the defaults, and what idle polling costs (issue 14).

The real ``mimecast-collector run`` with nothing but the source's address and
credentials set (every polling setting at its default) reads the simulator's live
mode: clicks arrive at ``rate`` a second, ``late_fraction`` of them published up to
``max_delay_secs`` after their date, under a 10000/hour quota. The harness tails the
file sink's output and stamps every line when it appears (every 50 ms): from the
click's publication to that moment is its freshness. The file sink writes and fsyncs
before it acknowledges, so the line appears no later than the acknowledgement.

Then the clicks stop; after a settling time the harness counts the requests the
daemon makes while idle, for one source and for three sources on one credential,
against the budget (``live_quota_share`` of the quota: 500/hour at the defaults).

``python -m bench.freshness [--live-secs N] [--idle-secs N]`` runs it alone.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

from collector.simulator import ClickDataset, QuotaConfig, SimulatorConfig, SimulatorThread
from collector.simulator.api import GET_LOGS_PATH

QUOTA = QuotaConfig(limit=10_000, period_secs=3600)
SHARE = 0.05  # the default live_quota_share
TAIL_EVERY_SECS = 0.05
P99_GOAL_SECS = 30.0


def canon(click: Any) -> bytes:
    return orjson.dumps(click, option=orjson.OPT_SORT_KEYS)


def write_config(workdir: Path, base_url: str, sources: int) -> Path:
    """Defaults everywhere: only where to read, with what, and where to write."""
    lines = [f'state_dir = "{workdir / "state"}"', "", "[log]", 'format = "json"']
    for n in range(1, sources + 1):
        lines += [
            "",
            f"[sources.s{n}]",
            'type = "mimecast_ttp_url"',
            f'base_url = "{base_url}"',
            'client_id = "sim-client-id"',
            'client_secret = "sim-client-secret"',
        ]
    for n in range(1, sources + 1):
        out = workdir / ("out.ndjson" if n == 1 else f"out{n}.ndjson")
        lines += ["", f"[sinks.out{n}]", 'type = "file"', f'path = "{out}"', f'inputs = ["s{n}"]']
    path = workdir / "collector.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Tail:
    """Reads the lines a file gains, stamping each with the moment it was seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen: list[tuple[float, bytes]] = []

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        end = data.rfind(b"\n") + 1
        now = time.time()
        self.seen += [(now, line) for line in data[:end].splitlines() if line]
        self.offset += end

    def follow(self, secs: float) -> None:
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            self.poll()
            time.sleep(TAIL_EVERY_SECS)


def start_daemon(python: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [python, "-m", "collector", "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def stop_daemon(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def wait_for_first_cycle(log: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while b'"cycle_finished"' not in (log.read_bytes() if log.exists() else b""):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no first cycle; see {log}")
        time.sleep(0.1)


def idle_rate(sim: SimulatorThread, secs: float) -> float:
    """Requests per hour made during ``secs`` seconds from now."""
    before = sim.simulator.stats.requests[GET_LOGS_PATH]
    time.sleep(secs)
    return (sim.simulator.stats.requests[GET_LOGS_PATH] - before) * 3600 / secs


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def freshness(truth: list[tuple[float, Any]], seen: list[tuple[float, bytes]]) -> dict[str, Any]:
    """Publication to appearance, per click; missing and doubled clicks."""
    published: dict[bytes, list[float]] = defaultdict(list)
    for at, click in sorted(truth, key=lambda pair: pair[0]):
        published[canon(click)].append(at)
    expected = Counter({key: len(times) for key, times in published.items()})
    delivered: Counter[bytes] = Counter()
    delays = []
    for at, line in seen:
        key = canon(orjson.loads(line))
        delivered[key] += 1
        if published.get(key):
            delays.append(at - published[key].pop(0))
    return {
        "clicks": sum(expected.values()),
        "missing": sum((expected - delivered).values()),
        "doubled": sum((delivered - expected).values()),
        **{f"p{p}_secs": _round(percentile(delays, p)) for p in (50, 95, 99)},
        "max_secs": _round(max(delays, default=None)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def run_sources(
    python: str, workdir: Path, sources: int, live: dict[str, float] | None, idle_secs: float
) -> dict[str, Any]:
    """One daemon with ``sources`` sources on one credential: live clicks (if ``live``),
    then idle polling."""
    workdir.mkdir(parents=True, exist_ok=True)
    with SimulatorThread(SimulatorConfig(quota=QUOTA), ClickDataset()) as sim:
        config = write_config(workdir, sim.base_url, sources)
        log = workdir / "collector.log"
        process = start_daemon(python, config, log)
        result: dict[str, Any] = {"sources": sources}
        try:
            wait_for_first_cycle(log, process)
            tail = Tail(workdir / "out.ndjson")
            if live is not None:
                live_secs, settle_secs = live.pop("live_secs"), live.pop("settle_secs")
                requests0 = sim.simulator.stats.requests[GET_LOGS_PATH]
                sim.start_live(live["rate"], **{k: v for k, v in live.items() if k != "rate"})
                tail.follow(live_secs)
                sim.stop_live()
                live_requests = sim.simulator.stats.requests[GET_LOGS_PATH] - requests0
                result["live_requests_per_hour"] = round(live_requests * 3600 / live_secs)
                tail.follow(settle_secs)
            result["idle_requests_per_hour"] = round(idle_rate(sim, idle_secs), 1)
            tail.poll()
        finally:
            result["returncode"] = stop_daemon(process)
        if live is not None:
            result |= freshness(sim.simulator.dataset.timeline(), tail.seen)
    budget = SHARE * QUOTA.limit * 3600 / QUOTA.period_secs
    result["idle_budget_per_hour"] = budget
    result["idle_share_of_quota_pct"] = round(
        100 * result["idle_requests_per_hour"] / (QUOTA.limit * 3600 / QUOTA.period_secs), 2
    )
    return result


def measure(python: str, workdir: Path, *, live_secs: float, idle_secs: float) -> dict[str, Any]:
    """The whole scenario: one source live, then idle; one and three quiet sources idle.

    The idle figure right after the live clicks includes the late sweeps re-reading the
    busy quarter of an hour, charged when each ends (so repaid after the window): it is
    reported, and the budget is judged on quiet tenants, one source and three.
    """
    live = {
        "rate": 20.0,
        "late_fraction": 0.1,
        "max_delay_secs": 10.0,
        "live_secs": live_secs,
        "settle_secs": 45.0,
    }
    after_live = run_sources(python, workdir / "live", 1, dict(live), idle_secs)
    one = run_sources(python, workdir / "one", 1, None, idle_secs)
    three = run_sources(python, workdir / "three", 3, None, idle_secs)
    p99 = after_live["p99_secs"]
    goals = {
        "p99 <= 30 s": p99 is not None and p99 <= P99_GOAL_SECS,
        "0 missing, 0 doubled": after_live["missing"] == 0 and after_live["doubled"] == 0,
        "idle <= 5% (1 source)": one["idle_requests_per_hour"] <= one["idle_budget_per_hour"],
        "idle <= 5% (3 sources)": three["idle_requests_per_hour"] <= three["idle_budget_per_hour"],
    }
    return {"live": live, "after_live": after_live, "one": one, "three": three, "goals": goals}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__)
    parser.add_argument("--live-secs", type=float, default=300.0)
    parser.add_argument("--idle-secs", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/freshness"))
    args = parser.parse_args(argv)
    result = measure(
        sys.executable, args.workdir, live_secs=args.live_secs, idle_secs=args.idle_secs
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
