"""One collection cycle of one source: pages in, sinks acknowledge, checkpoint moves.

For every page, in this order:

1. fetch it (retried by the retry policy when worth it);
2. keep only the clicks not delivered before (:mod:`collector.dedup`);
3. hand them to every sink and wait until every sink has acknowledged;
4. only then write the checkpoint past that page, atomically.

A crash anywhere in steps 1 to 3 leaves the checkpoint before the page, so the page is
read and delivered again (at most that page: at-least-once, never loss). A
crash during 4 leaves the old or the new checkpoint, both consistent. Only one
page is held in memory at a time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from collector.checkpoint import Checkpoint, CheckpointStore, Window
from collector.dedup import Admission, admit_page, prune
from collector.delivery import SinkHandle, deliver
from collector.errors import CollectorError, PageTokenRejectedError
from collector.events import format_iso
from collector.sources.mimecast.client import MimecastClient
from collector.sources.mimecast.config import MimecastSourceConfig
from collector.stats import SourceStats
from collector.window import Plan, plan_next_window

log = structlog.get_logger("collector.pipeline")

PageListener = Callable[[str, Window, int], None]
"""Told (source, window, new events) after each acknowledged page: progress bars."""

# A pageToken Mimecast rejects restarts the pass from the last complete second;
# if that keeps happening within one cycle, something else is wrong.
MAX_PASS_RESTARTS = 3


@dataclass(slots=True)
class CycleOutcome:
    """What one cycle did."""

    pages: int = 0
    events: int = 0
    duplicates: int = 0
    caught_up: bool = False
    interrupted: bool = False


class SourceRunner:
    """Runs cycles for one source: window planning, paging, dedup, delivery, checkpoint."""

    def __init__(
        self,
        name: str,
        config: MimecastSourceConfig,
        client: MimecastClient,
        sinks: Sequence[SinkHandle],
        store: CheckpointStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.on_page: PageListener | None = None
        self.name = name
        self.config = config
        self.client = client
        self.sinks = list(sinks)
        self.store = store
        self.clock = clock
        self.stats: SourceStats = client.stats

    async def run_cycle(self, stop: asyncio.Event | None = None) -> CycleOutcome:
        """Read until caught up with ``now - lag_secs`` (or until ``stop`` is set).

        Raises the CollectorError that ended the cycle; the checkpoint then still
        points at the last page every sink acknowledged.
        """
        outcome = CycleOutcome()
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(
            source=self.name, cycle_id=uuid.uuid4().hex[:12]
        ):
            try:
                await self._pages(outcome, stop)
            except CollectorError as exc:
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
            if outcome.caught_up:
                self.stats.cycles_ok += 1
                self.stats.last_success_at = self.clock()
                self.stats.last_error = None
            log.info(
                "cycle_finished",
                pages=outcome.pages,
                events=outcome.events,
                duplicates=outcome.duplicates,
                caught_up=outcome.caught_up,
                interrupted=outcome.interrupted,
                duration_secs=round(time.monotonic() - started, 3),
            )
        return outcome

    async def _pages(self, outcome: CycleOutcome, stop: asyncio.Event | None) -> None:
        checkpoint = await asyncio.to_thread(self.store.load) or Checkpoint(self.name)
        self.stats.cursor = checkpoint.cursor
        # The target is fixed when the cycle starts: a cycle that chased the moving
        # "now" would never end when pages are slow or the overlap holds many clicks.
        cycle_now = self.clock()
        restarts = 0
        while True:
            if stop is not None and stop.is_set():
                outcome.interrupted = True
                return
            if checkpoint.window is None:
                plan = plan_next_window(checkpoint, self.config, cycle_now)
                self._report(plan)
                if plan.window is None:
                    outcome.caught_up = True
                    return
                checkpoint.window = plan.window
            window = checkpoint.window
            try:
                page = await self.client.get_logs(window.start, window.end, window.page_token)
                if page.next_token is not None and page.next_token == window.page_token:
                    raise PageTokenRejectedError(
                        "Mimecast returned the same pageToken it was sent (pagination loop)",
                        request_id=page.request_id,
                    )
            except PageTokenRejectedError as exc:
                restarts += 1
                if restarts > MAX_PASS_RESTARTS:
                    raise
                self._restart_pass(window, exc)
                await self.store.asave(checkpoint)
                continue
            admission = admit_page(page.clicks, window, checkpoint.delivered, self.name)
            await deliver(self.sinks, admission.events)
            self._advance(checkpoint, window, page.next_token, bool(page.clicks))
            await self.store.asave(checkpoint)
            self.stats.cursor = checkpoint.cursor
            self._count(outcome, admission, len(page.clicks), window, page.request_id)
            if self.on_page is not None:
                self.on_page(self.name, window, len(admission.events))

    def _advance(
        self, checkpoint: Checkpoint, window: Window, next_token: str | None, had_clicks: bool
    ) -> None:
        keep_from = window.end - self.config.overlap_secs
        if next_token is None or not had_clicks:
            # An empty page ends the window even if it still carries `next` (a known quirk).
            checkpoint.cursor = window.end
            checkpoint.window = None
            prune(checkpoint.delivered, keep_from)
        else:
            window.page_token = next_token
            prune(checkpoint.delivered, min(window.frontier, keep_from))

    def _restart_pass(self, window: Window, error: PageTokenRejectedError) -> None:
        # Every second before the frontier is complete; the frontier second itself is
        # read again and its already-delivered copies are recognised by dedup.
        log.warning(
            "pass_restarted",
            reason=str(error),
            restart_from=format_iso(window.frontier),
            window_to=format_iso(window.end),
        )
        window.start = window.frontier
        window.page_token = None
        window.pass_counts.clear()

    def _report(self, plan: Plan) -> None:
        if plan.gap is not None:
            gap_from, gap_to = (format_iso(t) for t in plan.gap)
            log.error(
                "retention_gap",
                gap_from=gap_from,
                gap_to=gap_to,
                message=f"clicks from {gap_from} to {gap_to} are older than Mimecast's "
                "30-day retention and can no longer be collected",
            )
        if plan.clamped_lookback:
            log.warning(
                "initial_lookback_clamped",
                message="initial_lookback_secs reaches past Mimecast's 30-day retention; "
                "starting at the oldest readable time",
            )
        if plan.window is not None:
            log.info(
                "window_started",
                window_from=format_iso(plan.window.start),
                window_to=format_iso(plan.window.end),
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
                ("out_of_order", admission.out_of_order),
                ("malformed", admission.malformed),
            )
            if value
        }
        log.log(
            30 if anomalies else 20,
            "page_delivered",
            clicks=clicks,
            events=len(admission.events),
            duplicates=admission.duplicates,
            frontier=format_iso(window.frontier),
            window_to=format_iso(window.end),
            request_id=request_id,
            **anomalies,
        )
