"""One collection cycle of one source: pages in, sinks acknowledge, checkpoint moves.

For every page, in this order:

1. fetch it (retried by the retry policy when worth it, paced by the quota);
2. work out which clicks were not delivered before (:mod:`collector.dedup`);
3. hand them to every sink and wait until every sink has acknowledged;
4. only then record the page in the checkpoint and write it, atomically.

While the sinks deliver page n, page n+1 is already being fetched (prefetch, when
the pass is a single window; slices keep requests in flight by themselves);
it is only read, never recorded, until page n is acknowledged. A crash anywhere
in steps 1 to 3 leaves the checkpoint before the page, so the page is read and
delivered again (at-least-once, never loss); a crash during 4 leaves the old or
the new checkpoint, both consistent.

A long pass is read as several slices at once (:mod:`collector.window`); each
slice records its own pages, and the checkpoint is written under one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from collector.checkpoint import Checkpoint, CheckpointStore, Window
from collector.dedup import Admission, admit_page, commit, prune
from collector.delivery import SinkHandle, deliver
from collector.errors import CollectorError, PageTokenRejectedError
from collector.events import format_iso
from collector.paging import PageGuard, Verdict
from collector.sources.mimecast.client import LogsPage, MimecastClient
from collector.sources.mimecast.config import MimecastSourceConfig
from collector.stats import SourceStats
from collector.window import Plan, check_clock, plan_next_pass

log = structlog.get_logger("collector.pipeline")

PageListener = Callable[[str, float, int], None]
"""Told (source, fraction of the pass delivered, new events) after each page."""

# A pageToken Mimecast rejects restarts the window from its last complete second;
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
    """Runs cycles for one source: planning, paging, dedup, delivery, checkpoint."""

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
        self.name = name
        self.config = config
        self.client = client
        self.sinks = list(sinks)
        self.store = store
        self.clock = clock
        self.on_page: PageListener | None = None
        self.stats: SourceStats = client.stats
        self._save_lock = asyncio.Lock()

    async def run_cycle(self, stop: asyncio.Event | None = None) -> CycleOutcome:
        """Read until caught up with ``now - lag_secs`` as of the start (or until ``stop``).

        Raises the CollectorError that ended the cycle; the checkpoint then still
        points at the last page every sink acknowledged.
        """
        return await self._logged_cycle(self._cycle, stop or asyncio.Event())

    async def run_range(
        self, checkpoint: Checkpoint, store: CheckpointStore, stop: asyncio.Event
    ) -> CycleOutcome:
        """Read a pass planned by the caller (``backfill``) into its own checkpoint."""

        async def work(outcome: CycleOutcome, stop: asyncio.Event) -> None:
            await self._read_pass(checkpoint, store, outcome, stop)
            outcome.caught_up = not outcome.interrupted

        return await self._logged_cycle(work, stop)

    async def _logged_cycle(
        self,
        work: Callable[[CycleOutcome, asyncio.Event], Awaitable[None]],
        stop: asyncio.Event,
    ) -> CycleOutcome:
        outcome = CycleOutcome()
        started = time.monotonic()
        before = self._request_counters()
        with structlog.contextvars.bound_contextvars(
            source=self.name, cycle_id=uuid.uuid4().hex[:12]
        ):
            try:
                await work(outcome, stop)
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
                **{
                    key: round(now - then, 3)
                    for (key, now), then in zip(
                        self._request_counters().items(), before.values(), strict=True
                    )
                },
                caught_up=outcome.caught_up,
                interrupted=outcome.interrupted,
                duration_secs=round(time.monotonic() - started, 3),
            )
        return outcome

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
        # "now" would never end when pages are slow or the overlap holds many clicks.
        cycle_now = self.clock()
        check_clock(checkpoint, cycle_now)
        while not stop.is_set():
            if checkpoint.target is None:
                plan = plan_next_pass(checkpoint, self.config, cycle_now)
                self._report(plan)
                if not plan.windows:
                    outcome.caught_up = True
                    return
            await self._read_pass(checkpoint, self.store, outcome, stop)
        outcome.interrupted = True

    async def _read_pass(
        self,
        checkpoint: Checkpoint,
        store: CheckpointStore,
        outcome: CycleOutcome,
        stop: asyncio.Event,
    ) -> None:
        """Read every window of the pass in progress, several at once, then close it."""
        # Several slices already keep requests in flight while the sinks work; prefetch
        # on top would only hold more pages in memory.
        prefetch = len(checkpoint.windows) == 1
        try:
            async with asyncio.TaskGroup() as group:
                for window in list(checkpoint.windows):
                    group.create_task(
                        self._read_window(checkpoint, window, store, outcome, stop, prefetch)
                    )
        except* CollectorError as errors:
            raise errors.exceptions[0] from None
        if stop.is_set() and checkpoint.windows:
            outcome.interrupted = True
            return
        assert checkpoint.target is not None
        async with self._save_lock:
            checkpoint.cursor = checkpoint.target
            prune(checkpoint.delivered, checkpoint.target - self.config.overlap_secs)
            checkpoint.target = checkpoint.pass_start = None
            checkpoint.windows = []
            await store.asave(checkpoint)
        self.stats.cursor = checkpoint.cursor

    async def _read_window(
        self,
        checkpoint: Checkpoint,
        window: Window,
        store: CheckpointStore,
        outcome: CycleOutcome,
        stop: asyncio.Event,
        prefetch: bool,
    ) -> None:
        restarts = 0
        guard = PageGuard()
        pending: asyncio.Task[LogsPage] | None = None
        sent = window.page_token
        horizon = checkpoint.target if checkpoint.target is not None else window.end
        try:
            while not stop.is_set():
                if pending is None:
                    sent = window.page_token
                    pending = asyncio.create_task(self._fetch(window, sent))
                try:
                    page = await pending
                    verdict = guard.judge(sent, page.clicks, page.next_token, page.request_id)
                except PageTokenRejectedError as exc:
                    restarts += 1
                    if restarts > MAX_PASS_RESTARTS:
                        raise
                    await self._restart(checkpoint, window, store, exc)
                    guard = PageGuard()
                    continue
                finally:
                    pending = None
                last = verdict is not Verdict.MORE
                clicks = [] if verdict is Verdict.REPEAT else page.clicks
                admission = admit_page(
                    clicks, window, checkpoint.delivered, self.name, horizon=horizon
                )
                guard.advanced(admission.frontier > window.frontier, page.request_id)
                if prefetch and not last and not stop.is_set():
                    # Prefetch: read the next page while the sinks deliver this one.
                    sent = page.next_token
                    pending = asyncio.create_task(self._fetch(window, sent))
                await deliver(self.sinks, admission.events)
                await self._record(checkpoint, window, admission, page, last, store)
                self._count(outcome, admission, len(page.clicks), window, page.request_id)
                if self.on_page is not None:
                    self.on_page(self.name, checkpoint.progress(), len(admission.events))
                if last:
                    return
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def _fetch(self, window: Window, token: str | None) -> LogsPage:
        return await self.client.get_logs(window.start, window.end, token)

    async def _record(
        self,
        checkpoint: Checkpoint,
        window: Window,
        admission: Admission,
        page: LogsPage,
        last: bool,
        store: CheckpointStore,
    ) -> None:
        keep_from = (checkpoint.target or window.end) - self.config.overlap_secs
        async with self._save_lock:
            commit(admission, window, checkpoint.delivered)
            # Seconds of this window before its frontier are complete, and no later
            # pass reads them unless they are inside the next overlap.
            prune(checkpoint.delivered, min(window.frontier, keep_from), window.start)
            if last:
                checkpoint.windows.remove(window)
            else:
                window.page_token = page.next_token
            await store.asave(checkpoint)

    async def _restart(
        self,
        checkpoint: Checkpoint,
        window: Window,
        store: CheckpointStore,
        error: PageTokenRejectedError,
    ) -> None:
        # Every second before the frontier is complete; the frontier second itself is
        # read again and its already-delivered copies are recognised by dedup.
        log.warning(
            "pass_restarted",
            reason=str(error),
            restart_from=format_iso(window.frontier),
            window_to=format_iso(window.end),
        )
        async with self._save_lock:
            # The frontier never passes the window's end (dates outside it are not
            # trusted), so the re-read always covers the rest of the window.
            window.start = min(window.frontier, window.end)
            window.page_token = None
            window.pass_counts = {}
            await store.asave(checkpoint)

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
