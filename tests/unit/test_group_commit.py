"""Group commit: one checkpoint write for several pages, with a bound on what is unsaved."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from collector.checkpoint import Checkpoint, PageProgress, Window
from collector.commit import GroupCommit
from collector.errors import CheckpointError
from collector.store import CheckpointStore


class CountingStore(CheckpointStore):
    """The real store, counting its writes; ``gate`` (when set) holds a write like a
    stalled disk until the test opens it."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir, "s")
        self.writes: list[bytes] = []
        self.gate: threading.Event | None = None

    def write(self, data: bytes) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        super().write(data)
        self.writes.append(data)


def checkpoint() -> Checkpoint:
    window = Window(1_000, 100_000)
    return Checkpoint("s", target=window.end, windows=[window])


def record(cp: Checkpoint, at: int) -> None:
    """Record one acknowledged page whose newest click is dated ``at``."""
    cp.record_page(cp.windows[0], PageProgress(at, {}), f"token-{at}", overlap_secs=60)


def saved(store: CheckpointStore) -> Checkpoint:
    loaded = store.load()
    assert loaded is not None
    return loaded


async def test_interval_zero_writes_every_page_before_returning(tmp_path: Path) -> None:
    store, cp = CountingStore(tmp_path), checkpoint()
    async with GroupCommit(store, cp, interval_secs=0) as commit:
        for at in range(2_000, 2_005):
            record(cp, at)
            await commit.recorded()
            assert saved(store).windows[0].frontier == at
    assert len(store.writes) == 5


async def test_pages_of_one_interval_share_one_write(tmp_path: Path) -> None:
    store, cp = CountingStore(tmp_path), checkpoint()
    async with GroupCommit(store, cp, interval_secs=60) as commit:
        for at in range(2_000, 2_050):
            record(cp, at)
            await commit.recorded()
        await asyncio.sleep(0.05)
        assert store.writes == [], "a write waits for half an interval to gather pages"
        await commit.flush()
        assert len(store.writes) == 1
        assert saved(store).windows[0].frontier == 2_049
        assert saved(store).windows[0].page_token == "token-2049"


async def test_changes_are_saved_within_the_interval_without_more_pages(tmp_path: Path) -> None:
    store, cp = CountingStore(tmp_path), checkpoint()
    async with GroupCommit(store, cp, interval_secs=0.2) as commit:
        record(cp, 2_000)
        await commit.recorded()  # then the reader waits for a slow fetch: no flush
        commit_deadline = time.monotonic() + 2
        while not store.writes and time.monotonic() < commit_deadline:
            await asyncio.sleep(0.01)
        assert store.writes, "an idle reader's last pages must reach the disk by themselves"
        assert saved(store).windows[0].frontier == 2_000


async def test_leaving_saves_what_was_recorded(tmp_path: Path) -> None:
    store, cp = CountingStore(tmp_path), checkpoint()

    async def failing_pass() -> None:
        async with GroupCommit(store, cp, interval_secs=60) as commit:
            record(cp, 2_000)
            await commit.recorded()
            raise RuntimeError("a sink failed on the next page")

    with pytest.raises(RuntimeError):
        await failing_pass()
    assert saved(store).windows[0].frontier == 2_000


async def test_a_stalled_write_holds_the_next_pages_back(tmp_path: Path) -> None:
    """The bound: no page is recorded while an older one is unsaved for longer than the
    interval, so a crash re-delivers at most one interval of pages."""
    store, cp = CountingStore(tmp_path), checkpoint()
    store.gate = threading.Event()
    async with GroupCommit(store, cp, interval_secs=0.2) as commit:
        record(cp, 2_000)
        await commit.recorded()  # returns at once: the change is fresh
        await asyncio.sleep(0.3)  # the write started after 0.1 s and is stalled
        record(cp, 2_001)
        waiting = asyncio.create_task(commit.recorded())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the reader went on while a change was unsaved for 0.6 s"
        store.gate.set()
        await asyncio.wait_for(waiting, 5)
    assert saved(store).windows[0].frontier == 2_001


async def test_a_failed_write_fails_the_reader_and_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    store, cp = CountingStore(blocker), checkpoint()

    async def two_pages() -> None:
        async with GroupCommit(store, cp, interval_secs=0.05) as commit:
            record(cp, 2_000)
            await commit.recorded()
            await asyncio.sleep(0.2)
            record(cp, 2_001)
            await commit.recorded()

    with pytest.raises(CheckpointError, match="state_dir"):
        await two_pages()
