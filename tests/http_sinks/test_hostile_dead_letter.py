"""``dlq replay`` that fails half-way never loses or exposes its file (D1).

The full disk is real: a 1 MiB tmpfs mounted for the test (the tests run as root in
CI's container; elsewhere the test is skipped and ``tests/unit/test_hostile_files.py``
covers the same rule with the write error injected).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.commands import replay_dead_letters
from collector.config import CollectorConfig
from collector.result import CommandResult
from collector.sinks.http.dead_letter import DeadLetterStore, Rejection

from .bulk_emulator import BulkEmulator
from .helpers import events
from .test_dead_letter import collector_config


async def replay(config: CollectorConfig, sink: str) -> CommandResult:
    """``dlq replay --sink <sink>``, its output kept in the result."""
    return await replay_dead_letters(config, sink, CommandResult())


STREAM = "logs-mimecast.ttp_url-default"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on its own 1 MiB tmpfs."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(directory: Path) -> None:
    """Write until the disk is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, bytes(2 << 20))  # more than the whole disk: a short write fills it
        with pytest.raises(OSError, match="No space left on device"):
            os.write(fd, b"\0")
    finally:
        os.close(fd)


def _config(tmp_path: Path, emulator: BulkEmulator, letters: Path) -> CollectorConfig:
    return collector_config(tmp_path, emulator, dead_letter_dir=str(letters), retry_max_secs=0.2)


async def _letters_with_second_batch_refused(
    emulator: BulkEmulator, letters: Path, count: int = 700
) -> Path:
    """A dead-letter file of ``count`` events; the receiver keeps refusing those after 500."""
    store = DeadLetterStore("es", letters)
    page = events(count)
    path = await store.write([(e, Rejection(400, "mapper_parsing_exception", "x")) for e in page])
    await store.aclose()
    for event in page[500:]:
        emulator.fail_item(event.event_id, 403, "cluster_block_exception", "read-only", count=99)
    return path


async def test_a_replay_failing_on_a_full_disk_leaves_the_file_whole(
    bulk: Any, tmp_path: Path, small_disk: Path
) -> None:
    emulator = await bulk()
    letters = small_disk / "es"
    path = await _letters_with_second_batch_refused(emulator, letters)
    before = path.read_bytes()
    _fill(small_disk)

    result = await replay(_config(tmp_path, emulator, letters), "es")
    assert result.failed

    assert path.read_bytes() == before  # not emptied, not cut: every line still there
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in letters.iterdir()) == [path.name]  # no temp file left
    # The command's own output: one line (the retries before it are log lines).
    [line] = [out for out in result.output().splitlines() if out.startswith("sink es:")]
    assert "No space left on device" in line
    assert "left whole, so the next replay sends those again" in line
    assert "500 events not delivered" not in line  # the first batch of 500 was delivered...
    assert len(emulator.stored(STREAM)) == 500  # ...as the receiver confirms


async def test_a_failed_replay_keeps_the_file_0600(bulk: Any, tmp_path: Path) -> None:
    emulator = await bulk()
    letters = tmp_path / "state" / "dead-letter" / "es"
    path = await _letters_with_second_batch_refused(emulator, letters)
    previous = os.umask(0o022)  # the usual umask: a plain open() would make it 0644
    try:
        assert (await replay(_config(tmp_path, emulator, letters), "es")).failed
    finally:
        os.umask(previous)
    assert len(path.read_bytes().splitlines()) == 200  # the 200 not yet re-sent
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_replay_that_sent_nothing_does_not_rewrite_the_file(
    bulk: Any, tmp_path: Path
) -> None:
    emulator = await bulk()
    letters = tmp_path / "letters"
    path = await _letters_with_second_batch_refused(emulator, letters, count=300)
    for event in events(300):
        emulator.fail_item(event.event_id, 403, "cluster_block_exception", "read-only", count=99)
    inode = path.stat().st_ino
    assert (await replay(_config(tmp_path, emulator, letters), "es")).failed
    assert path.stat().st_ino == inode  # untouched, not replaced by a copy
    assert len(path.read_bytes().splitlines()) == 300
