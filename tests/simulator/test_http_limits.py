"""The simulator's HTTP server with limits set: eviction, deaf clients, failed accepts.

Real sockets on 127.0.0.1. The metrics server (/metrics, /healthz, /readyz) is another
server, tested against the same hostile clients in tests/integration/test_hostile_clients.py.
"""

from __future__ import annotations

import asyncio
import textwrap
import time

from collector.simulator.httpserver import HttpServer, Request, Response, ServerLimits
from tests.hostile_clients import HALF_SENT, assert_one_accept_failed_line, closed_by_server, raw


async def test_every_connection_waiting_past_the_cap_evicts_the_oldest() -> None:
    async def ok(request: Request) -> Response:
        return Response(200, b"ok")

    server = HttpServer(ok, "127.0.0.1", 0, limits=ServerLimits(max_connections=4))
    await server.start()
    try:
        first = [await raw(server.port, HALF_SENT) for _ in range(4)]
        await asyncio.sleep(0.1)
        later = [await raw(server.port, HALF_SENT) for _ in range(2)]
        await asyncio.sleep(0.1)
        # The two oldest made room; no timeout is set, so the others are still held.
        assert [await closed_by_server(r, 1) for r, _ in first[:2]] == [True, True]
        assert not await closed_by_server(first[2][0], 0.2)
        assert server.open_connections == 4 and server.connections_refused == 2
        for _, writer in first + later:
            writer.close()
    finally:
        await server.stop()


async def test_a_client_that_does_not_read_its_answer_is_dropped() -> None:
    async def big(request: Request) -> Response:
        return Response(200, b"x" * (32 * 1024 * 1024))

    limits = ServerLimits(request_timeout_secs=0.3, write_timeout_secs=0.3)
    server = HttpServer(big, "127.0.0.1", 0, limits=limits)
    await server.start()
    try:
        idle_reader, idle = await raw(server.port, b"")
        _, deaf = await raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await closed_by_server(idle_reader, 2)  # idle: the request timeout
        deadline = time.monotonic() + 3
        while server.open_connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert server.open_connections == 0  # deaf: the write timeout
        idle.close()
        deaf.close()
    finally:
        await server.stop()


# A server whose process has no descriptor left: accept() fails with EMFILE.
EMFILE_SERVER = textwrap.dedent(
    """
    import asyncio
    from collector.simulator.httpserver import HttpServer, Response
    from collector.logging import configure_logging
    from tests.hostile_clients import exhaust_descriptors

    async def main() -> None:
        configure_logging("info", "json")
        async def ok(request):
            return Response(200)
        server = HttpServer(ok, "127.0.0.1", 0)
        await server.start()
        print(server.port, flush=True)
        fillers = exhaust_descriptors()
        await asyncio.sleep(2.5)

    asyncio.run(main())
    """
)


def test_accept_failures_are_one_log_line_a_minute_without_traceback() -> None:
    assert_one_accept_failed_line(EMFILE_SERVER)
