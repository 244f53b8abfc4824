"""The metrics server against clients that stall, flood, oversize or send garbage.

Real sockets on 127.0.0.1. /metrics, /healthz and /readyz run on
:class:`~collector.metrics_server.BoundedWsgiServer` with ``METRICS_LIMITS``: anyone who
reaches its port may hold connections, send half a request, a huge body or noise, and
each must get a clean 4xx or a closed socket, never a traceback.
"""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

import collector.metrics
from collector.app import Collector
from collector.metrics import MetricsServer
from collector.metrics_config import MetricsConfig
from collector.metrics_limits import METRICS_LIMITS, HttpLimits
from collector.metrics_server import BoundedWsgiServer
from tests.hostile_clients import HALF_SENT, assert_one_accept_failed_line, closed_by_server, raw

from .conftest import parse, settings


@pytest.fixture
async def metrics(tmp_path: Path) -> AsyncIterator[MetricsServer]:
    """The real metrics server of a collector (its source is never contacted)."""
    async with Collector(parse(settings(tmp_path, "http://127.0.0.1:9"))) as collector:
        server = MetricsServer(collector, MetricsConfig(address="127.0.0.1:0"))
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


def ok_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def serve() -> Iterator[Any]:
    """Starts BoundedWsgiServers on 127.0.0.1 (``serve(app, limits)``), stops them after."""
    servers: list[BoundedWsgiServer] = []

    def start(app: Any, limits: HttpLimits) -> BoundedWsgiServer:
        server = BoundedWsgiServer(app, "127.0.0.1", 0, limits)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


async def _answer(port: int, data: bytes) -> bytes:
    reader, writer = await raw(port, data)
    try:
        return await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()


async def test_half_sent_requests_neither_pile_up_nor_keep_healthz_out(
    metrics: MetricsServer, capfd: pytest.CaptureFixture[str]
) -> None:
    connections = metrics._server.connections
    assert connections.cap <= METRICS_LIMITS.max_connections
    stalled = [await raw(metrics.port, HALF_SENT) for _ in range(300)]
    try:
        await asyncio.sleep(0.2)
        assert connections.held <= connections.cap
        async with httpx.AsyncClient(timeout=3) as http:
            for path in ("/healthz", "/metrics"):
                response = await http.get(f"http://127.0.0.1:{metrics.port}{path}")
                assert response.status_code == 200, path
        # The ones still held are closed once the request timeout has passed.
        bound = METRICS_LIMITS.request_timeout_secs + 2
        closed = await asyncio.gather(*(closed_by_server(r, bound) for r, _ in stalled))
        assert all(closed)
        # A connection's thread closes the socket, then releases its slot: the client
        # may see the close a moment before the count drops.
        deadline = time.monotonic() + 2
        while connections.held and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert connections.held == 0
    finally:
        for _, writer in stalled:
            writer.close()
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 104857600\r\n\r\n", b"413"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", b"413"),
        (
            b"POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"8000\r\n" + b"x" * 0x8000 + b"\r\n") * 3,
            b"413",
        ),
        (b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", b"431"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", b"414"),
    ],
    ids=["100 MiB announced", "just over 64 KiB", "chunked past 64 KiB", "9 KB header", "9 KB URL"],
)
async def test_oversized_requests_are_refused_before_being_read(
    metrics: MetricsServer, request_bytes: bytes, status: bytes
) -> None:
    answer = await _answer(metrics.port, request_bytes)
    assert answer.startswith(b"HTTP/1.") and answer.split(b" ")[1] == status, answer[:80]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"\x00\xff\xfe\x16\x03\x01 garbage\r\n\r\n", b"400"),
        (b"GET /metrics HTTP/9.9\r\n\r\n", b"505"),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", b"200"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", b"405"),
        (b"GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"GET /nothing HTTP/1.1\r\n\r\n", b"404"),
    ],
    ids=["binary noise", "unknown version", "header without colon", "post", "bad length", "404"],
)
async def test_garbage_gets_a_clean_answer_and_prints_nothing(
    metrics: MetricsServer, capfd: pytest.CaptureFixture[str], request_bytes: bytes, status: bytes
) -> None:
    answer = await _answer(metrics.port, request_bytes)
    assert answer.split(b" ")[1] == status, answer[:80]
    async with httpx.AsyncClient(timeout=3) as http:
        assert (await http.get(f"http://127.0.0.1:{metrics.port}/healthz")).status_code == 200
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("first", "trickle"),
    [
        (b"G", b"ET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 40),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", b"x" * 40),
    ],
    ids=["head", "body"],
)
async def test_a_slow_trickle_is_cut_at_the_request_timeout(
    serve: Any, first: bytes, trickle: bytes
) -> None:
    server = serve(ok_app, HttpLimits(request_timeout_secs=1.0))
    reader, writer = await raw(server.port, first)
    started = time.monotonic()
    try:
        # A byte every 0.2 s: no single read ever waits long, the whole request does.
        for byte in trickle:
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.2)
        assert await closed_by_server(reader, 1)
        assert time.monotonic() - started < 3
    finally:
        writer.close()


async def test_every_connection_waiting_past_the_cap_evicts_the_oldest(serve: Any) -> None:
    server = serve(ok_app, HttpLimits(max_connections=4, request_timeout_secs=60))
    first = [await raw(server.port, HALF_SENT) for _ in range(4)]
    await asyncio.sleep(0.1)
    later = [await raw(server.port, HALF_SENT) for _ in range(2)]
    await asyncio.sleep(0.2)
    # The two oldest made room; the others are still held (their timeout is far off).
    assert [await closed_by_server(r, 1) for r, _ in first[:2]] == [True, True]
    assert not await closed_by_server(first[2][0], 0.2)
    assert server.connections.held == 4 and server.connections.refused == 2
    # A complete request still gets in, at the cost of the oldest waiting one.
    async with httpx.AsyncClient(timeout=3) as http:
        assert (await http.get(f"http://127.0.0.1:{server.port}/")).text == "ok"
    assert await closed_by_server(first[2][0], 1)
    for _, writer in first + later:
        writer.close()


async def test_a_client_that_does_not_read_its_answer_is_dropped(serve: Any) -> None:
    def big(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", str(32 * 1024 * 1024))])
        return [b"x" * (32 * 1024 * 1024)]

    server = serve(big, HttpLimits(request_timeout_secs=0.3, write_timeout_secs=0.3))
    idle_reader, idle = await raw(server.port, b"")
    _, deaf = await raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await closed_by_server(idle_reader, 2)  # idle: the request timeout
    deadline = time.monotonic() + 3
    while server.connections.held and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert server.connections.held == 0  # deaf: the write timeout
    idle.close()
    deaf.close()


async def test_a_failing_app_is_a_500_and_one_log_line(
    serve: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise ValueError("a collector broke")

    server = serve(broken, METRICS_LIMITS)
    with structlog.testing.capture_logs() as logs:
        async with httpx.AsyncClient(timeout=3) as http:
            response = await http.get(f"http://127.0.0.1:{server.port}/metrics")
    assert response.status_code == 500
    assert logs == [
        {
            "event": "metrics_request_failed",
            "log_level": "error",
            "path": "/metrics",
            "error": "ValueError: a collector broke",
        }
    ]
    assert capfd.readouterr().err == ""


async def test_healthz_is_503_while_the_event_loop_is_stuck(
    metrics: MetricsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector.metrics, "LOOP_ANSWER_SECS", 0.3)
    url = f"http://127.0.0.1:{metrics.port}/healthz"
    answers: list[httpx.Response] = []
    asker = threading.Thread(target=lambda: answers.append(httpx.get(url, timeout=3)))
    asker.start()
    time.sleep(1.0)  # blocks the event loop, as a runaway computation would
    asker.join(3)
    assert answers[0].status_code == 503
    assert answers[0].text == "event loop stalled: no answer within 0.3 s\n"
    async with httpx.AsyncClient(timeout=3) as http:
        assert (await http.get(url)).status_code == 200  # the loop runs again


# A server whose process has no descriptor left: accept() fails with EMFILE.
EMFILE_SERVER = textwrap.dedent(
    """
    import time
    from collector.logging import configure_logging
    from collector.metrics_server import BoundedWsgiServer
    from tests.hostile_clients import exhaust_descriptors

    def ok(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    configure_logging("info", "json")
    server = BoundedWsgiServer(ok, "127.0.0.1", 0)
    server.start()
    print(server.port, flush=True)
    fillers = exhaust_descriptors()
    time.sleep(2.5)
    """
)


def test_accept_failures_are_one_log_line_a_minute_without_traceback() -> None:
    assert_one_accept_failed_line(EMFILE_SERVER)
