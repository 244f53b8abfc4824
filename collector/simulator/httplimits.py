"""The limits of :mod:`collector.simulator.httpserver`, and its listening sockets."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from collector.simulator.httpmessages import MAX_BODY_BYTES, MAX_HEADER_BYTES

ACCEPT_RETRY_SECS = 0.5
"""Pause after a failed ``accept()``: descriptors may be free again by then."""

LISTEN_BACKLOG = 100


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one server lets its clients hold. ``None`` means no limit.

    Attributes:
        max_connections: open connections at once (also capped at a quarter of
            ``RLIMIT_NOFILE`` when set).
        max_header_bytes: request line and headers; larger is answered 431.
        max_body_bytes: request body; larger is answered 413.
        request_timeout_secs: to send a whole request, counted from the connection
            (or the previous answer on a keep-alive connection); TLS handshake included.
        write_timeout_secs: to take a whole answer.
        error_log_interval_secs: least time between two ``accept_failed`` lines.
    """

    max_connections: int | None = None
    max_header_bytes: int = MAX_HEADER_BYTES
    max_body_bytes: int = MAX_BODY_BYTES
    request_timeout_secs: float | None = None
    write_timeout_secs: float | None = None
    error_log_interval_secs: float = 60.0


async def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address of ``host``, as ``asyncio.start_server`` binds."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
