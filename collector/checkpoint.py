"""The per-source checkpoint and the store that writes it atomically.

A checkpoint records how far a source has delivered:

- ``cursor``: where the next window starts (the end of the last finished
  window); None before the first window ever finished;
- ``window``: the window being read, if any, with its page token, so a restart
  resumes mid-window instead of re-reading it;
- ``delivered``: the multiset of clicks already delivered over the overlap
  horizon (see :mod:`collector.dedup`).

It is written with the classic atomic recipe: temp file in the same directory,
fsync, rename over the old one, fsync the directory. A crash at any instant
leaves either the old checkpoint or the new one, never a mix. A checkpoint that
cannot be read is an error that names the file; it is never silently replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from collector.errors import CheckpointError, ConfigError
from collector.events import format_iso, format_iso_or_none, parse_iso
from collector.fsutil import fsync_dir

SCHEMA_VERSION = 1

Delivered = dict[int, dict[str, int]]
"""Click date (epoch seconds) -> content hash -> copies delivered."""


@dataclass(slots=True)
class Window:
    """A window [start, end] (epoch seconds) being read page by page, oldest first.

    During a catch-up a pass is cut into several windows (slices) read at once;
    each slice delivers only the clicks dated before its ``keep_until`` (the next
    slice's start), so the slices share no click whatever Mimecast's ``to`` means.
    """

    start: int
    end: int
    page_token: str | None = None
    frontier: int = 0
    """The latest click date delivered in this window; every earlier second is complete."""
    pass_counts: dict[str, int] = field(default_factory=dict)
    """Copies of each click at ``frontier`` seen so far in this pass."""
    keep_until: int | None = None
    """Clicks dated at or after this belong to the next slice; None: keep up to ``end``."""

    def __post_init__(self) -> None:
        self.frontier = max(self.frontier, self.start)

    @property
    def last_second(self) -> int:
        """The last second whose clicks this window delivers."""
        return self.end if self.keep_until is None else self.keep_until - 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, dates as RFC 3339."""
        return {
            "from": format_iso(self.start),
            "to": format_iso(self.end),
            "page_token": self.page_token,
            "frontier": format_iso(self.frontier),
            "pass_counts": self.pass_counts,
            "keep_until": None if self.keep_until is None else format_iso(self.keep_until),
        }

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> Window:
        """Inverse of :meth:`to_dict`."""
        token, keep_until = item["page_token"], item["keep_until"]
        return cls(
            start=parse_iso(item["from"]),
            end=parse_iso(item["to"]),
            page_token=str(token) if token is not None else None,
            frontier=parse_iso(item["frontier"]),
            pass_counts={str(k): int(v) for k, v in item["pass_counts"].items()},
            keep_until=None if keep_until is None else parse_iso(keep_until),
        )


def _epoch_or_none(text: str | None) -> int | None:
    return None if text is None else parse_iso(text)


@dataclass(slots=True)
class Checkpoint:
    """Everything a source needs to continue exactly where it left off.

    A *pass* reads [``pass_start``, ``target``] as one or more windows; windows
    are removed as they finish, and when none is left ``cursor`` becomes
    ``target``.
    """

    source: str
    cursor: int | None = None
    target: int | None = None
    pass_start: int | None = None
    windows: list[Window] = field(default_factory=list)
    delivered: Delivered = field(default_factory=dict)
    not_before: int | None = None
    """No window starts earlier: the first start, or `checkpoint reset --from`."""

    def to_json(self) -> bytes:
        """Serialize (dates as RFC 3339 for humans; dedup buckets keyed by epoch)."""
        document = {
            "schema": SCHEMA_VERSION,
            "source": self.source,
            "cursor": format_iso_or_none(self.cursor),
            "not_before": format_iso_or_none(self.not_before),
            "pass": None
            if self.target is None
            else {
                "from": format_iso_or_none(self.pass_start),
                "to": format_iso(self.target),
                "windows": [window.to_dict() for window in self.windows],
            },
            "delivered": {str(date): counts for date, counts in self.delivered.items()},
        }
        return orjson.dumps(document)

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> Checkpoint:
        """Parse a checkpoint; raises ValueError/KeyError/TypeError when malformed."""
        document: dict[str, Any] = orjson.loads(raw)
        schema = document["schema"]
        if schema != SCHEMA_VERSION:
            raise ValueError(
                f"schema version {schema} is not supported by this version "
                f"(expects {SCHEMA_VERSION})"
            )
        if document["source"] != source:
            raise ValueError(f"it belongs to source {document['source']!r}")
        current = document["pass"]
        delivered = {
            int(date): {str(h): int(n) for h, n in counts.items()}
            for date, counts in document["delivered"].items()
        }
        return cls(
            source=source,
            cursor=_epoch_or_none(document["cursor"]),
            not_before=_epoch_or_none(document["not_before"]),
            target=None if current is None else parse_iso(current["to"]),
            pass_start=None if current is None else _epoch_or_none(current["from"]),
            windows=[] if current is None else [Window.from_dict(w) for w in current["windows"]],
            delivered=delivered,
        )

    def progress(self) -> float:
        """How much of the pass in progress is delivered, from 0 to 1."""
        if self.target is None or self.pass_start is None:
            return 1.0
        span = max(self.target - self.pass_start, 1)
        left = sum(max(w.last_second - w.frontier, 0) for w in self.windows)
        return min(max(1.0 - left / span, 0.0), 1.0)


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
        self._ensure_dir()
        data = checkpoint.to_json()
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

    async def asave(self, checkpoint: Checkpoint) -> None:
        """:meth:`save` off the event loop (fsync blocks)."""
        await asyncio.to_thread(self.save, checkpoint)

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
