"""HTTP/1.1 messages for :mod:`collector.simulator.httpserver`: parsing requests, writing responses.

Requests may use ``Content-Length`` or chunked bodies and ask for keep-alive or
``Connection: close``. Two extra "dispositions" let the simulator misbehave the way
networks do: ``drop`` closes the connection without answering, and ``truncate``
announces the full ``Content-Length`` but sends only half the body.
"""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal
from urllib.parse import parse_qsl

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024

Disposition = Literal["send", "drop", "truncate"]


@dataclass(slots=True)
class Request:
    """One parsed HTTP request.

    Attributes:
        method: e.g. ``POST``.
        path: the target without its query string.
        query: the query string's parameters (the last of a repeated name; blank
            values kept).
        headers: lower-cased names; repeated headers joined with ``", "``.
        body: the body as sent, de-chunked (``Content-Encoding`` is not undone:
            see :meth:`decoded_body`).
        keep_alive: whether the client lets the connection stay open.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    def cookie(self, name: str) -> str | None:
        """The value of cookie ``name``, if sent."""
        # Repeated Cookie headers arrive joined with ", "; a cookie value has no comma.
        for part in self.headers.get("cookie", "").replace(",", ";").split(";"):
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
    """What to send back, and how.

    Attributes:
        status: HTTP status code.
        body: the complete body.
        content_type: the ``Content-Type`` header.
        headers: extra headers.
        disposition: ``send`` normally; ``drop`` to close without answering;
            ``truncate`` to send half the body and close.
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    disposition: Disposition = "send"


class BadRequestError(Exception):
    """The request cannot be parsed; answer ``status`` and close the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def read_request(
    reader: asyncio.StreamReader, max_body_bytes: int = MAX_BODY_BYTES
) -> Request | None:
    """Read one request; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise
    except asyncio.LimitOverrunError as error:
        raise BadRequestError(431, "request header too large") from error
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequestError(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequestError(400, "malformed header line")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    body = await _read_body(reader, headers, max_body_bytes)
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    path, _, query = target.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    return Request(method, path, params, headers, body, keep_alive)


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], max_body_bytes: int
) -> bytes:
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        if encoding.strip().lower() != "chunked":
            raise BadRequestError(501, "only chunked transfer-encoding is supported")
        return await _read_chunked(reader, max_body_bytes)
    length_text = headers.get("content-length")
    if length_text is None:
        return b""
    # Repeated headers arrive joined with ", "; they must all agree.
    values = {v.strip() for v in length_text.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise BadRequestError(400, "invalid content-length")
    length = int(values.pop())
    if length > max_body_bytes:
        raise BadRequestError(413, "request body too large")
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader, max_body_bytes: int) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError as error:
            raise BadRequestError(400, "invalid chunk size") from error
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers are ignored
            return bytes(body)
        if len(body) + size > max_body_bytes:
            raise BadRequestError(413, "request body too large")
        chunk = await reader.readexactly(size + 2)
        if chunk[-2:] != b"\r\n":
            raise BadRequestError(400, "chunk not terminated by CRLF")
        body += chunk[:-2]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


async def write_response(
    writer: asyncio.StreamWriter, response: Response, keep_alive: bool
) -> None:
    """Send ``response`` (half of its body when it is to be truncated)."""
    body = response.body
    head = [
        f"HTTP/1.1 {response.status} {_reason(response.status)}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(body)}",
    ]
    head.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        head.append("Connection: close")
    head.append("\r\n")
    if response.disposition == "truncate":
        body = body[: len(body) // 2]
    # Two writes instead of head + body: a page is ~240 KB and need not be copied.
    writer.write("\r\n".join(head).encode("latin-1"))
    writer.write(body)
    await writer.drain()
