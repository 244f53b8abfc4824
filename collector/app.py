"""Wiring: from a validated config to started sinks and per-source runners."""

from __future__ import annotations

import contextlib
from types import TracebackType

import httpx
import structlog

from collector.config import CollectorConfig
from collector.delivery import SinkHandle
from collector.errors import CollectorError, SinkError
from collector.pipeline import SourceRunner
from collector.sinks import SinkContext
from collector.sources.mimecast import PacerRegistry, build_source
from collector.stats import GateStats, SinkStats, SourceStats
from collector.store import CheckpointStore

log = structlog.get_logger("collector.app")


class Collector:
    """Owns the sinks, Mimecast clients and source runners of one config, and their stats.

    ``only_sources`` limits it to some sources and the sinks they feed
    (``backfill``); ``lock=False`` leaves the main checkpoints unlocked.

    ``async with Collector(config) as collector:`` starts the sinks and takes each
    source's checkpoint lock; leaving the block closes everything in reverse.

    Every counter is created here and handed to whoever counts (a source, its
    runner, a sink and its delivery), so ``source_stats`` and ``sink_stats`` are the
    one set of books that logs, ``/metrics`` and readiness read.
    """

    def __init__(
        self,
        config: CollectorConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        lock: bool = True,
        only_sources: list[str] | None = None,
    ) -> None:
        self.config = config
        self._transport = transport
        self._lock = lock
        self._sources = only_sources if only_sources is not None else list(config.sources)
        self.sinks: dict[str, SinkHandle] = {}
        self.runners: dict[str, SourceRunner] = {}
        self.source_stats: dict[str, SourceStats] = {}
        self.sink_stats: dict[str, SinkStats] = {}
        self.pacers = PacerRegistry()
        self._stores: list[CheckpointStore] = []

    async def __aenter__(self) -> Collector:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start every sink, then build each source's client and runner."""
        wanted = {sink for source in self._sources for sink in self.config.sinks_for(source)}
        for name, sink_config in self.config.sinks.items():
            if name not in wanted:
                continue
            self.sink_stats[name] = SinkStats()
            context = SinkContext(self.config.state_dir, self.sink_stats[name])
            sink = sink_config.build(name, context)
            self.sinks[name] = SinkHandle(name, sink, sink_config.retry_policy(), context.stats)
            try:
                await sink.start()
            except CollectorError:
                raise
            except OSError as exc:
                raise SinkError(name, f"cannot start: {exc}") from exc
        for name in self._sources:
            source_config = self.config.sources[name]
            store = CheckpointStore(self.config.state_dir, name)
            if self._lock:
                store.lock()
                self._stores.append(store)
            stats = self.source_stats[name] = SourceStats()
            source = build_source(
                name, source_config, stats=stats, pacers=self.pacers, transport=self._transport
            )
            handles = [self.sinks[sink] for sink in self.config.sinks_for(name)]
            self.runners[name] = SourceRunner(source, source_config, handles, store, stats=stats)

    def gates(self) -> dict[str, GateStats]:
        """Every endpoint's backpressure gate counters: source credentials, then sinks."""
        gates = {
            runner.source.gate.endpoint: runner.source.gate.stats
            for runner in self.runners.values()
        }
        gates.update(
            {f"sink/{name}": stats.backpressure for name, stats in self.sink_stats.items()}
        )
        return gates

    async def aclose(self) -> None:
        """Close clients and sinks, release checkpoint locks. Never raises."""
        for runner in self.runners.values():
            with contextlib.suppress(Exception):
                await runner.source.aclose()
        for handle in reversed(list(self.sinks.values())):
            try:
                await handle.sink.aclose()
            except Exception as exc:  # noqa: BLE001  (closing must go on for the others)
                log.warning("sink_close_failed", sink=handle.name, error=str(exc))
        for store in self._stores:
            store.unlock()
        self._stores.clear()
