"""Checkpoint persistence: atomic writes, clear errors, one process per source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.checkpoint import Checkpoint, Window
from collector.errors import CheckpointError
from collector.store import CheckpointStore


def sample() -> Checkpoint:
    window = Window(1_700_000_000, 1_700_001_800, page_token="tok", frontier=1_700_001_000)
    window.pass_counts["abc"] = 2
    window.keep_until = 1_700_001_800
    return Checkpoint(
        "url_clicks",
        cursor=1_699_999_000,
        target=1_700_003_600,
        pass_start=1_700_000_000,
        windows=[window, Window(1_700_001_800, 1_700_003_600)],
        delivered={1_700_001_000: {"abc": 2, "def": 1}},
        not_before=1_699_000_000,
    )


def test_round_trip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "url_clicks")
    assert store.load() is None
    store.save(sample())
    assert store.load() == sample()
    assert (tmp_path / "url_clicks.checkpoint.json").stat().st_mode & 0o777 == 0o600


def test_no_temp_files_are_left_behind(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "url_clicks")
    for _ in range(3):
        store.save(sample())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["url_clicks.checkpoint.json"]


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"schema": 1}', b'{"schema": 99, "source": "url_clicks"}', b"[]"],
)
def test_corrupt_checkpoint_is_an_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "url_clicks.checkpoint.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        CheckpointStore(tmp_path, "url_clicks").load()
    assert str(path) in str(info.value)
    assert "checkpoint reset" in str(info.value)
    assert path.read_bytes() == content  # never silently replaced


def test_checkpoint_of_another_source_is_rejected(tmp_path: Path) -> None:
    CheckpointStore(tmp_path, "a").save(Checkpoint("a"))
    os.rename(tmp_path / "a.checkpoint.json", tmp_path / "b.checkpoint.json")
    with pytest.raises(CheckpointError, match="belongs to source 'a'"):
        CheckpointStore(tmp_path, "b").load()


def test_unwritable_state_dir_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CheckpointError, match="state_dir"):
        CheckpointStore(blocker / "state", "a").save(Checkpoint("a"))


def test_lock_is_exclusive(tmp_path: Path) -> None:
    first = CheckpointStore(tmp_path, "a")
    first.lock()
    with pytest.raises(CheckpointError, match="another mimecast-collector"):
        CheckpointStore(tmp_path, "a").lock()
    first.unlock()
    second = CheckpointStore(tmp_path, "a")
    second.lock()
    second.unlock()
