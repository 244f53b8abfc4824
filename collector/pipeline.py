"""One collection cycle of one source: plan the passes, read them, count and log.

A cycle reads passes (:mod:`collector.passes`) until it is caught up with
``now - lag_secs`` as of its start. Planning is :mod:`collector.window`; what a
page does to the checkpoint is :mod:`collector.checkpoint`. This module keeps the
books: the source's counters, one log line per page and one per cycle.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog

from collector.checkpoint import Checkpoint, Window
from collector.dedup import Admission
from collector.delivery import SinkHandle
from collector.errors import CollectorError
from collector.events import format_iso
from collector.outcome import CycleOutcome
from collector.passes import PassReader
from collector.polling import poll_cost, readiness_interval_secs
from collector.source import Page, PollingSettings, Source
from collector.stats import SourceStats
from collector.store import CheckpointStore
from collector.window import LateSweeps, Plan, check_clock, plan_next_pass

log = structlog.get_logger("collector.pipeline")

PageListener = Callable[[str, float, int], None]
"""Told (source, fraction of the pass delivered, new events) after each page."""


class SourceRunner:
    """Runs cycles for one source: planning, reading passes, counting, logging."""

    def __init__(
        self,
        source: Source,
        config: PollingSettings,
        sinks: Sequence[SinkHandle],
        store: CheckpointStore,
        *,
        stats: SourceStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = source.name
        self.config = config
        self.source = source
        self.sinks = list(sinks)
        self.store = store
        self.clock = clock
        self.on_page: PageListener | None = None
        self.stats = stats  # the Collector's, shared with the source, which counts requests
        self.sweeps = LateSweeps()
        self._sweep_end: int | None = None
        self.last_outcome: CycleOutcome | None = None

    async def run_cycle(self, stop: asyncio.Event | None = None) -> CycleOutcome:
        """Read until caught up with ``now - lag_secs`` as of the start (or until ``stop``).

        Raises the CollectorError that ended the cycle; the checkpoint then still
        points at the last page every sink acknowledged.
        """
        return await self._logged_cycle(self._cycle, stop or asyncio.Event())

    @property
    def readiness_interval_secs(self) -> int:
        """The interval `/readyz` and `health` judge this source by."""
        return readiness_interval_secs(self.config.interval_secs, self.stats.poll_interval_secs)

    def next_poll_secs(self) -> float:
        """Seconds until the next cycle, once one is over: ``interval_secs`` when set,
        else what the credential's polling budget allows after charging this cycle."""
        outcome = self.last_outcome or CycleOutcome()
        interval = self.config.interval_secs
        if interval is not None:
            wait = float(interval)
        else:
            cost = poll_cost(outcome.requests, outcome.events, catchup=outcome.catchup)
            wait = self.source.poll_budget.charge(cost)
        self.stats.poll_interval_secs = wait
        return wait

    async def read_pass(
        self, checkpoint: Checkpoint, store: CheckpointStore, stop: asyncio.Event
    ) -> CycleOutcome:
        """Read a pass begun by the caller (``backfill``) into its own checkpoint."""

        async def work(outcome: CycleOutcome, stop: asyncio.Event) -> None:
            outcome.caught_up = await self._reader(checkpoint, store, outcome, stop).read()
            outcome.interrupted = not outcome.caught_up

        return await self._logged_cycle(work, stop)

    async def _logged_cycle(
        self,
        work: Callable[[CycleOutcome, asyncio.Event], Awaitable[None]],
        stop: asyncio.Event,
    ) -> CycleOutcome:
        outcome = self.last_outcome = CycleOutcome()
        started = time.monotonic()
        before = self._request_counters()
        with structlog.contextvars.bound_contextvars(
            source=self.name, cycle_id=uuid.uuid4().hex[:12]
        ):
            try:
                await work(outcome, stop)
            except CollectorError as exc:
                outcome.requests = self._requests_since(before)
                self.stats.cycles_failed += 1
                self.stats.last_error = str(exc)
                self.stats.cycle_duration.observe(time.monotonic() - started)
                log.error(
                    "cycle_failed",
                    error=str(exc),
                    error_type=type(exc).__name__,
                    code=getattr(exc, "code", None),
                    request_id=getattr(exc, "request_id", None),
                    pages=outcome.pages,
                    events=outcome.events,
                )
                raise
            self.stats.cycle_duration.observe(time.monotonic() - started)
            outcome.requests = self._requests_since(before)
            if outcome.caught_up:
                self.stats.cycles_ok += 1
                self.stats.last_success_at = self.clock()
                self.stats.last_error = None
            log.info(
                "cycle_finished",
                pages=outcome.pages,
                events=outcome.events,
                duplicates=outcome.duplicates,
                **{
                    key: round(now - then, 3)
                    for (key, now), then in zip(
                        self._request_counters().items(), before.values(), strict=True
                    )
                },
                caught_up=outcome.caught_up,
                interrupted=outcome.interrupted,
                sweep=outcome.sweep,
                delay_p50_secs=outcome.delays.p50,
                delay_max_secs=None if outcome.delays.max is None else round(outcome.delays.max, 3),
                duration_secs=round(time.monotonic() - started, 3),
            )
        return outcome

    def _requests_since(self, before: dict[str, float]) -> int:
        return int(self._request_counters()["requests"] - before["requests"])

    def _request_counters(self) -> dict[str, float]:
        """What this cycle's log line reports as differences: requests and waiting."""
        return {
            "requests": sum(self.stats.requests.values()),
            "rate_limited": self.stats.rate_limited,
            "rate_limited_wait_secs": self.stats.rate_limited_wait_secs,
            "paced_wait_secs": self.stats.paced_wait_secs,
        }

    async def _cycle(self, outcome: CycleOutcome, stop: asyncio.Event) -> None:
        checkpoint = await asyncio.to_thread(self.store.load) or Checkpoint(self.name)
        self.stats.cursor = checkpoint.cursor
        # The target is fixed when the cycle starts: a cycle that chased the moving
        # "now" would never end when pages are slow or the overlap holds many records.
        cycle_now = self.clock()
        check_clock(checkpoint, cycle_now)
        while not stop.is_set():
            if checkpoint.target is None:
                # Polls re-read a little; every late_sweep_secs one re-reads the horizon.
                sweep = self.sweeps.due(self.config, cycle_now)
                reread = self.sweeps.reread_secs(self.config, checkpoint.cursor, sweep)
                plan = plan_next_pass(
                    checkpoint, self.config, cycle_now, self.source.facts.retention_secs, reread
                )
                self._report(plan)
                if not plan.windows:
                    outcome.caught_up = True
                    return
                checkpoint.begin_pass(plan.windows, plan.start, plan.end)
                outcome.sweep = outcome.sweep or sweep
                outcome.catchup = outcome.catchup or len(plan.windows) > 1
                self._sweep_end = plan.end if sweep else self._sweep_end
            if not await self._reader(checkpoint, self.store, outcome, stop).read():
                break
            if checkpoint.cursor is not None and checkpoint.cursor == self._sweep_end:
                self.sweeps.swept(checkpoint.cursor, cycle_now)
            self.stats.cursor = checkpoint.cursor
        outcome.interrupted = True

    def _reader(
        self,
        checkpoint: Checkpoint,
        store: CheckpointStore,
        outcome: CycleOutcome,
        stop: asyncio.Event,
    ) -> PassReader:
        def report(admission: Admission, page: Page, window: Window, acked_at: float) -> None:
            self._count(outcome, admission, len(page.records), window, page.request_id)
            outcome.time_delivery(admission.events, acked_at, self.stats.delivery_delay)
            if self.on_page is not None:
                self.on_page(self.name, checkpoint.progress(), len(admission.events))

        return PassReader(
            self.source,
            self.sinks,
            checkpoint,
            store,
            overlap_secs=self.sweeps.keep_secs(self.config, checkpoint.target),
            stop=stop,
            report=report,
            commit_interval_secs=self.config.checkpoint_interval_secs,
            clock=self.clock,
        )

    @property
    def _retention_days(self) -> str:
        return f"{self.source.facts.retention_secs // 86400}-day"

    def _report(self, plan: Plan) -> None:
        if plan.gap is not None:
            gap_from, gap_to = (format_iso(t) for t in plan.gap)
            log.error(
                "retention_gap",
                gap_from=gap_from,
                gap_to=gap_to,
                message=f"records from {gap_from} to {gap_to} are older than the endpoint's "
                f"{self._retention_days} retention and can no longer be collected",
            )
        if plan.clamped_lookback:
            log.warning(
                "initial_lookback_clamped",
                message=f"initial_lookback_secs reaches past the endpoint's "
                f"{self._retention_days} retention; "
                "starting at the oldest readable time",
            )
        if plan.windows:
            log.info(
                "pass_started",
                window_from=format_iso(plan.windows[0].start),
                window_to=format_iso(plan.windows[-1].end),
                slices=len(plan.windows),
            )

    def _count(
        self,
        outcome: CycleOutcome,
        admission: Admission,
        clicks: int,
        window: Window,
        request_id: str,
    ) -> None:
        outcome.pages += 1
        outcome.events += len(admission.events)
        outcome.duplicates += admission.duplicates
        self.stats.pages += 1
        self.stats.events += len(admission.events)
        self.stats.duplicates += admission.duplicates
        if admission.events:
            newest = max(event.time for event in admission.events)
            self.stats.newest_delivered = max(self.stats.newest_delivered or newest, newest)
        anomalies = {
            key: value
            for key, value in (
                ("undated", admission.undated),
                ("out_of_window", admission.out_of_window),
                ("out_of_order", admission.out_of_order),
                ("malformed", admission.malformed),
            )
            if value
        }
        if admission.foreign:
            # Dated in a later slice of this pass: that slice delivers them.
            anomalies["next_slice"] = admission.foreign
        log.log(
            30 if len(anomalies) > ("next_slice" in anomalies) else 20,
            "page_delivered",
            clicks=clicks,
            events=len(admission.events),
            duplicates=admission.duplicates,
            frontier=format_iso(window.frontier),
            window_to=format_iso(window.end),
            request_id=request_id,
            **anomalies,
        )
