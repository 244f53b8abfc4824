"""Dead letters: events a receiver refused for good, kept as NDJSON, and their replay.

A receiver may refuse one event for a reason retrying cannot fix (an Elasticsearch
mapping error, a Splunk ``invalid-event-number``). Such an event must neither vanish
nor stop the pipeline, so it is appended to a dead-letter file, fsynced, and only then
is the page acknowledged. Files live in ``<state_dir>/dead-letter/<sink name>/``
(or the sink's ``dead_letter_dir``), one per process run, each line::

    {"dead_lettered_at", "sink", "status", "error_type", "reason",
     "event_id", "source", "time", "event": <the click log as Mimecast returned it>}

``mimecast-collector dlq replay --sink NAME`` (:func:`replay`) sends them again
through the sink as it is configured now, e.g. after fixing a mapping. A file being
written by a running collector is locked and skipped.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from collector.delivery import SinkHandle, deliver
from collector.errors import CollectorError, ConfigError
from collector.events import Event, format_iso
from collector.fsutil import fsync_dir, write_atomically
from collector.secrets import scrub
from collector.sinks import SinkContext

if TYPE_CHECKING:
    from collector.config import CollectorConfig

# A new file after this many bytes, so no single file grows without bound.
MAX_FILE_BYTES = 64 * 1024 * 1024
REPLAY_BATCH = 500

Send = Callable[[Sequence[Event]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a receiver refused an event: its status and its own words."""

    status: int
    error_type: str
    reason: str


def dead_letter_directory(state_dir: Path, sink: str, configured: Path | None = None) -> Path:
    """Where sink ``sink`` keeps its dead letters."""
    return configured if configured is not None else state_dir / "dead-letter" / sink


class DeadLetterStore:
    """Appends rejected events to this process's dead-letter file of one sink.

    Args:
        sink: the sink's name (written in every record).
        directory: the sink's dead-letter directory; created when first needed.
    """

    def __init__(self, sink: str, directory: Path) -> None:
        self.sink = sink
        self.directory = directory
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._serial = 0
        self._lock = asyncio.Lock()

    async def write(self, rejected: Sequence[tuple[Event, Rejection]]) -> Path:
        """Append ``rejected`` and fsync; returns the file written.

        Raises:
            OSError: the file cannot be written (the page is then not acknowledged).
        """
        now = format_iso(time.time())
        lines = b"".join(
            orjson.dumps(
                {
                    "dead_lettered_at": now,
                    "sink": self.sink,
                    "status": why.status,
                    "error_type": why.error_type,
                    "reason": why.reason,
                    "event_id": event.event_id,
                    "source": event.source,
                    "time": event.time,
                    "event": event.data,
                },
                option=orjson.OPT_APPEND_NEWLINE,
            )
            for event, why in rejected
        )
        async with self._lock:
            return await asyncio.to_thread(self._append, lines)

    async def aclose(self) -> None:
        """Close (and unlock) the current file."""
        async with self._lock:
            self._close()

    def _append(self, lines: bytes) -> Path:
        if self._fd is None or self._size + len(lines) > MAX_FILE_BYTES:
            self._close()
            self._open()
        assert self._fd is not None
        assert self._path is not None
        view = memoryview(lines)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)
        self._size += len(lines)
        return self._path

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._serial += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.directory / f"{stamp}-{os.getpid()}-{self._serial}.ndjson"
        # 0600: dead letters hold whole click logs, with user addresses in them.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        # Held while open, so a replay never takes a file that is still growing.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fsync_dir(self.directory)
        self._fd, self._path, self._size = fd, path, 0

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _parse(line: bytes) -> Event:
    record: dict[str, Any] = orjson.loads(line)
    return Event(
        source=str(record["source"]),
        event_id=str(record["event_id"]),
        time=int(record["time"]),
        data=record["event"],
    )


@dataclass(slots=True)
class _Tally:
    events: int = 0
    files: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did (``mimecast-collector dlq replay`` words it for the user)."""

    directory: Path
    found: int
    """Dead-letter files found; 0: nothing to replay."""
    events: int = 0
    files: int = 0
    """Files re-sent whole (and deleted)."""
    skipped: int = 0
    """Files skipped because a running collector is still writing them."""
    refused_again: int = 0
    stopped: str | None = None
    """Why sending stopped (the sink's error); None when every file was tried."""


async def replay(config: CollectorConfig, sink_name: str) -> ReplayResult:
    """Send sink ``sink_name``'s dead letters again.

    Each file is re-sent through the sink, in batches of 500, then deleted. Events
    the receiver refuses again go to a new dead-letter file. If sending fails, the
    lines not yet re-sent are written back and the result says why it ``stopped``.

    Raises:
        ConfigError: no sink of that name.
    """
    sink_config = config.sinks.get(sink_name)
    if sink_config is None:
        known = ", ".join(sorted(config.sinks))
        raise ConfigError(f"--sink: unknown sink {sink_name!r} (sinks: {known})")
    configured = getattr(sink_config, "dead_letter_dir", None)
    directory = dead_letter_directory(config.state_dir, sink_name, configured)
    files = sorted(directory.glob("*.ndjson")) if directory.is_dir() else []
    if not files:
        return ReplayResult(directory, found=0)
    context = SinkContext(state_dir=config.state_dir)
    sink = sink_config.build(sink_name, context)
    # Through delivery, like any page: the same retries, budget and counters.
    handle = SinkHandle(sink_name, sink, sink_config.retry_policy(), context.stats)
    tally = _Tally()
    try:
        await sink.start()
        for path in files:
            await _replay_file(path, lambda chunk: deliver([handle], chunk), tally)
    except CollectorError as exc:
        stopped: str | None = scrub(str(exc))  # a receiver's words may echo a credential
    else:
        stopped = None
    finally:
        await sink.aclose()
    return ReplayResult(
        directory,
        len(files),
        tally.events,
        tally.files,
        tally.skipped,
        context.stats.dead_lettered,
        stopped,
    )


async def _replay_file(path: Path, send: Send, tally: _Tally) -> None:
    opened = await asyncio.to_thread(_lock_and_read, path)
    if opened is None:
        tally.skipped += 1
        return
    fd, lines = opened
    try:
        try:
            events = [_parse(line) for line in lines]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CollectorError(f"{path}: not a dead-letter file ({exc}); left as it is") from None
        for start in range(0, len(events), REPLAY_BATCH):
            chunk = events[start : start + REPLAY_BATCH]
            try:
                await send(chunk)
            except BaseException as failure:
                # Nothing re-sent yet: the file already holds exactly what is left.
                problem = await asyncio.to_thread(_keep, path, lines[start:]) if start else None
                if problem is not None and isinstance(failure, Exception):
                    raise CollectorError(f"{failure}; {problem}") from None
                raise
            tally.events += len(chunk)
        await asyncio.to_thread(_remove, path)
        tally.files += 1
    finally:
        os.close(fd)


def _lock_and_read(path: Path) -> tuple[int, list[bytes]] | None:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd, lines


def _remove(path: Path) -> None:
    path.unlink()
    fsync_dir(path.parent)


def _keep(path: Path, lines: list[bytes]) -> str | None:
    """Atomically leave only what was not re-sent, so the next replay sends none twice.

    The original is replaced only once the new content is wholly written and fsynced, with
    the original's mode (0600: dead letters hold whole click logs); on any error it stays
    exactly as it was.

    Returns:
        None, or why the file could not be rewritten (e.g. a full disk).
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        write_atomically(path, b"".join(line + b"\n" for line in lines), mode=mode)
    except OSError as exc:
        return (
            f"{path} could not be rewritten without the events already re-sent "
            f"({exc.strerror or exc}): it was left whole, so the next replay sends those "
            "again"
        )
    return None
