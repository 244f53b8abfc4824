"""collector.fsutil: the one fsync_dir, atomic replacement that never harms the original (D1).

The full-disk case runs for real on a tmpfs in tests/http_sinks/test_hostile_dead_letter.py
(root only); here the same rule is checked everywhere, with the ENOSPC injected at the
``os.write`` level (the one stub the test plan accepts).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from collector import fsutil
from collector.fsutil import NotARegularFileError, fsync_dir, read_regular_file, write_atomically


def test_a_failed_write_leaves_the_original_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "letters.ndjson"
    target.write_bytes(b"line 1\nline 2\n")
    target.chmod(0o600)
    real_write = os.write

    def disk_full_after_a_few_bytes(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 4:
            return real_write(fd, bytes(data[:4]))  # a short write, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fsutil.os, "write", disk_full_after_a_few_bytes)
    with pytest.raises(OSError, match="No space left on device"):
        write_atomically(target, b"line 2\n", mode=0o600)
    monkeypatch.undo()
    assert target.read_bytes() == b"line 1\nline 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["letters.ndjson"]


def test_the_new_file_has_exactly_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "health.json"
    previous = os.umask(0o077)
    try:
        write_atomically(target, b"{}", mode=0o640, durable=False)
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o640
    write_atomically(target, b"[]", mode=0o600)
    assert (target.read_bytes(), target.stat().st_mode & 0o777) == (b"[]", 0o600)


def test_fsync_dir_refuses_what_is_not_a_directory(tmp_path: Path) -> None:
    # O_DIRECTORY: the dead-letter copy of this helper would fsync a file and say nothing.
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "file")
    fsync_dir(tmp_path)


def test_read_regular_file_reads_up_to_its_limit_and_no_further(tmp_path: Path) -> None:
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 100)
    assert read_regular_file(exact, 100) == b"x" * 100
    with pytest.raises(NotARegularFileError, match="larger than the limit of 99 bytes"):
        read_regular_file(exact, 99)
    with pytest.raises(NotARegularFileError, match="is a device"):
        read_regular_file(Path("/dev/zero"), 1 << 20)
