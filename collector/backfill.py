"""``mimecast-collector backfill``: collect a past time range in parallel slices.

The range [from, to] is cut into ``--parallel`` slices that share no click (see
:func:`collector.window.slice_range`), read at the same time through the
source's shared quota pacer, and delivered to the source's sinks. Progress is
kept in its own checkpoint, ``<state_dir>/<source>.backfill-<from>-<to>.checkpoint.json``,
so running the same command again resumes an interrupted backfill, and says so
when it is already complete. The source's own incremental checkpoint is not
touched: a backfill can run while ``run`` does. Clicks already delivered by
``run`` in that range are delivered again, with the same event ids.
"""

from __future__ import annotations

import asyncio

from collector.app import Collector
from collector.checkpoint import Checkpoint
from collector.config import CollectorConfig
from collector.errors import ConfigError
from collector.events import format_iso
from collector.result import CommandResult
from collector.store import CheckpointStore
from collector.window import slice_range


def backfill_store(config: CollectorConfig, source: str, start: int, end: int) -> CheckpointStore:
    """The checkpoint store of one backfill job, named after its range."""
    return CheckpointStore(config.state_dir, f"{source}.backfill-{start}-{end}")


async def run_backfill(
    config: CollectorConfig,
    source: str,
    start: int,
    end: int,
    parallel: int,
    stop: asyncio.Event,
    result: CommandResult,
) -> None:
    """Run (or resume) one backfill job, saying how it went in ``result``; failed when
    interrupted."""
    if source not in config.sources:
        known = ", ".join(sorted(config.sources))
        raise ConfigError(f"--source: unknown source {source!r} (sources: {known})")
    if end <= start:
        raise ConfigError("--to: must be later than --from")
    if not 1 <= parallel <= 64:
        raise ConfigError("--parallel: must be between 1 and 64")
    store = backfill_store(config, source, start, end)
    store.lock()
    try:
        checkpoint = store.load()
        if checkpoint is not None and checkpoint.cursor == end:
            result.say(
                f"backfill of {source} from {format_iso(start)} to {format_iso(end)} is complete"
            )
            return
        if checkpoint is None:
            checkpoint = Checkpoint(store.source)
            checkpoint.begin_pass(slice_range(start, end, parallel), start, end)
        else:
            result.say(f"resuming: {checkpoint.progress():.0%} of the range was already delivered")
        async with Collector(config, lock=False, only_sources=[source]) as collector:
            outcome = await collector.runners[source].read_pass(checkpoint, store, stop)
    finally:
        store.unlock()
    if outcome.interrupted:
        result.fail("interrupted: run the same command again to resume")
        return
    result.say(
        f"backfill of {source} from {format_iso(start)} to {format_iso(end)}: "
        f"{outcome.events:,} clicks delivered in {outcome.pages:,} pages "
        f"({len(slice_range(start, end, parallel))} slices)"
    )
