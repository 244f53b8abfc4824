"""A scripted Mimecast on 127.0.0.1: it answers get-logs from a test's own script.

The simulator models Mimecast as we understand it; this server answers whatever a
test tells it to, including what no sane API would: dates in 2099, pages that come
back under new tokens forever, a body that drips one byte at a time, or never ends.
Every get-logs request is recorded with its body and arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from collector.events import format_mimecast_date
from collector.simulator.httpserver import Request, Response
from tests.http_sinks.local_server import LocalServer

GET_LOGS = "/api/ttp/url/get-logs"
Script = Callable[["Call"], Response]


@dataclass(frozen=True, slots=True)
class Call:
    """One get-logs request as the server saw it."""

    arrived: float
    body: dict[str, Any]

    @property
    def token(self) -> str | None:
        value = self.body.get("meta", {}).get("pagination", {}).get("pageToken")
        return value if isinstance(value, str) else None

    @property
    def query(self) -> dict[str, Any]:
        data = self.body.get("data") or [{}]
        item: dict[str, Any] = data[0]
        return item


def click(epoch: int | None, n: int = 0, *, date: str | None = None) -> dict[str, Any]:
    """A small distinct click dated ``epoch`` (or with the raw ``date`` string)."""
    return {
        "userEmailAddress": f"user{n}@corp.example",
        "url": f"https://site.example/{n}",
        "action": "allow",
        "date": date if date is not None else format_mimecast_date(epoch or 0),
    }


def page(
    clicks: list[dict[str, Any]],
    next_token: str | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    pagination: dict[str, Any] = {"pageSize": len(clicks)}
    if next_token is not None:
        pagination["next"] = next_token
    body = {
        "meta": {"status": 200, "pagination": pagination},
        "data": [{"clickLogs": clicks}],
        "fail": [],
    }
    return Response(200, orjson.dumps(body), headers=list(headers or []))


def token_rejected() -> Response:
    body = {
        "meta": {"status": 200},
        "data": [],
        "fail": [
            {
                "errors": [
                    {
                        "code": "err_validation_invalid_page_token",
                        "message": "The pageToken is invalid or has expired",
                        "field": "pageToken",
                        "retryable": False,
                    }
                ]
            }
        ],
    }
    return Response(200, orjson.dumps(body))


@dataclass
class ScriptedMimecast:
    """Serves /oauth/token and get-logs (answered by ``script``) on 127.0.0.1."""

    script: Script
    calls: list[Call] = field(default_factory=list)
    server: LocalServer | None = None

    async def __aenter__(self) -> ScriptedMimecast:
        self.server = LocalServer(self._handle)
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.stop()
        assert self.server.errors == [], self.server.errors

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def _handle(self, request: Request) -> Response:
        if request.path == "/oauth/token":
            token = {"access_token": "scripted-token", "token_type": "Bearer", "expires_in": 1799}
            return Response(200, orjson.dumps(token))
        call = Call(time.monotonic(), orjson.loads(request.body or b"{}"))
        self.calls.append(call)
        return self.script(call)


class RawMimecast:
    """A TCP server that answers get-logs with a hand-made HTTP answer: for bodies
    that drip or never end, which no well-behaved server produces.

    ``answer(writer)`` writes everything after the token request is served.
    """

    def __init__(self, answer: Callable[[asyncio.StreamWriter], Any]) -> None:
        self._answer = answer
        self._server: asyncio.Server | None = None
        self.requests = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> RawMimecast:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                if head.startswith(b"POST /oauth/token"):
                    body = b'{"access_token":"raw-token","token_type":"Bearer","expires_in":1799}'
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
                    continue
                self.requests += 1
                await self._answer(writer)
                writer.close()
                return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)
