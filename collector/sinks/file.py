"""The ``file`` sink: NDJSON appended to a local file, fsynced per page, rotated by renames.

A page is acknowledged only once it is written and fsynced. A crash between the write
and the checkpoint means the page is written again after the restart: delivery is
at-least-once, and the ``envelope`` format carries an ``event_id`` to drop the doubles.
A crash during the write leaves a partial line, which the next start cuts off.

Rotation renames the active file (tailers such as Filebeat or the Splunk UF follow the
rename) and starts a new one (:mod:`collector.sinks.rotation`). A ``path`` with
``{source}`` or ``{kind}`` is one such file per expanded path (:mod:`.file_split`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import orjson
import structlog
from pydantic import Field, field_validator

from collector.bounds import MAX_FILE_AGE_SECS, MAX_FILE_BYTES, MAX_KEPT_FILES
from collector.errors import SinkError
from collector.events import Batch
from collector.sinks import SinkConfig, SinkContext, not_started
from collector.sinks.encoding import Format, encode_ndjson
from collector.sinks.file_split import SplitFileSink, template_fields
from collector.sinks.rotation import Tidier, open_append, refuse_symlink, repair_tail, rotate

log = structlog.get_logger("collector.sinks.file")


class FileSinkConfig(SinkConfig):
    """``[sinks.<name>]`` with ``type = "file"``."""

    type: Literal["file"] = Field(description='Sink type: `"file"`.')
    path: Path = Field(
        description="The active file. Parent directories are created. Rotated files sit "
        "next to it as `<path>.<UTC time %Y%m%dT%H%M%SZ>[-<n>][.gz]`. `{source}` and `{kind}` "
        "in it give each source or kind a file of its own.",
    )
    format: Format = Field(
        default="raw",
        description="`raw`: each click log exactly as Mimecast returned it, one per line. "
        "`envelope`: `{event_id, source, time, log}` per line, to deduplicate by event_id.",
    )
    max_bytes: int = Field(
        default=104_857_600,
        ge=1,
        le=MAX_FILE_BYTES,
        description="Rotate before a page would make the active file larger than this. "
        "A page is never split, so a file may exceed it by less than one page.",
    )
    max_age_secs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_FILE_AGE_SECS,
        description="Rotate at the first write once the active file is this old: counted "
        "from its creation, or from its last modification for a file found at start. "
        "Default: no age limit.",
    )
    keep: int = Field(
        default=10,
        ge=0,
        le=MAX_KEPT_FILES,
        description="Rotated files kept; older ones are deleted. Keep at least 1 when a "
        "tailer reads the file, so it can finish the file it was reading.",
    )
    compress: bool = Field(
        default=False,
        description="Gzip rotated files, except the newest (a tailer may still be reading it).",
    )
    file_mode: int = Field(
        default=0o640,
        ge=0,
        le=0o777,
        description="Permissions of the files the sink creates, e.g. `0o640`.",
    )
    follow_symlinks: bool = Field(
        default=False,
        description="Write through a `path` that is a symbolic link (refused otherwise, at "
        "start). Rotation then renames the link itself; the next active file is a regular file.",
    )

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: Path) -> Path:
        template_fields(str(value))
        return value

    def build(self, name: str, context: SinkContext) -> FileSink | SplitFileSink:
        """Return the sink this config describes, not started yet."""
        if template_fields(str(self.path)):
            return SplitFileSink(name, self.path, lambda path: FileSink(name, self, path=path))
        return FileSink(name, self)


class FileSink:
    """Appends each page to ``config.path`` with one ``write`` and one ``fsync``.

    Size rotation happens before a page that would take the file past ``max_bytes``; a
    page is never split across two files, so a file exceeds ``max_bytes`` only when a
    single page is larger than it. Age rotation is checked at each ``send``: an idle file
    is rotated at its next write, and an empty file is never rotated. The age clock starts
    when this process creates the file or, for a non-empty file found when the sink opens
    it, at that file's mtime.

    ``name`` is the sink's (errors carry it); ``clock`` returns epoch seconds, so tests
    control ages and file names; ``path`` is an expanded ``{source}/{kind}`` path.
    """

    def __init__(
        self,
        name: str,
        config: FileSinkConfig,
        *,
        clock: Callable[[], float] = time.time,
        path: Path | None = None,
    ) -> None:
        self.name = name
        self.path = config.path if path is None else path  # an expanded {source}/{kind} path
        self._key = f"sinks.{name}.path"  # errors about the path name its config key
        self._config = config
        self._clock = clock
        self._fd: int | None = None
        self._started = False
        self._identity: tuple[int, int] | None = None
        self._born = 0.0
        self._tidy_due = False
        # One page at a time, so concurrent sources never interleave lines or race a rotation.
        self._lock = asyncio.Lock()
        # A cancelled send releases the asyncio lock while its thread still runs; this
        # lock keeps the next thread off the descriptor until the first one is done.
        self._io_lock = threading.Lock()
        self._tidier = Tidier(name, self.path, config.keep, config.compress, config.file_mode)

    async def start(self) -> None:
        """Create directories, cut a torn last line, open the file, finish old rotations.

        Raises:
            SinkError: the file cannot be opened.
        """
        async with self._lock:
            self._started = True  # even if the open fails: each send reopens as needed
            await self._in_thread(self._open_locked)
        await self._tidier.run()

    async def send(self, events: Batch) -> None:
        """Append one page and fsync it; returning is the acknowledgement.

        The page goes whole into one file, rotating first if it is due; so the file may
        exceed ``max_bytes`` by less than one page, and only when that page is larger
        than ``max_bytes``.

        Raises:
            SinkError: the page is not acknowledged. What was written of it is cut off
                again where the OS allows, and the next ``send`` reopens the file.
        """
        if not events:
            return
        if not self._started:
            raise not_started(self.name)
        try:
            page = encode_ndjson(events, self._config.format)
        except orjson.JSONEncodeError as exc:
            raise SinkError(self.name, f"cannot encode a click as JSON: {exc}") from exc
        async with self._lock:
            try:
                await self._in_thread(self._append, page)
            finally:
                if self._tidy_due:
                    self._tidy_due = False
                    self._tidier.spawn()

    async def healthcheck(self) -> None:
        """Check the file's directory exists and the file can be opened for append.

        Raises:
            SinkError: naming the path and the reason.
        """
        if not self._started:
            raise not_started(self.name, "healthcheck()")
        await self._in_thread(refuse_symlink, self.path, self._key, self._config.follow_symlinks)
        await self._in_thread(lambda: os.close(open_append(self.path, self._config.file_mode)))

    async def aclose(self) -> None:
        """Close the file and wait for a running compression. Safe to call twice."""
        async with self._lock:
            self._started = False
            await self._in_thread(self._close_locked)
        await self._tidier.wait()

    async def _in_thread(self, work: Callable[..., object], *args: object) -> None:
        try:
            await asyncio.to_thread(work, *args)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise SinkError(self.name, f"cannot write '{self.path}': {reason}") from exc

    # Everything below runs in a worker thread.

    def _open_locked(self) -> None:
        with self._io_lock:
            self._close()  # a second start() must not leak the first descriptor
            self._open()

    def _close_locked(self) -> None:
        with self._io_lock:
            self._close()

    def _append(self, page: bytes) -> None:
        with self._io_lock:
            try:
                self._write(page)
            except OSError:
                # Start over from the path next time: reopening also cuts a torn tail.
                self._close()
                raise

    def _write(self, page: bytes) -> None:
        fd = self._fd
        if fd is None or not self._is_current(fd):
            self._close()
            fd = self._open()
        size = os.fstat(fd).st_size
        if self._rotation_due(size, len(page)):
            fd = self._rotate(fd)
            size = 0
        view = memoryview(page)
        try:
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            # The page will be sent again: leave no piece of it behind, or the retry would
            # double its first lines (and a partial line would corrupt the next one).
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise

    def _rotation_due(self, size: int, incoming: int) -> bool:
        max_age = self._config.max_age_secs
        aged = max_age is not None and self._clock() - self._born >= max_age
        if size == 0:
            if aged:
                # Rotating an empty file would only leave an empty rotated file behind;
                # restarting its clock has the same effect without one.
                self._born = self._clock()
            return False
        return aged or size + incoming > self._config.max_bytes

    def _rotate(self, fd: int) -> int:
        os.fsync(fd)
        self._close()
        # Forget the old inode: once deleted, its number may come back for a new file.
        self._identity = None
        target = rotate(self.path, self._clock())
        self._tidy_due = True
        log.info("file_rotated", sink=self.name, path=str(self.path), rotated=str(target))
        return self._open()

    def _open(self) -> int:
        with contextlib.suppress(FileExistsError):
            # A file in the way of a directory: the open below reports "Not a directory".
            self.path.parent.mkdir(parents=True, exist_ok=True)
        refuse_symlink(self.path, self._key, self._config.follow_symlinks)
        dropped = repair_tail(self.path)
        if dropped:
            log.warning("file_tail_repaired", sink=self.name, path=str(self.path), bytes=dropped)
        fd = open_append(self.path, self._config.file_mode)
        stat = os.fstat(fd)
        identity = (stat.st_dev, stat.st_ino)
        if identity != self._identity:
            # A file with content keeps the age it already had; a new or empty one starts now.
            self._born = stat.st_mtime if stat.st_size else self._clock()
            self._identity = identity
        self._fd = fd
        return fd

    def _is_current(self, fd: int) -> bool:
        # Someone may have moved or deleted the file (logrotate's `create` mode, an
        # operator): keep writing to the path, never to an inode nobody will read.
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        opened = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
