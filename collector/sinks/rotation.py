"""Blocking file work of the file sink: opening, tail repair, rotation, compression, retention.

Everything here blocks; the sink calls it from a worker thread. Rotated files keep the
active file's name as their prefix::

    url-clicks.ndjson                          the active file
    url-clicks.ndjson.20241117T170230Z         rotated at 17:02:30 UTC
    url-clicks.ndjson.20241117T170230Z-1.gz    rotated in the same second, then gzipped

A *generation* is one rotated file, identified by ``(stamp, seq)``; it may exist as the
plain file, its ``.gz``, and a ``.gz.tmp`` left by an interrupted compression.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import re
import shutil
import time
from pathlib import Path

import structlog

from collector.errors import ConfigError
from collector.fsutil import fsync_dir

_STAMP = "%Y%m%dT%H%M%SZ"
_CHUNK = 1 << 16
# gzip's command-line default: level 9 costs about twice the CPU for a ~3% smaller file.
_GZIP_LEVEL = 6
_PLAIN, _GZ, _TMP = "", ".gz", ".gz.tmp"

Generation = tuple[str, int]
"""``(UTC stamp, same-second sequence number)``; tuple order is age order."""


def open_append(path: Path, file_mode: int) -> int:
    """Open ``path`` for appending; create it durably, with exactly ``file_mode``, if missing.

    Returns:
        The file descriptor (close-on-exec).
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, file_mode)
    except FileExistsError:
        return os.open(path, flags)
    try:
        # The umask may have narrowed the mode; the configured one is what was asked for.
        os.fchmod(fd, file_mode)
        # An fsynced page is only safe if the directory entry leading to it is too.
        fsync_dir(path.parent)
    except BaseException:
        os.close(fd)
        raise
    return fd


def refuse_symlink(path: Path, key: str, follow_symlinks: bool) -> None:
    """Raise ConfigError naming ``key`` when ``path`` is a symbolic link not to be followed.

    Writing through a link would append to, and cut the torn tail of, whatever file it
    leads to, which may belong to someone else; following one must be asked for.
    """
    if follow_symlinks:
        return
    try:
        target = os.readlink(path)
    except OSError:  # not a link, or missing: the open reports what matters
        return
    raise ConfigError(
        f"{key}: '{path}' is a symbolic link (to '{target}'); the file sink does not write "
        "through links unless follow_symlinks = true"
    )


def repair_tail(path: Path) -> int:
    """Cut a partial last line off ``path``, reading backwards in chunks.

    A crash in the middle of a ``write`` leaves a partial line; its page is sent again,
    so the cut loses nothing, and readers only ever see whole lines.

    Returns:
        The number of bytes removed (0 when the file is missing, empty or whole).
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        size = end = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return 0
        cut = 0
        while end > 0:
            start = max(0, end - _CHUNK)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            end = start
        os.ftruncate(fd, cut)
        os.fsync(fd)
        return size - cut
    finally:
        os.close(fd)


def rotate(active: Path, now: float) -> Path:
    """Rename the (fsynced, closed) active file to its rotated name; fsync the directory.

    Returns:
        The rotated file's path.
    """
    target = _path(active, _next_generation(active, now), _PLAIN)
    os.rename(active, target)
    fsync_dir(active.parent)
    return target


class Tidier:
    """Runs :func:`tidy` for one file sink beside its sends, one run at a time.

    A failure is logged, not raised: it is tried again after the next rotation and at
    the next start, and the page that triggered it is already safe, so failing its
    send would only double it.
    """

    def __init__(self, sink: str, active: Path, keep: int, compress: bool, file_mode: int):
        self._sink, self._active = sink, active
        self._keep, self._compress, self._file_mode = keep, compress, file_mode
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self) -> None:
        """Start a run in the background."""
        task = asyncio.create_task(self.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the runs in the background."""
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def run(self) -> None:
        """Tidy now, after any run in progress."""
        async with self._lock:
            try:
                await asyncio.to_thread(
                    tidy,
                    self._active,
                    keep=self._keep,
                    compress=self._compress,
                    file_mode=self._file_mode,
                )
            except OSError as exc:
                structlog.get_logger("collector.sinks.file").warning(
                    "file_tidy_failed", sink=self._sink, path=str(self._active), error=str(exc)
                )


def tidy(active: Path, *, keep: int, compress: bool, file_mode: int) -> None:
    """Finish interrupted work, apply ``keep``, then gzip when ``compress`` is on.

    Idempotent; the caller must not run two at once. The newest generation is not
    gzipped (logrotate's ``delaycompress``): a tailer that followed the rename may still
    be reading it, and unlinking the plain file would cut it off.
    """
    found = _scan(active)
    for generation, kinds in found.items():
        if _TMP in kinds:
            # A compression died half-way; its plain source is still there.
            _unlink(_path(active, generation, _TMP))
            kinds.discard(_TMP)
        if _PLAIN in kinds and _GZ in kinds:
            # The .gz was renamed into place only once complete: the plain copy is spare.
            _unlink(_path(active, generation, _PLAIN))
            kinds.discard(_PLAIN)
    generations = sorted(generation for generation, kinds in found.items() if kinds)
    doomed = len(generations) - keep if len(generations) > keep else 0
    for generation in generations[:doomed]:
        for kind in found[generation]:
            _unlink(_path(active, generation, kind))
    fsync_dir(active.parent)
    if compress:
        for generation in generations[doomed:-1]:
            if _PLAIN in found[generation]:
                _gzip(_path(active, generation, _PLAIN), file_mode)


def _pattern(active: Path) -> re.Pattern[str]:
    return re.compile(
        re.escape(active.name) + r"\.(\d{8}T\d{6}Z)(?:-([1-9][0-9]*))?(\.gz|\.gz\.tmp)?"
    )


def _scan(active: Path) -> dict[Generation, set[str]]:
    pattern = _pattern(active)
    found: dict[Generation, set[str]] = {}
    with os.scandir(active.parent) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                generation = (match[1], int(match[2] or 0))
                found.setdefault(generation, set()).add(match[3] or _PLAIN)
    return found


def _next_generation(active: Path, now: float) -> Generation:
    stamp = time.strftime(_STAMP, time.gmtime(now))
    existing = _scan(active)
    newest = max(existing, default=None)
    if newest is None or stamp > newest[0]:
        return (stamp, 0)
    # Same second, or the clock stepped back: stay after the newest so that name order
    # remains age order and retention deletes the right files.
    return (newest[0], newest[1] + 1)


def _path(active: Path, generation: Generation, kind: str) -> Path:
    stamp, seq = generation
    suffix = f"-{seq}" if seq else ""
    return active.with_name(f"{active.name}.{stamp}{suffix}{kind}")


def _gzip(plain: Path, file_mode: int) -> None:
    tmp = plain.with_name(plain.name + _TMP)
    try:
        with open(plain, "rb") as source, open(_create(tmp, file_mode), "wb") as raw:
            mtime = int(os.fstat(source.fileno()).st_mtime)
            with gzip.GzipFile(plain.name, "wb", _GZIP_LEVEL, raw, mtime) as packed:
                shutil.copyfileobj(source, packed, _CHUNK)
            raw.flush()
            os.fsync(raw.fileno())
        os.rename(tmp, plain.with_name(plain.name + _GZ))
    except BaseException:
        # A partial .gz.tmp would hold disk space until the next tidy; drop it now.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The .gz must be durable before its only other copy goes.
    fsync_dir(plain.parent)
    os.unlink(plain)
    fsync_dir(plain.parent)


def _create(path: Path, file_mode: int) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, file_mode)
    os.fchmod(fd, file_mode)
    return fd


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
