"""Small blocking file-system helpers shared by the checkpoint, the sinks and config loading.

- :func:`fsync_dir`: make a rename, creation or deletion in a directory durable.
- :func:`write_atomically`: replace a file with new content, never leaving a torn mix
  and never touching the original when a write fails (a full disk).
- :func:`read_regular_file`: read a config or secret file with a size cap, refusing
  FIFOs, devices and directories (``/dev/zero`` must not exhaust memory).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


class NotARegularFileError(ValueError):
    """A path that must name a regular file names something else, or is too large."""


def fsync_dir(directory: Path) -> None:
    """Make renames, creations and deletions in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, mode: int, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: temp file (``mode``), fsync, rename, fsync the directory.

    The rename happens only once every byte is written (and, when ``durable``, fsynced),
    so on any error ``path`` is left exactly as it was and the temp file is removed.

    Raises:
        OSError: the temp file could not be written or renamed (e.g. ENOSPC).
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            # The umask may have narrowed the mode, and a stale temp file may have another.
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if durable:
        fsync_dir(path.parent)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The content of ``path``, which must be a regular file of at most ``max_bytes``.

    Symbolic links are followed (systemd credentials and Kubernetes secrets are links
    to regular files); what they lead to must be a regular file.

    Raises:
        OSError: the file cannot be opened or read.
        NotARegularFileError: it is a FIFO, device, directory or socket, or too large;
            the message says which, in words fit for the user.
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        # fstat of what was opened, not stat of the name: no window for a swap.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFileError(f"is {_kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 16, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise NotARegularFileError(f"is larger than the limit of {_human(max_bytes)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _human(size: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"
