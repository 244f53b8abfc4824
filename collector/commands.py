"""What each CLI sub-command does.

Every command fills in a :class:`~collector.result.CommandResult` (lines for the user,
failed or not) or raises a :class:`~collector.errors.CollectorError`; :mod:`collector.cli`
renders it and chooses the exit code.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from collector.app import Collector
from collector.backfill import run_backfill
from collector.checkpoint import Checkpoint
from collector.config import CollectorConfig, load_config
from collector.daemon import run_daemon, run_once, with_stop_signals
from collector.errors import CollectorError, ConfigError
from collector.events import format_iso, format_iso_or_none, parse_iso
from collector.logging import configure_logging
from collector.progress import backlog_progress
from collector.result import CommandResult
from collector.retry import RetryPolicy
from collector.sinks import SinkContext
from collector.sources.mimecast import PacerRegistry, build_source
from collector.stats import SourceStats
from collector.store import CheckpointStore


def _load(path: Path) -> CollectorConfig:
    config = load_config(path)
    configure_logging(config.log.level, config.log.format)
    return config


async def run(path: Path, result: CommandResult) -> CommandResult:
    """``run``: the daemon, with the metrics and health server when configured."""
    config = _load(path)
    async with Collector(config) as collector:
        metrics = config.metrics
        server = None
        if metrics is not None:
            # prometheus-client and the server load only when [metrics] asks for them.
            from collector.metrics import MetricsServer

            server = MetricsServer(collector, metrics)
            try:
                await server.start()
            except OSError as exc:
                raise ConfigError(
                    f"metrics.address: cannot listen on {metrics.address}: {exc.strerror}"
                ) from None
        try:
            await with_stop_signals(lambda stop: run_daemon(collector, stop))
        finally:
            if server is not None:
                await server.stop()
    return result


async def once(path: Path, result: CommandResult) -> CommandResult:
    """``once``: every source until caught up; failed if any source failed."""
    config = _load(path)
    async with Collector(config) as collector:
        with backlog_progress(list(collector.runners)) as on_page:
            for runner in collector.runners.values():
                runner.on_page = on_page
            errors = await with_stop_signals(lambda stop: run_once(collector, stop))
    for name, error in errors.items():
        if error is not None:
            result.fail(f"error: source {name}: {error}")
    return result


async def check(path: Path, result: CommandResult) -> CommandResult:
    """``check``: config, Mimecast authentication and every sink's healthcheck."""
    config = _load(path)
    result.say(f"config {path}: OK ({len(config.sources)} source(s), {len(config.sinks)} sink(s))")
    # One registry: sources on one credential log in once, then each tests its endpoint.
    credentials = PacerRegistry()
    for name, source_config in config.sources.items():
        source = build_source(
            name,
            source_config,
            stats=SourceStats(),
            retry=RetryPolicy(max_secs=15),
            pacers=credentials,
        )
        try:
            result.say(f"source {name}: OK ({await source.check()})")
        except CollectorError as exc:
            result.fail(f"source {name}: FAILED: {exc}", "stdout")
        finally:
            await source.aclose()
    context = SinkContext(state_dir=config.state_dir)
    for name, sink_config in config.sinks.items():
        sink = sink_config.build(name, context)
        try:
            await sink.start()
            await sink.healthcheck()
            result.say(f"sink {name}: OK ({sink_config.type})")
        except CollectorError as exc:
            reason = str(exc).removeprefix(f"sink {name}: ")
            result.fail(f"sink {name}: FAILED: {reason}", "stdout")
        finally:
            await sink.aclose()
    return result


async def dlq_replay(path: Path, sink: str, result: CommandResult) -> CommandResult:
    """``dlq replay``: send a sink's dead letters again; failed if sending stopped."""
    return await replay_dead_letters(_load(path), sink, result)


async def replay_dead_letters(
    config: CollectorConfig, sink: str, result: CommandResult
) -> CommandResult:
    """``dlq replay`` for a loaded config (see :func:`collector.sinks.http.dead_letter.replay`)."""
    from collector.sinks.http.dead_letter import replay

    replayed = await replay(config, sink)
    if replayed.found == 0:
        result.say(f"sink {sink}: no dead letters in {replayed.directory}")
    elif replayed.stopped is not None:
        result.fail(f"sink {sink}: replay stopped: {replayed.stopped}", "stdout")
    else:
        skipped = replayed.skipped
        note = f"; {skipped} file(s) in use by a running collector skipped" * bool(skipped)
        result.say(
            f"sink {sink}: replayed {replayed.events} events from {replayed.files} file(s); "
            f"{replayed.refused_again} refused again (kept in {replayed.directory}){note}"
        )
    return result


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


async def backfill(args: argparse.Namespace, result: CommandResult) -> CommandResult:
    """``backfill``: a past range of one source, in parallel slices, resumable."""
    config = _load(args.config)
    start = _time_arg("--from", args.from_time)
    end = _time_arg("--to", args.to_time)
    await with_stop_signals(
        lambda stop: run_backfill(config, args.source, start, end, args.parallel, stop, result)
    )
    return result


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


def checkpoint(
    path: Path, action: str, args: argparse.Namespace, result: CommandResult
) -> CommandResult:
    """``checkpoint show`` and ``checkpoint reset``."""
    config = load_config(path)
    if action == "show":
        report = {}
        for name in config.sources:
            store = CheckpointStore(config.state_dir, name)
            report[name] = _summary(store, store.load())
        result.say(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return result
    if args.source not in config.sources:
        known = ", ".join(sorted(config.sources))
        raise ConfigError(f"--source: unknown source {args.source!r} (sources: {known})")
    start = None if args.from_time is None else _time_arg("--from", args.from_time)
    store = CheckpointStore(config.state_dir, args.source)
    store.lock()
    try:
        if start is None:
            existed = store.delete()
            result.say(
                f"source {args.source}: checkpoint {'removed' if existed else 'was absent'}; "
                "the next cycle starts initial_lookback_secs ago"
            )
        else:
            store.save(Checkpoint(args.source, not_before=start))
            result.say(f"source {args.source}: the next cycle starts at {format_iso(start)}")
    finally:
        store.unlock()
    return result
