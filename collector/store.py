"""Where a checkpoint lives: one file per source, written atomically, under a lock.

It is written with the classic atomic recipe: temp file in the same directory,
fsync, rename over the old one, fsync the directory. A crash at any instant
leaves either the old checkpoint or the new one, never a mix. A checkpoint that
cannot be read is an error that names the file; it is never silently replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

import orjson

from collector.checkpoint import Checkpoint
from collector.errors import CheckpointError, ConfigError
from collector.fsutil import fsync_dir


class CheckpointStore:
    """Reads and atomically writes one source's checkpoint under ``state_dir``."""

    def __init__(self, state_dir: Path, source: str) -> None:
        self.source = source
        self.state_dir = state_dir
        self.path = state_dir / f"{source}.checkpoint.json"
        self._lock_path = state_dir / f"{source}.lock"
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Take the source's lock, so two collectors never share a checkpoint."""
        self._check_writable()
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._unwritable(exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointError(
                f"source {self.source}: another mimecast-collector holds {self._lock_path}; "
                "only one process may collect a source at a time"
            ) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock`."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or None when this source never saved one."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint '{self.path}': {exc.strerror}") from None
        try:
            return Checkpoint.from_json(raw, self.source)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint '{self.path}' is corrupt or unreadable ({type(exc).__name__}: "
                f"{exc}). It was left untouched. Move it aside and run `mimecast-collector "
                f"checkpoint reset -c CONFIG --source {self.source} --from <ISO time>` to "
                "start again from a known time"
            ) from None

    def save(self, checkpoint: Checkpoint) -> None:
        """Write atomically: temp file, fsync, rename, fsync of the directory."""
        self.write(checkpoint.to_json())

    def write(self, data: bytes) -> None:
        """Write a serialized checkpoint atomically (see :meth:`save`)."""
        self._ensure_dir()
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
            self._fsync_dir()
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise CheckpointError(
                f"cannot write checkpoint '{self.path}': {exc.strerror}"
            ) from None

    def delete(self) -> bool:
        """Remove the checkpoint; True if there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        self._fsync_dir()
        return True

    def _ensure_dir(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CheckpointError(
                f"cannot create state_dir '{self.state_dir}': {exc.strerror or exc}"
            ) from None

    def _check_writable(self) -> None:
        # At start, a state_dir that cannot be created or written will not fix itself on
        # a restart: it is a config (deployment) problem, exit code 2, which systemd does
        # not restart in a loop. The probe matters because an old lock file can still be
        # opened where no checkpoint could be written (read-only mount, `chattr +i`).
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(
                f"state_dir: cannot create '{self.state_dir}': {exc.strerror or exc}"
            ) from None
        probe = self.state_dir / f".{self.source}.probe.{os.getpid()}"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            os.unlink(probe)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> CheckpointError | ConfigError:
        message = (
            f"state_dir: cannot write in '{self.state_dir}': {exc.strerror or exc} "
            "(checkpoints and locks are kept there)"
        )
        # A full disk or an I/O error may pass by itself: a runtime failure, restarted.
        transient = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO)
        return CheckpointError(message) if transient else ConfigError(message)

    def _fsync_dir(self) -> None:
        fsync_dir(self.state_dir)
