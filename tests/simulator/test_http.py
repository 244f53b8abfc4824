"""The tiny HTTP/1.1 server: keep-alive, Connection: close, chunked bodies, bad requests,
query strings, cookies, gzip bodies and the body limit."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip

import pytest

from collector.simulator.httpserver import HttpServer, Request, Response

from .helpers import MakeSim

FORM = b"client_id=sim-client-id&client_secret=sim-client-secret&grant_type=client_credentials"


async def _exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, return everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


def _post(path: str, payload: bytes, extra: str = "", version: str = "HTTP/1.1") -> bytes:
    return (
        f"POST {path} {version}\r\nHost: sim\r\n{extra}Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def test_keep_alive_serves_several_requests_on_one_connection(make_sim: MakeSim) -> None:
    sim = await make_sim()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        for _ in range(3):
            writer.write(_post("/oauth/token", FORM))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"Connection: close" not in head
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()
    assert sim.stats.tokens_issued == 3


async def test_connection_close_is_honoured(make_sim: MakeSim) -> None:
    sim = await make_sim()
    # Two pipelined requests; the first asks to close, so the second is never answered.
    raw = await _exchange(
        sim.port,
        _post("/oauth/token", FORM, "Connection: close\r\n") + _post("/oauth/token", FORM),
    )
    assert raw.count(b"HTTP/1.1 200") == 1
    assert b"Connection: close\r\n" in raw
    assert sim.stats.tokens_issued == 1


async def test_http_1_0_closes_by_default(make_sim: MakeSim) -> None:
    sim = await make_sim()
    raw = await _exchange(sim.port, _post("/oauth/token", FORM, version="HTTP/1.0"))
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close\r\n" in raw


async def test_chunked_request_body_is_decoded(make_sim: MakeSim) -> None:
    sim = await make_sim()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (FORM[:10], FORM[10:]))
    request = (
        b"POST /oauth/token HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    raw = await _exchange(sim.port, request)
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert b'"token_type":"Bearer"' in raw


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"POST / HTTP/2.0\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", b"413"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
    ],
)
async def test_malformed_requests_are_refused_and_closed(
    make_sim: MakeSim, request_bytes: bytes, status: bytes
) -> None:
    sim = await make_sim()
    raw = await _exchange(sim.port, request_bytes)
    assert raw.startswith(b"HTTP/1.1 " + status)
    assert b"Connection: close" in raw


async def test_query_cookies_and_gzip_bodies_are_read() -> None:
    seen: list[Request] = []

    async def record(request: Request) -> Response:
        seen.append(request)
        return Response(200)

    server = HttpServer(record, "127.0.0.1", 0)
    await server.start()
    try:
        extra = "Cookie: lb=1; x=y\r\nContent-Encoding: gzip\r\nConnection: close\r\n"
        target = "/_bulk?filter_path=items.*.error&token=&a=%2F"
        raw = await _exchange(server.port, _post(target, gzip.compress(b"hello"), extra))
    finally:
        await server.stop()
    assert raw.startswith(b"HTTP/1.1 200 OK")
    (request,) = seen
    assert request.path == "/_bulk"
    assert request.query == {"filter_path": "items.*.error", "token": "", "a": "/"}
    assert (request.cookie("lb"), request.cookie("x"), request.cookie("none")) == ("1", "y", None)
    assert request.decoded_body() == b"hello"
    with pytest.raises(ValueError, match="br"):
        dataclasses.replace(request, headers={"content-encoding": "br"}).decoded_body()


async def test_the_body_limit_is_set_per_server_and_connections_are_counted() -> None:
    async def ok(request: Request) -> Response:
        return Response(200)

    server = HttpServer(ok, "127.0.0.1", 0, max_body_bytes=10)
    await server.start()
    try:
        fits = await _exchange(server.port, _post("/", b"x" * 10, "Connection: close\r\n"))
        too_large = await _exchange(server.port, _post("/", b"x" * 11))
    finally:
        await server.stop()
    assert fits.startswith(b"HTTP/1.1 200 OK")
    assert too_large.startswith(b"HTTP/1.1 413")
    assert server.connections_accepted == 2
