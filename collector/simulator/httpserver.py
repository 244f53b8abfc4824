"""A tiny HTTP/1.1 server on asyncio, with limits a hostile client cannot outgrow.

It serves the simulator and the tests' receivers (the production metrics
endpoints are on :mod:`collector.metrics_server`); the messages themselves are in
:mod:`collector.simulator.httpmessages`. Each server has :class:`ServerLimits`,
without practical limits by default; when set:

- at most ``max_connections`` at once, and never more than a quarter of the
  process's file descriptors (``RLIMIT_NOFILE``), so the collector always has
  descriptors for its checkpoint, sinks and Mimecast. A connection beyond the cap
  closes the oldest one still waiting for its request (idle or half-sent), or is
  closed at once when every connection is busy being answered: a stuck client
  cannot keep a health probe out;
- the request head and body are bounded (431 and 413), and so is the time to send
  a whole request and to take the answer;
- ``accept()`` failures (out of descriptors) are logged at most once a minute,
  as one line, and accepting resumes a moment later.

The accept loop is our own rather than ``asyncio.start_server``'s: asyncio's logs
a traceback for every failed ``accept()`` and cannot refuse a connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable

import structlog

from collector.metrics_limits import descriptor_share
from collector.simulator.httplimits import (
    ACCEPT_RETRY_SECS,
    ServerLimits,
    listen,
)
from collector.simulator.httpmessages import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    BadRequestError,
    Disposition,
    Request,
    Response,
    read_request,
    write_response,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "BadRequestError",
    "Disposition",
    "ErrorHook",
    "Handler",
    "HttpServer",
    "Request",
    "Response",
    "ServerLimits",
    "read_request",
]

log = structlog.get_logger("collector.simulator.httpserver")

Handler = Callable[[Request], Awaitable[Response]]
ErrorHook = Callable[[BaseException], None]


class HttpServer:
    """Serves ``handler`` on ``host:port``; port 0 picks a free port.

    Args:
        handler: turns a request into a response.
        host: address to bind ("" for every interface).
        port: port to bind, 0 for any free one.
        on_error: called with any exception the handler raised (the client gets a 500).
        tls: serve HTTPS with this context.
        max_body_bytes: a larger request body is answered 413 (when ``limits`` is not given).
        limits: every limit at once; default: none but ``max_body_bytes``.

    Attributes:
        connections_accepted: connections served so far.
        connections_refused: connections closed at once, or evicted, at the cap.
    """

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        on_error: ErrorHook | None = None,
        tls: ssl.SSLContext | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        limits: ServerLimits | None = None,
    ) -> None:
        self._tls = tls
        self._limits = limits if limits is not None else ServerLimits(max_body_bytes=max_body_bytes)
        self._handler = handler
        self._host = host
        self._port = port
        self._on_error = on_error
        self._listeners: list[socket.socket] = []
        self._acceptors: list[asyncio.Task[None]] = []
        self._cap: int | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        # Connections waiting for (the rest of) a request, oldest first: the ones to evict.
        self._waiting: dict[asyncio.Task[None], None] = {}
        self._accept_failures = 0
        self._last_failure_log = -float("inf")
        self.connections_accepted = 0
        self.connections_refused = 0

    @property
    def port(self) -> int:
        """The bound port (only meaningful once started)."""
        if not self._listeners:
            raise RuntimeError("the server is not running")
        return int(self._listeners[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        """Connections being served now."""
        return len(self._connections)

    async def start(self) -> None:
        """Bind and start accepting connections. Raises OSError if the address is unusable."""
        cap = self._limits.max_connections
        self._cap = None if cap is None else descriptor_share(cap)
        self._listeners = await listen(self._host, self._port)
        self._acceptors = [asyncio.create_task(self._accept(sock)) for sock in self._listeners]

    async def stop(self) -> None:
        """Stop accepting, close every open connection and wait for their tasks."""
        if not self._listeners:
            return
        tasks = [*self._acceptors, *self._connections, *self._closing]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in self._listeners:
            sock.close()
        self._listeners, self._acceptors = [], []

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except ConnectionAbortedError:
                continue  # the client gave up before we took it
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM
                self._accept_failed(exc)
                await asyncio.sleep(ACCEPT_RETRY_SECS)
                continue
            self._admit(conn)
            # Let the connections (and any evicted one's close) run between accepts.
            await asyncio.sleep(0)

    def _admit(self, conn: socket.socket) -> None:
        if self._cap is not None and len(self._connections) >= self._cap:
            oldest = next(iter(self._waiting), None)
            self.connections_refused += 1
            if oldest is None:  # every connection is being answered: refuse the new one
                conn.close()
                return
            del self._waiting[oldest]
            self._connections.discard(oldest)
            self._closing.add(oldest)
            oldest.cancel()
        conn.setblocking(False)
        self.connections_accepted += 1
        self._connections.add(asyncio.create_task(self._serve_socket(conn)))

    def _accept_failed(self, exc: OSError) -> None:
        self._accept_failures += 1
        now = time.monotonic()
        if now - self._last_failure_log < self._limits.error_log_interval_secs:
            return
        self._last_failure_log = now
        log.warning(
            "accept_failed",
            error=exc.strerror or str(exc),
            port=self.port,
            failures=self._accept_failures,
            open_connections=len(self._connections),
            message="cannot accept connections (out of file descriptors?); retrying, "
            f"logged at most every {self._limits.error_log_interval_secs:g} s",
        )
        self._accept_failures = 0

    async def _serve_socket(self, conn: socket.socket) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._waiting[task] = None  # evictable until its request is in (handshake included)
        writer: asyncio.StreamWriter | None = None
        graceful = False
        try:
            async with asyncio.timeout(self._limits.request_timeout_secs):
                reader, writer = await self._open_streams(conn)
            await self._serve_requests(task, reader, writer)
            graceful = True
        except BadRequestError as error:
            graceful = writer is not None and await self._refuse(writer, error)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass  # the client went away, stalled or failed the handshake: nothing to answer
        except asyncio.CancelledError:
            pass  # stop() or an eviction: the connection is simply closed
        except Exception as error:  # noqa: BLE001 - one connection's failure ends it alone
            if self._on_error is not None:
                self._on_error(error)
        finally:
            self._waiting.pop(task, None)
            self._connections.discard(task)
            self._closing.discard(task)
            if writer is None:
                conn.close()
            elif graceful:
                self._close_after_flush(writer)
            else:
                writer.transport.abort()  # a stalled client gets no flush to wait for

    def _close_after_flush(self, writer: asyncio.StreamWriter) -> None:
        writer.close()  # sends what is still buffered first, then closes
        if self._limits.write_timeout_secs is not None:
            # ...unless the client stops reading: then the descriptor goes anyway.
            loop = asyncio.get_running_loop()
            loop.call_later(self._limits.write_timeout_secs, writer.transport.abort)

    async def _refuse(self, writer: asyncio.StreamWriter, error: BadRequestError) -> bool:
        response = Response(error.status, str(error).encode(), "text/plain")
        try:
            async with asyncio.timeout(self._limits.write_timeout_secs):
                await write_response(writer, response, False)
        except (ConnectionError, TimeoutError):
            return False
        return True

    async def _open_streams(
        self, conn: socket.socket
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        # The reader's limit bounds the head: readuntil() fails beyond it (answered 431).
        reader = asyncio.StreamReader(limit=self._limits.max_header_bytes, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, conn, ssl=self._tls)
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def _serve_requests(
        self,
        task: asyncio.Task[None],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        limits = self._limits
        while True:
            self._waiting[task] = None
            async with asyncio.timeout(limits.request_timeout_secs):
                request = await read_request(reader, limits.max_body_bytes)
            self._waiting.pop(task, None)
            if request is None:
                return
            try:
                response = await self._handler(request)
            except Exception as error:  # noqa: BLE001 - one bad request must not kill the server
                if self._on_error is not None:
                    self._on_error(error)
                response = Response(500, b"internal simulator error", "text/plain")
            if response.disposition == "drop":
                return
            async with asyncio.timeout(limits.write_timeout_secs):
                await write_response(writer, response, request.keep_alive)
            if response.disposition == "truncate" or not request.keep_alive:
                return
