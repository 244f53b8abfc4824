"""A whole-response deadline and a bounded answer for every sink request (issue 10, D6).

httpx's timeouts apply to each read: a receiver that drips its answer a byte at a time
never trips them. ``request_timeout_secs`` bounds the whole exchange instead, and no
answer is read past MAX_RESPONSE_BYTES.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from collector.errors import SinkError, TransientSinkError
from collector.simulator.httpserver import Request, Response
from collector.sinks.http.common import MAX_RESPONSE_BYTES

from .helpers import events
from .local_server import LocalServer
from .raw_server import Answer, RawServer, dripping, endless

DEADLINE_SECS = 1.0
DRIP_INTERVAL_SECS = 0.5
# Sent whole, this answer would take 30 s at one byte per 0.5 s.
BODY = b'{"text":"Success","code":0,"errors":false,"items":[]}' + b" " * 7
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Callable[[RawServer], Answer]], Any]]:
    """``await raw_server(lambda server: answer)`` starts a RawServer; stopped after the test."""
    started: list[RawServer] = []

    async def make(answer_for: Callable[[RawServer], Answer]) -> RawServer:
        holder: list[RawServer] = []

        async def answer(writer: asyncio.StreamWriter) -> None:
            await answer_for(holder[0])(writer)

        server = RawServer(answer)
        holder.append(server)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


def sink_options(kind: str, url: str, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"type": kind, "endpoint": url, **extra}
    if kind == "http":
        options["endpoint"] = url + "/ingest"
    elif kind == "splunk_hec":
        options["token"] = "hec-token-0123456789"
    else:
        options["api_key"] = "ZW11bGF0b3I6c2VjcmV0"
    return options


@pytest.mark.parametrize("kind", ["http", "splunk_hec", "elasticsearch"])
@pytest.mark.parametrize("head", [False, True], ids=["body-drips", "status-line-drips"])
async def test_a_dripping_answer_fails_the_request_at_its_deadline(
    raw_server: Any, make_sink: Any, kind: str, head: bool
) -> None:
    server = await raw_server(lambda s: dripping(s, ANSWER, DRIP_INTERVAL_SECS, head=head))
    sink = await make_sink(
        sink_options(
            kind, server.url, request_timeout_secs=DEADLINE_SECS, retry_max_secs=DEADLINE_SECS
        )
    )
    started = time.monotonic()
    with pytest.raises(SinkError) as raised:
        # Bounded here too, so that a regression fails instead of hanging for 30 s.
        await asyncio.wait_for(sink.send(events(2)), 6 * DEADLINE_SECS)
    elapsed = time.monotonic() - started
    assert DEADLINE_SECS * 0.9 <= elapsed < 3 * DEADLINE_SECS
    assert "no complete answer from http://127.0.0.1:" in str(raised.value)
    assert str(raised.value).endswith("within 1s (request_timeout_secs)")
    assert isinstance(raised.value.__cause__, TransientSinkError)  # retried within the budget
    assert 0 < server.sent < len(ANSWER)  # the receiver was still dripping


@pytest.mark.parametrize("declared", [None, 20 * 1024 * 1024], ids=["unbounded", "declared"])
async def test_an_answer_larger_than_the_cap_is_not_read(
    raw_server: Any, make_sink: Any, declared: int | None
) -> None:
    server = await raw_server(lambda s: endless(s, declared=declared))
    sink = await make_sink(sink_options("http", server.url, retry_max_secs=0.5))
    with pytest.raises(SinkError) as raised:
        await asyncio.wait_for(sink.send(events(1)), 20)
    assert str(raised.value).endswith(
        f"the answer from {server.url}/ingest is larger than 16 MiB; not read (the "
        "request's outcome is unknown)"
    )
    assert isinstance(raised.value.__cause__, TransientSinkError)
    # Reading stopped at the cap, not at the end of the memory.
    assert server.sent < 4 * MAX_RESPONSE_BYTES


async def test_a_request_past_its_deadline_is_retried_on_a_fresh_connection(
    servers: list[LocalServer], make_sink: Any
) -> None:
    answered: list[int] = []

    async def slow_once(request: Request) -> Response:
        if not answered:
            answered.append(0)
            await asyncio.sleep(3 * DEADLINE_SECS)  # cut off by the deadline
            return Response(500)
        answered.append(200)
        return Response(200)

    server = LocalServer(slow_once)
    await server.start()
    servers.append(server)
    sink = await make_sink(
        sink_options(
            "http",
            server.url,
            request_timeout_secs=DEADLINE_SECS,
            retry_initial_backoff_secs=0.05,
            retry_max_secs=5,
        )
    )
    await asyncio.wait_for(sink.send(events(2)), 4 * DEADLINE_SECS)
    assert answered[1:] == [200]
    assert sink.stats.retries == 1
    assert sink.stats.errors["TransientSinkError"] == 1
