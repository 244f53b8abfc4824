"""What each CLI sub-command does, returning an exit code (see :mod:`collector.cli`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
import orjson

from collector.app import Collector
from collector.backfill import run_backfill
from collector.checkpoint import Checkpoint
from collector.config import CollectorConfig, load_config
from collector.daemon import run_daemon, run_once, with_stop_signals
from collector.errors import CollectorError, ConfigError
from collector.events import format_iso, format_iso_or_none, parse_iso
from collector.health import HEALTH_FILE, read_health_file, readiness_problems
from collector.logging import configure_logging
from collector.metrics import MetricsServer
from collector.progress import backlog_progress
from collector.retry import RetryPolicy
from collector.secrets import scrub
from collector.sinks import SinkContext
from collector.sources.mimecast import build_source
from collector.store import CheckpointStore

EXIT_OK, EXIT_FAILED = 0, 1


def _load(path: Path) -> CollectorConfig:
    config = load_config(path)
    configure_logging(config.log.level, config.log.format)
    return config


async def run(path: Path) -> int:
    """``run``: the daemon, with the metrics and health server when configured."""
    config = _load(path)
    async with Collector(config) as collector:
        metrics = config.metrics
        server = MetricsServer(collector, metrics) if metrics else None
        if server is not None and metrics is not None:
            try:
                await server.start()
            except OSError as exc:
                raise ConfigError(
                    f"metrics.address: cannot listen on {metrics.address}: {exc.strerror}"
                ) from None
        try:
            return await with_stop_signals(lambda stop: run_daemon(collector, stop))
        finally:
            if server is not None:
                await server.stop()


async def health(path: Path) -> int:
    """``health``: 0 when every source completed a cycle within 3 intervals, else 1."""
    config = load_config(path)
    if config.metrics is not None:
        host = config.metrics.host
        if host in ("0.0.0.0", "::", ""):  # the wildcard address: ask ourselves on loopback
            host = "127.0.0.1"
        url = f"http://{host if ':' not in host else f'[{host}]'}:{config.metrics.port}/readyz"
        try:
            async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
                response = await http.get(url)
            problems = list(orjson.loads(response.content).get("problems", []))
            ready = response.status_code == 200
        except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError) as exc:
            print(scrub(f"not ready: cannot ask {url}: {type(exc).__name__}: {exc}"))
            return EXIT_FAILED
    else:
        try:
            facts = read_health_file(config.state_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(
                scrub(
                    f"not ready: no readable {config.state_dir / HEALTH_FILE} ({exc}); "
                    "is `run` running?"
                )
            )
            return EXIT_FAILED
        facts = {name: facts[name] for name in config.sources if name in facts}
        missing = [name for name in config.sources if name not in facts]
        problems = [f"source {name}: not running" for name in missing]
        problems += readiness_problems(facts, time.time())
        ready = not problems
    for problem in problems:
        print(scrub(f"not ready: {problem}"))
    if ready:
        print("ready: every source completed a cycle within 3 x interval_secs")
    return EXIT_OK if ready else EXIT_FAILED


async def once(path: Path) -> int:
    """``once``: every source until caught up; 1 if any source failed."""
    config = _load(path)
    async with Collector(config) as collector:
        with backlog_progress(list(collector.runners)) as on_page:
            for runner in collector.runners.values():
                runner.on_page = on_page
            results = await with_stop_signals(lambda stop: run_once(collector, stop))
    failed = {name: error for name, error in results.items() if error is not None}
    for name, error in failed.items():
        print(scrub(f"error: source {name}: {error}"), file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


async def check(path: Path) -> int:
    """``check``: config, Mimecast authentication and every sink's healthcheck."""
    config = _load(path)
    print(f"config {path}: OK ({len(config.sources)} source(s), {len(config.sinks)} sink(s))")
    healthy = True
    for name, source_config in config.sources.items():
        source = build_source(name, source_config, retry=RetryPolicy(max_secs=15))
        try:
            print(f"source {name}: OK ({await source.check()})")
        except CollectorError as exc:
            healthy = False
            print(scrub(f"source {name}: FAILED: {exc}"))
        finally:
            await source.aclose()
    context = SinkContext(state_dir=config.state_dir)
    for name, sink_config in config.sinks.items():
        sink = sink_config.build(name, context)
        try:
            await sink.start()
            await sink.healthcheck()
            print(f"sink {name}: OK ({sink_config.type})")
        except CollectorError as exc:
            healthy = False
            print(scrub(f"sink {name}: FAILED: {str(exc).removeprefix(f'sink {name}: ')}"))
        finally:
            await sink.aclose()
    return EXIT_OK if healthy else EXIT_FAILED


async def dlq_replay(path: Path, sink: str) -> int:
    """``dlq replay``: send a sink's dead letters again; 1 if some are refused again."""
    from collector.sinks.http.dead_letter import replay

    return await replay(_load(path), sink)


def _time_arg(option: str, value: str) -> int:
    try:
        epoch = parse_iso(value)
    except ValueError:
        raise ConfigError(
            f"{option}: {value!r} is not an ISO 8601 time (e.g. 2025-03-04T09:00:00Z)"
        ) from None
    if epoch > time.time():
        # A start in the future would read nothing until the clock got there.
        raise ConfigError(f"{option}: {value!r} is in the future; give a past time")
    return epoch


async def backfill(args: argparse.Namespace) -> int:
    """``backfill``: a past range of one source, in parallel slices, resumable."""
    config = _load(args.config)
    start = _time_arg("--from", args.from_time)
    end = _time_arg("--to", args.to_time)
    return await with_stop_signals(
        lambda stop: run_backfill(config, args.source, start, end, args.parallel, stop)
    )


def _summary(store: CheckpointStore, checkpoint: Checkpoint | None) -> dict[str, object]:
    if checkpoint is None:
        return {"path": str(store.path), "state": "no checkpoint yet"}

    return {
        "path": str(store.path),
        "collected_until": format_iso_or_none(checkpoint.cursor),
        "not_before": format_iso_or_none(checkpoint.not_before),
        "pass_in_progress": None
        if checkpoint.target is None
        else {
            "from": format_iso_or_none(checkpoint.pass_start),
            "to": format_iso_or_none(checkpoint.target),
            "done": f"{checkpoint.progress():.1%}",
            "windows": [
                {
                    "from": format_iso(window.start),
                    "to": format_iso(window.end),
                    "delivered_up_to": format_iso(window.frontier),
                    "has_page_token": window.page_token is not None,
                }
                for window in checkpoint.windows
            ],
        },
        "dedup_entries": sum(len(bucket) for bucket in checkpoint.delivered.values()),
    }


def checkpoint(path: Path, action: str, args: argparse.Namespace) -> int:
    """``checkpoint show`` and ``checkpoint reset``."""
    config = load_config(path)
    if action == "show":
        report = {}
        for name in config.sources:
            store = CheckpointStore(config.state_dir, name)
            report[name] = _summary(store, store.load())
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        return EXIT_OK
    if args.source not in config.sources:
        known = ", ".join(sorted(config.sources))
        raise ConfigError(f"--source: unknown source {args.source!r} (sources: {known})")
    start = None if args.from_time is None else _time_arg("--from", args.from_time)
    store = CheckpointStore(config.state_dir, args.source)
    store.lock()
    try:
        if start is None:
            existed = store.delete()
            print(
                f"source {args.source}: checkpoint {'removed' if existed else 'was absent'}; "
                "the next cycle starts initial_lookback_secs ago"
            )
        else:
            store.save(Checkpoint(args.source, not_before=start))
            print(f"source {args.source}: the next cycle starts at {format_iso(start)}")
    finally:
        store.unlock()
    return EXIT_OK
