"""The naive baseline: Mimecast's own sample code, turned into the simplest page loop.

``python -m bench.naive loop``: stdlib HTTP (``urllib``) and ``json``, an OAuth2 token,
``POST /api/ttp/url/get-logs`` page after page (``next`` until absent or empty), one
``json.dumps`` line per click written to a file; no checkpoint, no dedup, no fsync, no
retries. This is what a SOC's home-made script does, and what the collector, doing
far more per click, must still beat (issue 13, "Hot path"). It prints one JSON line:
the clicks it wrote, the pages it requested and its own CPU seconds.

``python -m bench`` runs this loop in every S1 to S4 rep, after the collector, against
the same simulator process (:mod:`bench.naive_run`). ``python -m bench.naive compare``
is that S1 case alone, without the floor: realistic API 2.0 clicks by default, the
collector's ``once`` into a file sink and this loop timed as whole processes on the
same pages, and prints the case's naive figures and ratio as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


def naive_loop(
    base_url: str,
    client_id: str,
    secret: str,
    start: str,
    end: str,
    out: str,
    page_size: int = 500,
) -> tuple[int, int]:
    """The loop itself; returns (clicks written, get-logs requests made)."""
    form = urllib.parse.urlencode(
        {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    ).encode()
    with urllib.request.urlopen(f"{base_url}/oauth/token", data=form) as answer:  # noqa: S310
        token = json.load(answer)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    page_token = None
    written = requests = 0
    with open(out, "w") as output:
        while True:
            pagination: dict[str, Any] = {"pageSize": page_size}
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
            requests += 1
            clicks = page["data"][0]["clickLogs"] if page["data"] else []
            for click in clicks:
                output.write(json.dumps(click) + "\n")
            written += len(clicks)
            page_token = page["meta"].get("pagination", {}).get("next")
            if not page_token or not clicks:
                return written, requests


def compare(clicks: int, reps: int, rich: bool) -> dict[str, Any]:
    """The S1 case with its naive baseline and no floor; the case's figures."""
    # Imported here: the harness is only needed by ``compare``, never by the loop.
    from bench.cases import run_case
    from bench.procs import Pinning, stop_all
    from bench.runner import Case, Context
    from bench.scenarios import drain_timeout, size_label
    from bench.summary import correct, summarize

    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as tmp:
        ctx = Context(
            workdir=Path(tmp),
            pinning=Pinning.plan(),
            python=sys.executable,
            span=(now - 29 * 86_400, now - 3600),
            rich=rich,
            say=lambda message: print(message, file=sys.stderr, flush=True),
        )
        case = Case("S1", size_label(clicks), clicks, reps, floor=False, naive=True)
        case.timeout_secs = drain_timeout(clicks)
        try:
            summary = summarize(run_case(ctx, case), None)
        finally:
            stop_all()
    keys = ("events_per_sec_wall", "cpu_s_per_100k", "peak_rss_mib", "ratio_to_naive")
    return {
        "clicks": clicks,
        "reps": reps,
        "rich": rich,
        "collector": {key: summary[key] for key in keys[:3]},
        "naive": summary["naive"],
        "ratio_to_naive": summary["ratio_to_naive"],
        "correct": correct(summary),
    }


def main(argv: list[str] | None = None) -> int:
    """``loop`` or ``compare``; each prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    loop = commands.add_parser("loop", help="run the naive loop once")
    for name in ("base_url", "client_id", "client_secret", "start", "end", "out"):
        loop.add_argument(name)
    loop.add_argument("--page-size", type=int, default=500)
    cmp = commands.add_parser("compare", help="collector vs naive loop (the S1 case alone)")
    cmp.add_argument("--clicks", type=int, default=200_000)
    cmp.add_argument("--reps", type=int, default=3)
    cmp.add_argument("--v1-fields", action="store_true", help="12 small fields per click")
    args = parser.parse_args(argv)
    if args.command == "loop":
        written, requests = naive_loop(
            args.base_url,
            args.client_id,
            args.client_secret,
            args.start,
            args.end,
            args.out,
            args.page_size,
        )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        print(json.dumps({"clicks": written, "requests": requests, "cpu": cpu}))
        return 0
    result = compare(args.clicks, args.reps, not args.v1_fields)
    print(json.dumps(result, indent=2))
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
