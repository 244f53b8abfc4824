"""The simulator's HTTP server with limits set: eviction, deaf clients, failed accepts.

Real sockets on 127.0.0.1. The metrics server (/metrics, /healthz, /readyz) is another
server, tested against the same hostile clients in tests/integration/test_hostile_clients.py.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
import time

from collector.simulator.httpserver import HttpServer, Request, Response, ServerLimits

HALF_SENT = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow"


async def _raw(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server closes (EOF or reset) within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def test_every_connection_waiting_past_the_cap_evicts_the_oldest() -> None:
    async def ok(request: Request) -> Response:
        return Response(200, b"ok")

    server = HttpServer(ok, "127.0.0.1", 0, limits=ServerLimits(max_connections=4))
    await server.start()
    try:
        first = [await _raw(server.port, HALF_SENT) for _ in range(4)]
        await asyncio.sleep(0.1)
        later = [await _raw(server.port, HALF_SENT) for _ in range(2)]
        await asyncio.sleep(0.1)
        # The two oldest made room; no timeout is set, so the others are still held.
        assert [await _closed_by_server(r, 1) for r, _ in first[:2]] == [True, True]
        assert not await _closed_by_server(first[2][0], 0.2)
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
        idle_reader, idle = await _raw(server.port, b"")
        _, deaf = await _raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await _closed_by_server(idle_reader, 2)  # idle: the request timeout
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
    import asyncio, os, resource
    from collector.simulator.httpserver import HttpServer, Response
    from collector.logging import configure_logging

    async def main() -> None:
        configure_logging("info", "json")
        async def ok(request):
            return Response(200)
        server = HttpServer(ok, "127.0.0.1", 0)
        await server.start()
        print(server.port, flush=True)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        fillers = []
        try:
            while True:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        await asyncio.sleep(2.5)

    asyncio.run(main())
    """
)


def test_accept_failures_are_one_log_line_a_minute_without_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", EMFILE_SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    clients = []
    for _ in range(30):
        clients.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=15)
    for client in clients:
        client.close()
    lines = stderr.decode().splitlines()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert len(lines) == 1, stderr.decode()[:2000]
    assert '"event":"accept_failed"' in lines[0] and "Too many open files" in lines[0]
    assert "Traceback" not in lines[0] and "exception" not in lines[0]
