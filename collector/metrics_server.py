"""The HTTP server under /metrics, /healthz and /readyz: prometheus-client's, bounded.

prometheus-client's own server (``ThreadingWSGIServer``: the standard library's
wsgiref, one daemon thread per connection) serves a WSGI app, which
:class:`collector.metrics.MetricsServer` builds. Anyone who reaches the port may be
hostile, so this module bounds what a client can hold (:class:`HttpLimits`):

- at most ``max_connections`` connections at once, and never more than a quarter of
  the process's file descriptors (``RLIMIT_NOFILE``), so the checkpoint, sinks and
  Mimecast always have theirs. A connection beyond the cap closes the oldest one still
  waiting for its request, or is closed at once when every connection is being
  answered: a stuck client cannot keep a health probe out;
- a request must arrive whole within ``request_timeout_secs`` of its connection (one
  byte a second does not stretch it), with at most ``max_head_bytes`` of request line
  and headers (414, 431); a body is refused (413) past ``max_body_bytes`` or chunked,
  as no endpoint takes one; the answer must be taken within ``write_timeout_secs``;
- one request per connection, answered in HTTP/1.0 as wsgiref does;
- nothing on stderr per request; a failed ``accept()`` (out of descriptors) is one
  ``accept_failed`` line a minute at most, and a failing request one
  ``metrics_request_failed`` line, never a traceback.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import sys
import threading
import time
from http import HTTPStatus
from io import BufferedIOBase
from types import TracebackType
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler
from wsgiref.types import WSGIApplication

import structlog
from prometheus_client.exposition import ThreadingWSGIServer

from collector.metrics_limits import METRICS_LIMITS, Connections, HttpLimits

log = structlog.get_logger("collector.metrics_server")

ACCEPT_RETRY_SECS = 0.5
"""Pause after a failed ``accept()``: descriptors may be free again by then."""

POLL_SECS = 0.25
"""How often each listener checks the request deadlines (and notices a stop)."""

LISTEN_BACKLOG = 100


def request_failed(error: BaseException | None, path: str) -> None:
    """One log line for a request that failed on our side; the client's own failures are not."""
    if error is None or isinstance(error, OSError):  # reset, went away, did not read in time
        return
    log.error("metrics_request_failed", path=path, error=f"{type(error).__name__}: {error}")


class _HeadReader:
    """The request line and headers, at most ``budget`` bytes (LineTooLong beyond: 431)."""

    def __init__(self, raw: BufferedIOBase, budget: int) -> None:
        self._raw = raw
        self._left = budget
        self.complete = False  # the blank line that ends the head was read

    def readline(self, limit: int = -1) -> bytes:
        line = self._raw.readline(self._left + 1)
        self._left -= len(line)
        if self._left < 0:
            raise http.client.LineTooLong("request head")
        self.complete = line in (b"\r\n", b"\n")
        return line


class _ServerHandler(ServerHandler):
    """wsgiref's, but an exception is one log line, not a traceback on stderr."""

    def log_exception(
        self,
        exc_info: tuple[type[BaseException], BaseException, TracebackType]
        | tuple[None, None, None],
    ) -> None:
        environ = getattr(self, "environ", None) or {}  # set by run(), untyped in typeshed
        request_failed(exc_info[1], str(environ.get("PATH_INFO", "")))


class _RequestHandler(WSGIRequestHandler):
    """One request per connection, within the server's limits; nothing printed."""

    server: _Listener
    # A request line without a version gets a status line back too (no HTTP/0.9).
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.request_timeout_secs)

    def handle(self) -> None:
        limits = self.server.limits
        if not self._read_head(limits.max_head_bytes) or not self._body_read(limits.max_body_bytes):
            return
        # The whole request is in (within its deadline): from here on it cannot be evicted.
        if not self.server.connections.answering(self.connection):
            return  # evicted or timed out while it came in: no one to answer
        self.connection.settimeout(limits.write_timeout_secs)
        handler = _ServerHandler(
            cast(IO[bytes], self.rfile),  # what typeshed's ServerHandler wants; the same object
            cast(IO[bytes], self.wfile),
            sys.stderr,
            self.get_environ(),
            multithread=True,
            multiprocess=False,
        )
        handler.request_handler = self  # type: ignore[attr-defined]  # for its log_request()
        handler.run(self.server.app)

    def _read_head(self, limit: int) -> bool:
        """Read and parse the request line and headers; False when answered or half-sent."""
        raw = self.rfile
        head = _HeadReader(raw, limit)
        try:
            self.raw_requestline = head.readline()
        except http.client.LineTooLong:
            self.requestline = self.request_version = self.command = ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False
        self.rfile = head  # type: ignore[assignment]  # parse_request() reads the headers from it
        try:
            # False for a bad request, which it answered (400, 431, 505).
            parsed = bool(self.raw_requestline) and self.parse_request()
        finally:
            self.rfile = raw
        return parsed and head.complete  # else half a request: the client went away

    def _body_read(self, limit: int) -> bool:
        """Read and drop a body within ``limit`` (no endpoint takes one), else answer 413."""
        if self.headers.get("Transfer-Encoding"):
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "send no chunked body here")
            return False
        length = (self.headers.get("Content-Length") or "0").strip()
        if not length.isdigit():
            self.send_error(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
            return False
        if int(length) > limit:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body is {limit} bytes at most")
            return False
        self.rfile.read(int(length))  # so that closing does not reset the answer away
        return True

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing per request (wsgiref writes each to stderr)."""


class _Listener(ThreadingWSGIServer):
    """One listening socket; its connections are counted in the server's ``connections``."""

    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[Any, ...],
        family: socket.AddressFamily,
        app: WSGIApplication,
        limits: HttpLimits,
        connections: Connections,
    ) -> None:
        self.address_family = family
        self.limits = limits
        self.connections = connections
        super().__init__(address, _RequestHandler)  # binds: OSError if the address is unusable
        self.app = app

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:  # "::" is IPv6 only, as "0.0.0.0" is IPv4
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        socketserver.TCPServer.server_bind(self)
        # Not HTTPServer.server_bind: its socket.getfqdn() is a DNS query, which may hang.
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except ConnectionAbortedError:
            raise  # the client gave up before we took it
        except OSError as error:  # EMFILE, ENFILE, ENOBUFS, ENOMEM
            self.connections.accept_failed(error, int(self.server_address[1]))
            time.sleep(ACCEPT_RETRY_SECS)  # rather than spin on a socket that stays readable
            raise  # serve_forever() drops the failed accept and goes on

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.connections.admit(request)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.connections.release(request)

    def service_actions(self) -> None:
        self.connections.expire(time.monotonic())

    def handle_error(self, request: Any, client_address: Any) -> None:
        request_failed(sys.exc_info()[1], "")


class BoundedWsgiServer:
    """Serves a WSGI app on every address of ``host:port`` (port 0: any free port)."""

    def __init__(
        self, app: WSGIApplication, host: str, port: int, limits: HttpLimits = METRICS_LIMITS
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._limits = limits
        self.connections = Connections(limits)
        self._listeners: list[_Listener] = []

    @property
    def port(self) -> int:
        """The bound port (only meaningful once started)."""
        if not self._listeners:
            raise RuntimeError("the server is not running")
        return int(self._listeners[0].server_address[1])

    def start(self) -> None:
        """Bind and serve on daemon threads. Raises OSError if the address is unusable."""
        infos = socket.getaddrinfo(
            self._host or None, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        try:
            for family, _, _, _, address in dict.fromkeys(infos):
                listener = _Listener(address, family, self._app, self._limits, self.connections)
                self._listeners.append(listener)
        except OSError:
            for listener in self._listeners:
                listener.server_close()
            self._listeners = []
            raise
        for listener in self._listeners:
            threading.Thread(
                target=listener.serve_forever,
                kwargs={"poll_interval": POLL_SECS},
                name=f"metrics-http-{listener.server_address[1]}",
                daemon=True,
            ).start()

    def stop(self) -> None:
        """Stop listening, close every connection and wait (briefly) for their threads."""
        for listener in self._listeners:
            listener.shutdown()
            listener.server_close()
        self._listeners = []
        self.connections.close_all()
        deadline = time.monotonic() + self._limits.write_timeout_secs
        while self.connections.held and time.monotonic() < deadline:
            time.sleep(0.01)
