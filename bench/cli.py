"""``python -m bench``: run the scenarios, write ``results.json`` and ``results.md``.

Exit codes: 0 every scenario that ran delivered every click exactly once; 1 one did
not, or a scenario failed to run; 2 usage error. Timing never decides the exit code:
the goals are reported, not enforced.
"""

from __future__ import annotations

import argparse
import compileall
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import goals, procs, report
from bench.cases import run_case
from bench.runner import Case, Context
from bench.scenarios import ALL, TITLES, Options, Row, run_step, steps

REPO = Path(__file__).resolve().parent.parent
DAY = 86_400


def _sizes(text: str) -> tuple[int, ...]:
    """``100k,1M,5M`` -> (100000, 1000000, 5000000)."""
    units = {"k": 1_000, "m": 1_000_000}
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = units.get(part[-1:], 1)
        out.append(int(float(part[:-1] if scale > 1 else part) * scale))
    return tuple(out)


def _count(text: str) -> int:
    """A repetition count: a whole number, at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _scenarios(text: str) -> list[str]:
    chosen = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in TITLES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {unknown}; known: {', '.join(ALL)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    """The harness's options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--scenarios", type=_scenarios, default=list(ALL), help="e.g. S1,S5 (default: all)")
    add("--clicks", type=lambda t: _sizes(t)[0], default=1_000_000, help="S1-S4 clicks (1M)")
    add(
        "--reps",
        type=_count,
        default=None,
        help="collector runs per case (default: S1-S4 3, others 1)",
    )
    add("--floor-reps", type=int, default=5, help="timed floor passes per case (5)")
    add("--s5-sizes", type=_sizes, default=(100_000, 1_000_000, 5_000_000), help="100k,1M,5M")
    add("--s6-clicks", type=lambda t: _sizes(t)[0], default=150_000, help="S6 clicks (150k)")
    add("--s6-quota", default="10/3.6", help="S6 quota LIMIT/PERIOD_SECS (10/3.6 = 10,000/h)")
    add("--s7-clicks", type=lambda t: _sizes(t)[0], default=200_000, help="S7 clicks (200k)")
    add("--idle-secs", type=float, default=300.0, help="S8 and S9 idle period (300)")
    add("--live-secs", type=float, default=300.0, help="S9 live clicks period (300)")
    add("--seed", type=int, default=1, help="dataset seed")
    add(
        "--v1-fields",
        action="store_true",
        help="only the 12 documented v1 fields (default: realistic API 2.0 clicks)",
    )
    # Realistic clicks became the default (issue 13); the old switch stays so existing
    # commands still run, and says once that it no longer changes anything.
    add("--rich", action="store_true", help=argparse.SUPPRESS)
    add("--smoke", action="store_true", help="CI smoke: S1 only, 20k clicks, 1 rep")
    add("--out", type=Path, default=None, help="results directory (bench/results/<time>)")
    add("--keep-output", action="store_true", help="keep delivered files and page files")
    add(
        "--strict-receivers",
        action="store_true",
        help="S2 and S4 deliver to the tests' strict emulators, not the lean receivers",
    )
    add("--note", default="", help="free text for the report (e.g. which code was measured)")
    add("--quiet", action="store_true", help="no progress messages")
    return parser


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwind (stopping every child by PID) and exit."""


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness; return the exit code (128 + signal when interrupted)."""
    args = build_parser().parse_args(argv)
    # Explicit handlers: a harness started in the background inherits an ignored SIGINT,
    # and SIGTERM would otherwise end it without stopping its children.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        return _run(args, argv)
    except Interrupted as stop:
        print(f"bench: interrupted by {stop}; every child was stopped", file=sys.stderr)
        return 128 + signal.Signals[str(stop)].value


def _run(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    if args.smoke:
        args.scenarios, args.clicks, args.reps, args.floor_reps = ["S1"], 20_000, 1, 1
    if args.rich:
        print(
            "bench: --rich is deprecated and ignored: realistic API 2.0 clicks are the "
            "default; --v1-fields selects the 12 documented fields",
            file=sys.stderr,
        )

    # An installed collector has its bytecode (pip compiles a wheel's modules when it
    # installs them, in the Docker image and the systemd venv too). A source checkout run
    # with PYTHONDONTWRITEBYTECODE=1 would compile ~50 modules in every process instead:
    # 40-50 ms of each `once` that no user pays. Write them once, before any timing.
    for tree in ("collector", "bench"):
        compileall.compile_dir(REPO / tree, quiet=1)

    started = datetime.now(UTC)
    out = args.out or REPO / "bench" / "results" / started.strftime("%Y%m%dT%H%M%SZ")
    workdir = out / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    pinning = procs.Pinning.plan()
    if pinning.helper_cpu is not None:
        # The harness reads logs and checks outputs: keep that off the collector's CPU.
        os.sched_setaffinity(0, {pinning.helper_cpu})
    say = (lambda _msg: None) if args.quiet else _say
    now = int(time.time())
    ctx = Context(
        workdir=workdir,
        pinning=pinning,
        python=sys.executable,
        # Inside the 30 days the collector reads, ending well before now - lag_secs.
        span=(now - 29 * DAY, now - 3600),
        seed=args.seed,
        rich=not args.v1_fields,
        floor_reps=args.floor_reps,
        keep_output=args.keep_output,
        strict_receivers=args.strict_receivers,
        say=say,
    )
    opts = Options(
        clicks=args.clicks,
        reps=args.reps,
        s5_sizes=args.s5_sizes,
        s6_clicks=args.s6_clicks,
        s6_quota=args.s6_quota,
        s7_clicks=args.s7_clicks,
        idle_secs=args.idle_secs,
        live_secs=args.live_secs,
    )
    before = report.load_snapshot()
    rows: list[Row] = []
    goal_rows: list[goals.Goal] = []
    baseline: dict[str, Any] = {}
    try:
        say("baseline: collector start-up with no clicks")
        baseline = _baseline(ctx)
        for step in steps(args.scenarios):
            say("; ".join(f"{scenario}: {TITLES[scenario]}" for scenario in step))
            try:
                found, judged = run_step(step, ctx, opts, baseline.get("cpu_secs"))
            except Exception as exc:  # noqa: BLE001  (one broken scenario must not hide the rest)
                found = [_failed(scenario, exc) for scenario in step]
                judged = []
            finally:
                procs.stop_all()
            rows += found
            goal_rows += judged
    finally:
        procs.stop_all()
    finished = datetime.now(UTC)
    result = {
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_secs": round((finished - started).total_seconds(), 1),
        "argv": list(argv if argv is not None else sys.argv[1:]),
        "note": args.note,
        "machine": report.machine(workdir),
        "versions": report.versions(REPO),
        "pinning": {
            "collector_cpu": pinning.collector_cpu,
            "helper_cpu": pinning.helper_cpu,
            "method": pinning.method,
        },
        "load": report.load_between(before, report.load_snapshot()),
        "baseline": baseline,
        "data_span": {"start": ctx.span[0], "end": ctx.span[1], "seed": ctx.seed, "rich": ctx.rich},
        "rows": rows,
        "goals": goal_rows,
        "targets_issue13": goals.issue13_goals(rows),
    }
    (out / "results.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    text = report.markdown(result)
    (out / "results.md").write_text(text)
    if not args.keep_output:
        _tidy(workdir)
    print(text)
    say(f"results: {out / 'results.json'} and {out / 'results.md'}")
    bad = [row for row in rows if row["status"] in ("incorrect", "failed")]
    return 1 if bad else 0


def _baseline(ctx: Context) -> dict[str, Any]:
    """The collector's fixed cost: one ``once`` run against a simulator with no clicks."""
    raw = run_case(ctx, Case("S0", "startup", 0, 1, floor=False, timeout_secs=120.0))
    run = raw["runs"][0]
    return {
        "cpu_secs": run["cpu_secs"],
        "wall_secs": run["wall_secs"],
        "peak_rss_mib": round(run["peak_rss_kib"] / 1024, 1) if run["peak_rss_kib"] else None,
        "returncode": run["returncode"],
    }


def _failed(scenario: str, exc: BaseException) -> Row:
    return {
        "scenario": scenario,
        "case": "-",
        "title": TITLES[scenario],
        "status": "failed",
        "reason": f"{type(exc).__name__}: {exc}",
        "params": {},
    }


def _tidy(workdir: Path) -> None:
    # Logs and configs stay (they explain a result); bulky outputs are already gone.
    for path in workdir.rglob("*.bin"):
        path.unlink(missing_ok=True)


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
