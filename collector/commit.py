"""Group commit: the checkpoint is written behind the pages, one write for several.

Every page is recorded in the in-memory :class:`~collector.checkpoint.Checkpoint` as
soon as every sink has acknowledged it (the checkpoint never moves earlier than that).
Writing it to disk (temp file, fsync, rename, fsync of the directory) after every page
cost more than a fifth of a catch-up's time, so a :class:`GroupCommit` writes it in the
background instead: at most about twice per ``interval_secs`` while pages flow, each
write covering every page recorded since the one before.

The bound, which is what a crash can cost: a page is never recorded while an earlier
change has stayed unsaved for longer than ``interval_secs`` (the reader waits for the
write instead), so a kill -9 re-delivers at most the pages acknowledged within one
``interval_secs`` span, with the same event ids. ``interval_secs = 0`` writes after
every page, as before group commit. Passes end, restart and stop with
:meth:`GroupCommit.flush`, so a graceful stop re-delivers nothing.

Snapshots are serialized on the event loop, between two pages, so a write can never
hold half of a page's changes; only the file work runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from collector.checkpoint import Checkpoint
from collector.errors import CheckpointError
from collector.store import CheckpointStore


class GroupCommit:
    """Writes one checkpoint behind the pages that change it."""

    def __init__(
        self,
        store: CheckpointStore,
        checkpoint: Checkpoint,
        *,
        interval_secs: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.checkpoint = checkpoint
        self.interval_secs = interval_secs
        self.writes = 0
        self._clock = clock
        self._changed = asyncio.Event()
        self._written = asyncio.Condition()
        self._generation = 0
        """Changes recorded so far; a write covers every change up to its snapshot."""
        self._saved_generation = 0
        self._dirty_since: float | None = None
        """When the oldest change not yet in a snapshot was recorded."""
        self._writing_since: float | None = None
        """When the oldest change of the snapshot being written was recorded."""
        self._hurry = False
        self._error: CheckpointError | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GroupCommit:
        self._task = asyncio.create_task(self._run(), name=f"checkpoint {self.store.source}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Flush what was recorded, even when the pass failed: those pages were
        acknowledged, and saving them spares their re-delivery."""
        try:
            if self._error is None:
                await self.flush()
        finally:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def recorded(self) -> None:
        """Note one change of the checkpoint (call right after the transition).

        Waits while an older change has been unsaved for more than ``interval_secs``
        (the bound on re-delivery), and raises the error of a failed write.

        Raises:
            CheckpointError: a write failed (the disk is full, the directory is gone).
        """
        self._raise_if_failed()
        self._generation += 1
        if self._dirty_since is None:
            self._dirty_since = self._clock()
        self._changed.set()
        if self.interval_secs <= 0:
            await self.flush()
            return
        while (oldest := self._oldest_unsaved()) is not None and (
            self._clock() - oldest > self.interval_secs
        ):
            await self._wait_for_a_write()

    async def flush(self) -> None:
        """Write every change recorded so far, now, and wait until it is on disk.

        Raises:
            CheckpointError: the write failed.
        """
        target = self._generation
        while self._saved_generation < target:
            self._hurry = True
            self._changed.set()
            await self._wait_for_a_write()

    def _oldest_unsaved(self) -> float | None:
        if self._writing_since is None:
            return self._dirty_since
        if self._dirty_since is None:
            return self._writing_since
        return min(self._writing_since, self._dirty_since)

    async def _wait_for_a_write(self) -> None:
        async with self._written:
            self._raise_if_failed()
            await self._written.wait()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    async def _run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._generation == self._saved_generation:
                continue
            assert self._dirty_since is not None
            # Gather the pages of half an interval into one write, unless asked to hurry.
            delay = self._dirty_since + self.interval_secs / 2 - self._clock()
            if delay > 0 and not self._hurry:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        while not self._hurry:
                            await self._changed.wait()
                            self._changed.clear()
            self._hurry = False
            generation, data = self._generation, self.checkpoint.to_json()
            self._writing_since, self._dirty_since = self._dirty_since, None
            try:
                await asyncio.to_thread(self.store.write, data)
            except CheckpointError as error:
                self._error = error
            else:
                self._saved_generation = generation
                self.writes += 1
            finally:
                self._writing_since = None
                async with self._written:
                    self._written.notify_all()
            if self._error is not None:
                return
