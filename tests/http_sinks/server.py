"""A small HTTP/1.1 server on asyncio for the receiver emulators.

Like ``collector.simulator.httpserver`` (keep-alive, Content-Length bodies), but it
keeps the query string, which Elasticsearch (``filter_path``, ``require_data_stream``,
``pipeline``) and HEC (``channel``, ``token``) read, and it can drop a connection
without answering, before or after the request took effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson


@dataclass(slots=True)
class Request:
    """One request as received (body still as sent: possibly gzipped)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def cookie(self, name: str) -> str | None:
        """The value of cookie ``name``, if sent."""
        for part in self.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def decoded_body(self) -> bytes:
        """The body after ``Content-Encoding: gzip``. Raises ValueError for other encodings."""
        encoding = self.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return self.body
        if encoding == "gzip":
            return gzip.decompress(self.body)
        raise ValueError(encoding)


@dataclass(slots=True)
class Response:
    """An answer; ``drop`` closes the connection without one."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    """A JSON answer."""
    return Response(status, orjson.dumps(payload), headers=list(headers or []))


Handler = Callable[[Request], Awaitable[Response]]


class Server:
    """Serves ``handler`` on 127.0.0.1 on a free port."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[BaseException] = []
        self.connections = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, limit=1 << 16, ssl=self._tls
        )

    async def stop(self) -> None:
        """Close every connection and stop."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                request = await _read(reader)
                if request is None:
                    return
                try:
                    response = await self._handler(request)
                except Exception as error:  # noqa: BLE001 - reported by the fixture
                    self.errors.append(error)
                    response = Response(500, b"emulator error", "text/plain")
                if response.drop:
                    return
                await _write(writer, response)
                if request.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


async def _read(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return Request(method, parts.path, dict(parse_qsl(parts.query)), headers, body)


async def _write(writer: asyncio.StreamWriter, response: Response) -> None:
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Unknown"
    head = [
        f"HTTP/1.1 {response.status} {phrase}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        *(f"{name}: {value}" for name, value in response.headers),
        "",
        "",
    ]
    writer.write("\r\n".join(head).encode("latin-1") + response.body)
    await writer.drain()
