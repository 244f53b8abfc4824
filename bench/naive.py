"""The naive baseline: Mimecast's own sample code, turned into the simplest page loop.

``python -m bench.naive loop``: stdlib HTTP (``urllib``) and ``json``, an OAuth2 token,
``POST /api/ttp/url/get-logs`` page after page (``next`` until absent or empty), one
``json.dumps`` line per click written to a file; no checkpoint, no dedup, no fsync, no
retries. This is what a SOC's home-made script does, and what the collector, doing
far more per click, must still beat (issue "Hot path").

``python -m bench.naive compare``: serves a backlog from ``mimecast-collector simulate``
(realistic API 2.0 clicks by default), then times, in turns, the collector's ``once``
into a file sink and the naive loop, as whole processes on the same pages, and prints
events/s, CPU seconds per 100k clicks and peak RSS of each, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench.procs import Child, Pinning
from bench.truth import DataSpec
from bench.upstream import Upstream, start_simulator, stop_simulator


def naive_loop(base_url: str, client_id: str, secret: str, start: str, end: str, out: str) -> int:
    """The loop itself; returns the clicks written."""
    form = urllib.parse.urlencode(
        {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    ).encode()
    with urllib.request.urlopen(f"{base_url}/oauth/token", data=form) as answer:  # noqa: S310
        token = json.load(answer)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    page_token = None
    written = 0
    with open(out, "w") as output:
        while True:
            pagination: dict[str, Any] = {"pageSize": 500}
            if page_token:
                pagination["pageToken"] = page_token
            body = {
                "meta": {"pagination": pagination},
                "data": [{"from": start, "to": end, "oldestFirst": True}],
            }
            request = urllib.request.Request(  # noqa: S310
                f"{base_url}/api/ttp/url/get-logs", json.dumps(body).encode(), headers
            )
            with urllib.request.urlopen(request) as answer:  # noqa: S310
                page = json.load(answer)
            clicks = page["data"][0]["clickLogs"] if page["data"] else []
            for click in clicks:
                output.write(json.dumps(click) + "\n")
            written += len(clicks)
            page_token = page["meta"].get("pagination", {}).get("next")
            if not page_token or not clicks:
                return written


def _timed(argv: list[str], cpu: int | None, pinning: Pinning, log: Path) -> dict[str, float]:
    child = Child("timed", argv, cpu=cpu, pinning=pinning, stderr=log)
    ended = child.wait(1800)
    if ended.returncode != 0:
        raise SystemExit(f"{argv[2:4]} failed ({ended.returncode}); see {log}")
    rss_kib = ended.peak_rss_kib or ended.ru_maxrss_kib
    return {"wall": ended.wall_secs, "cpu": ended.cpu_secs, "rss_mib": rss_kib / 1024}


def compare(clicks: int, reps: int, rich: bool) -> dict[str, Any]:
    """Collector vs the naive loop on the same simulator pages; medians of ``reps``."""
    pinning = Pinning.plan()
    now = int(time.time())
    spec = DataSpec(clicks, 11, now - 2 * 86400, now - 120, rich)
    results: dict[str, list[dict[str, float]]] = {"collector": [], "naive": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP", "/tmp")) as tmp:
        work = Path(tmp)
        sim, facts = start_simulator(sys.executable, pinning, spec, Upstream(), work)
        try:
            base = facts["base_url"]
            for rep in range(reps):
                config = work / f"c{rep}.toml"
                config.write_text(
                    f'state_dir = "{work}/state{rep}"\n[log]\nformat = "json"\n'
                    f'[sources.s]\ntype = "mimecast_ttp_url"\nbase_url = "{base}"\n'
                    f'client_id = "{facts["client_id"]}"\nclient_secret = '
                    f'"{facts["client_secret"]}"\ninitial_lookback_secs = {3 * 86400}\n'
                    f'lag_secs = 0\ncatchup_parallel = 1\n[sinks.f]\ntype = "file"\n'
                    f'path = "{work}/out{rep}/c.ndjson"\n'
                )
                results["collector"].append(
                    _timed(
                        [sys.executable, "-m", "collector", "once", "-c", str(config)],
                        pinning.collector_cpu,
                        pinning,
                        work / "collector.log",
                    )
                )
                frm = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(now - 3 * 86400))
                to = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(time.time()))
                loop = [base, facts["client_id"], facts["client_secret"], frm, to]
                results["naive"].append(
                    _timed(
                        [sys.executable, "-m", "bench.naive", "loop", *loop, f"{work}/n{rep}"],
                        pinning.collector_cpu,
                        pinning,
                        work / "naive.log",
                    )
                )
                for path in work.glob(f"out{rep}/*"):
                    path.unlink()
        finally:
            stop_simulator(sim)
    summary: dict[str, Any] = {"clicks": clicks, "reps": reps, "rich": rich}
    for name, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        summary[name] = {
            "events_per_sec": round(clicks / wall),
            "cpu_secs_per_100k": round(statistics.median(r["cpu"] for r in runs) * 1e5 / clicks, 3),
            "peak_rss_mib": round(max(r["rss_mib"] for r in runs), 1),
        }
    summary["ratio"] = round(
        summary["collector"]["events_per_sec"] / summary["naive"]["events_per_sec"], 2
    )
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    loop = commands.add_parser("loop", help="run the naive loop once")
    for name in ("base_url", "client_id", "client_secret", "start", "end", "out"):
        loop.add_argument(name)
    cmp = commands.add_parser("compare", help="collector vs naive loop")
    cmp.add_argument("--clicks", type=int, default=200_000)
    cmp.add_argument("--reps", type=int, default=3)
    cmp.add_argument("--v1-fields", action="store_true", help="12 small fields per click")
    args = parser.parse_args()
    if args.command == "loop":
        written = naive_loop(
            args.base_url, args.client_id, args.client_secret, args.start, args.end, args.out
        )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"clicks": written, "cpu": usage.ru_utime + usage.ru_stime}))
        return 0
    print(json.dumps(compare(args.clicks, args.reps, not args.v1_fields), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
