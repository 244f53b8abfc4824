"""The ``stdout`` sink: NDJSON on standard output, for containers and pipes.

A page is acknowledged once it is flushed to the stream: for a pipe that means the
reader's side of the kernel buffer, not the reader itself. The collector's own logs must
then go to stderr, or they would mix with the events.
"""

from __future__ import annotations

import asyncio
import sys
from typing import BinaryIO, Literal

import orjson
from pydantic import Field

from collector.errors import SinkError
from collector.events import Batch
from collector.sinks import SinkConfig, SinkContext, not_started
from collector.sinks.encoding import Format, encode_ndjson


class StdoutSinkConfig(SinkConfig):
    """``[sinks.<name>]`` with ``type = "stdout"``."""

    type: Literal["stdout"] = Field(description='Sink type: `"stdout"`.')
    format: Format = Field(
        default="raw",
        description="`raw`: each click log exactly as Mimecast returned it, one per line. "
        "`envelope`: `{event_id, source, time, log}` per line, to deduplicate by event_id.",
    )

    def build(self, name: str, context: SinkContext) -> StdoutSink:
        """Return the sink this config describes, not started yet."""
        return StdoutSink(name, self.format)


class StdoutSink:
    """Writes each page to standard output with one ``write`` and a ``flush``.

    Args:
        name: the sink's name in the config; errors carry it.
        fmt: ``"raw"`` or ``"envelope"``.
        stream: where to write; default ``sys.stdout.buffer``, looked up at each send so
            that a replaced ``sys.stdout`` is honoured.
    """

    def __init__(self, name: str, fmt: Format = "raw", *, stream: BinaryIO | None = None) -> None:
        self.name = name
        self._format = fmt
        self._stream = stream
        self._started = False
        # One page at a time: concurrent sources must not interleave their lines.
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Check standard output is there: nothing to open.

        Raises:
            SinkError: the process was started with stdout closed (e.g. ``>&-``).
        """
        self._output()
        self._started = True

    async def send(self, events: Batch) -> None:
        """Write and flush one page; returning is the acknowledgement.

        Raises:
            SinkError: the stream is closed or its reader is gone (broken pipe).
        """
        if not events:
            return
        if not self._started:
            raise not_started(self.name)
        try:
            page = encode_ndjson(events, self._format)
        except orjson.JSONEncodeError as exc:
            raise SinkError(self.name, f"cannot encode a click as JSON: {exc}") from exc
        async with self._lock:
            try:
                await asyncio.to_thread(self._write, page)
            except (OSError, ValueError) as exc:
                # ValueError is what a closed file object raises on write.
                reason = getattr(exc, "strerror", None) or str(exc)
                raise SinkError(self.name, f"cannot write to stdout: {reason}") from exc

    async def healthcheck(self) -> None:
        """Check the stream is still open.

        Raises:
            SinkError: it is closed.
        """
        if not self._started:
            raise not_started(self.name, "healthcheck()")
        if self._output().closed:
            raise SinkError(self.name, "cannot write to stdout: it is closed")

    async def aclose(self) -> None:
        """Nothing to release: every page was flushed, and stdout is not ours to close."""
        self._started = False

    def _output(self) -> BinaryIO:
        if self._stream is not None:
            return self._stream
        # Python sets sys.stdout to None when descriptor 1 was closed at start
        # (``>&-``); a TextIO without a binary buffer cannot take our bytes either.
        stream: BinaryIO | None = getattr(sys.stdout, "buffer", None)
        if stream is None:
            raise SinkError(
                self.name,
                "cannot write to stdout: the collector was started with standard output "
                "closed (>&-); connect it to a pipe or a file, or use a file sink",
            )
        return stream

    def _write(self, page: bytes) -> None:
        stream = self._output()
        stream.write(page)
        stream.flush()
