"""Reading one pass: its windows at once, page by page, into every sink, then the checkpoint.

For every page of a window, in this order:

1. fetch it (the source retries what is worth retrying, paced by the quota);
2. judge it by the paging rules (:mod:`collector.paging`);
3. work out which records were not delivered before (:mod:`collector.dedup`);
4. hand them to every sink and wait until every sink has acknowledged;
5. only then record the page in the checkpoint (:meth:`Checkpoint.record_page`);
   a :class:`~collector.commit.GroupCommit` saves it, atomically, together with the
   other pages of the same instant.

While the sinks deliver page n, page n+1 is already being fetched (prefetch, when
the pass is a single window; slices keep requests in flight by themselves); it is
only read, never recorded, until page n is acknowledged. A crash anywhere in steps
1 to 4 leaves the checkpoint before the page, so the page is read and delivered
again (at-least-once, never loss); a crash after 5 but before the group commit wrote
it re-delivers it too (at most ``checkpoint_interval_secs`` of pages, with the same
event ids); a crash during a write leaves the old or the new checkpoint, both
consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import structlog

from collector.checkpoint import Checkpoint, Window
from collector.commit import GroupCommit
from collector.dedup import Admission, admit_page
from collector.delivery import SinkHandle, deliver
from collector.errors import CollectorError, PageTokenRejectedError
from collector.events import format_iso
from collector.paging import PageGuard, Verdict
from collector.source import Page, Source
from collector.store import CheckpointStore

log = structlog.get_logger("collector.passes")

# A pageToken Mimecast rejects restarts the window from its last complete second;
# if that keeps happening within one read, something else is wrong.
MAX_PASS_RESTARTS = 3

PageReport = Callable[[Admission, Page, Window, float], None]
"""Told about every page once it is recorded (counters, the page's log line), with the
moment every sink had acknowledged it (the end of a click's delivery delay)."""


class PassReader:
    """Reads the pass in progress of ``checkpoint`` until done, or until ``stop``."""

    def __init__(
        self,
        source: Source,
        sinks: Sequence[SinkHandle],
        checkpoint: Checkpoint,
        store: CheckpointStore,
        *,
        overlap_secs: int,
        stop: asyncio.Event,
        report: PageReport,
        commit_interval_secs: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.sinks = list(sinks)
        self.checkpoint = checkpoint
        self.store = store
        self.overlap_secs = overlap_secs
        self.stop = stop
        self.report = report
        self.commit_interval_secs = commit_interval_secs
        self.clock = clock
        self._commit: GroupCommit | None = None

    async def read(self) -> bool:
        """Read every window of the pass, several at once, then close it.

        Returns False when ``stop`` interrupted it (the checkpoint is consistent).
        """
        # Several slices already keep requests in flight while the sinks work; prefetch
        # on top would only hold more pages in memory.
        prefetch = len(self.checkpoint.windows) == 1
        interval = self.commit_interval_secs
        async with GroupCommit(self.store, self.checkpoint, interval_secs=interval) as commit:
            self._commit = commit
            try:
                async with asyncio.TaskGroup() as group:
                    for window in list(self.checkpoint.windows):
                        group.create_task(self._read_window(window, prefetch))
            except* CollectorError as errors:
                raise errors.exceptions[0] from None
            if self.stop.is_set() and self.checkpoint.windows:
                return False
            self.checkpoint.finish_pass(self.overlap_secs)
            await commit.recorded()
        return True

    async def _read_window(self, window: Window, prefetch: bool) -> None:
        restarts = 0
        guard = PageGuard()
        pending: asyncio.Task[Page] | None = None
        sent = window.page_token
        target = self.checkpoint.target
        horizon = target if target is not None else window.end
        facts = self.source.facts
        try:
            while not self.stop.is_set():
                if pending is None:
                    sent = window.page_token
                    pending = asyncio.create_task(self._fetch(window, sent))
                try:
                    page = await pending
                    verdict = guard.judge(sent, page.records, page.next_token, page.request_id)
                except PageTokenRejectedError as exc:
                    restarts += 1
                    if restarts > MAX_PASS_RESTARTS:
                        raise
                    await self._restart(window, exc)
                    guard = PageGuard()
                    continue
                finally:
                    pending = None
                last = verdict is not Verdict.MORE
                records = [] if verdict is Verdict.REPEAT else page.records
                admission = admit_page(
                    records,
                    window,
                    self.checkpoint.delivered,
                    self.source.name,
                    horizon=horizon,
                    date_field=facts.date_field,
                    kind=facts.kind,
                )
                guard.advanced(admission.frontier > window.frontier, page.request_id)
                if prefetch and not last and not self.stop.is_set():
                    # Prefetch: read the next page while the sinks deliver this one.
                    sent = page.next_token
                    pending = asyncio.create_task(self._fetch(window, sent))
                await deliver(self.sinks, admission.events)
                acked_at = self.clock()
                next_token = None if last else page.next_token
                self.checkpoint.record_page(
                    window, admission.progress, next_token, self.overlap_secs
                )
                self.report(admission, page, window, acked_at)
                # Let the delivered page go now, not when the next one replaces it: each
                # slice would otherwise hold one through its next fetch (2.5 MiB apiece).
                del page, records, admission
                await self._committer.recorded()
                if last:
                    return
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def _fetch(self, window: Window, token: str | None) -> Page:
        return await self.source.fetch(window.start, window.end, token)

    async def _restart(self, window: Window, error: PageTokenRejectedError) -> None:
        log.warning(
            "pass_restarted",
            reason=str(error),
            restart_from=format_iso(min(window.frontier, window.end)),
            window_to=format_iso(window.end),
        )
        self.checkpoint.restart_window(window)
        await self._committer.recorded()

    @property
    def _committer(self) -> GroupCommit:
        assert self._commit is not None, "only while read() runs"
        return self._commit
