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
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from collector.errors import CheckpointError
from collector.events import format_iso, parse_iso

SCHEMA_VERSION = 1

Delivered = dict[int, dict[str, int]]
"""Click date (epoch seconds) -> content hash -> copies delivered."""


@dataclass(slots=True)
class Window:
    """A window [start, end] (epoch seconds, inclusive) being read page by page."""

    start: int
    end: int
    page_token: str | None = None
    frontier: int = 0
    """The latest click date delivered in this pass; every earlier second is complete."""
    pass_counts: dict[str, int] = field(default_factory=dict)
    """Copies of each click at ``frontier`` seen so far in this pass."""

    def __post_init__(self) -> None:
        self.frontier = max(self.frontier, self.start)


@dataclass(slots=True)
class Checkpoint:
    """Everything a source needs to continue exactly where it left off."""

    source: str
    cursor: int | None = None
    window: Window | None = None
    delivered: Delivered = field(default_factory=dict)
    not_before: int | None = None
    """No window starts earlier: the first start, or `checkpoint reset --from`."""

    def to_json(self) -> bytes:
        """Serialize (dates as RFC 3339 for humans; dedup buckets keyed by epoch)."""
        window = None
        if self.window is not None:
            w = self.window
            window = {
                "from": format_iso(w.start),
                "to": format_iso(w.end),
                "page_token": w.page_token,
                "frontier": format_iso(w.frontier),
                "pass_counts": w.pass_counts,
            }
        document = {
            "schema": SCHEMA_VERSION,
            "source": self.source,
            "cursor": format_iso(self.cursor) if self.cursor is not None else None,
            "window": window,
            "not_before": format_iso(self.not_before) if self.not_before is not None else None,
            "delivered": {str(date): counts for date, counts in self.delivered.items()},
        }
        return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)

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
        window = None
        if document["window"] is not None:
            w = document["window"]
            token = w["page_token"]
            window = Window(
                start=parse_iso(w["from"]),
                end=parse_iso(w["to"]),
                page_token=str(token) if token is not None else None,
                frontier=parse_iso(w["frontier"]),
                pass_counts={str(k): int(v) for k, v in w["pass_counts"].items()},
            )
        cursor = document["cursor"]
        not_before = document.get("not_before")
        delivered = {
            int(date): {str(h): int(n) for h, n in counts.items()}
            for date, counts in document["delivered"].items()
        }
        return cls(
            source=source,
            cursor=parse_iso(cursor) if cursor is not None else None,
            window=window,
            delivered=delivered,
            not_before=parse_iso(not_before) if not_before is not None else None,
        )


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
        self._ensure_dir()
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
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
                f"cannot create state_dir '{self.state_dir}': {exc.strerror}"
            ) from None

    def _fsync_dir(self) -> None:
        fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
