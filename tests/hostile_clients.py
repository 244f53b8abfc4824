"""Clients that stall or flood, for the servers' tests: raw sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
import time

HALF_SENT = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow"
"""A request whose head never ends."""


async def raw(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to 127.0.0.1:``port`` that has sent ``data`` (and maybe nothing more)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
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


def exhaust_descriptors() -> list[int]:
    """Lower this process's descriptor limit to 64 and open files until none is left."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    fillers = []
    try:
        while True:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        return fillers


def assert_one_accept_failed_line(server_script: str) -> None:
    """Run ``server_script`` (it prints its port, then runs out of descriptors), connect 30
    times, and check its stderr is one ``accept_failed`` line without a traceback."""
    process = subprocess.Popen(
        [sys.executable, "-c", server_script],
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
