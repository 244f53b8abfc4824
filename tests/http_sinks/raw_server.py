"""A raw TCP receiver on 127.0.0.1 that answers as no well-behaved HTTP server would.

:class:`LocalServer` always answers at once and in full. This one reads a request
(headers, and a ``Content-Length`` body) and then hands the connection to a scripted
``answer`` coroutine: one that drips its answer a byte at a time, or one that never
stops sending. ``sent`` counts the bytes the answers wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """Serves ``answer`` to every request, one request per connection."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.requests = 0
        self.sent = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        """Bind a free port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stop listening and cut every connection still open."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    async def write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Send ``data`` and count it."""
        writer.write(data)
        await writer.drain()
        self.sent += len(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            self.requests += 1
            await self._answer(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up: exactly what these answers provoke
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError):
                writer.close()


def dripping(server: RawServer, answer: bytes, interval_secs: float, *, head: bool) -> Answer:
    """An answer sent one byte per ``interval_secs``: all of it, or only its body."""

    async def drip(writer: asyncio.StreamWriter) -> None:
        start = 0
        if not head:
            start = answer.index(b"\r\n\r\n") + 4
            await server.write(writer, answer[:start])
        for position in range(start, len(answer)):
            await server.write(writer, answer[position : position + 1])
            await asyncio.sleep(interval_secs)

    return drip


def endless(server: RawServer, *, declared: int | None) -> Answer:
    """A 200 whose body never ends (``declared``: the ``Content-Length`` it claims)."""

    async def flood(writer: asyncio.StreamWriter) -> None:
        length = f"Content-Length: {declared}\r\n" if declared is not None else ""
        await server.write(
            writer,
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}"
            "Connection: close\r\n\r\n".encode(),
        )
        chunk = b" " * 65536
        while True:
            await server.write(writer, chunk)

    return flood
