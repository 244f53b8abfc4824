"""The limits of :mod:`collector.metrics_server`, and the book of its open connections."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from dataclasses import dataclass

import structlog

log = structlog.get_logger("collector.metrics_server")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What the clients of one server may hold (see the module's docstring)."""

    max_connections: int = 64
    max_head_bytes: int = 8 * 1024
    max_body_bytes: int = 64 * 1024
    request_timeout_secs: float = 5.0
    write_timeout_secs: float = 5.0
    error_log_interval_secs: float = 60.0


METRICS_LIMITS = HttpLimits()
"""For /metrics, /healthz and /readyz: GETs without a body, from a few scrapers and probes."""


def descriptor_share(max_connections: int) -> int:
    """``max_connections``, lowered to a quarter of the soft ``RLIMIT_NOFILE``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(1, min(max_connections, soft // 4))


class Connections:
    """The open connections of a server's listeners: the cap, evictions and deadlines.

    Shared by the accepting threads and the connections' own threads, hence the lock.
    A connection is closed from another thread by ``shutdown()`` only, which wakes its
    thread's read; that thread then closes the descriptor itself (closing it from
    here could hand the number to another file while the read still holds it).
    """

    def __init__(self, limits: HttpLimits) -> None:
        self._limits = limits
        self.cap = descriptor_share(limits.max_connections)
        self._lock = threading.Lock()
        # Oldest first: the request's deadline, or None once it is being answered.
        self._open: dict[socket.socket, float | None] = {}
        self._closing: set[socket.socket] = set()  # shut down; its thread has yet to close it
        self.refused = 0
        self._accept_failures = 0
        self._last_failure_log = -float("inf")

    @property
    def held(self) -> int:
        """Descriptors held by connections now (those shutting down included)."""
        with self._lock:
            return len(self._open) + len(self._closing)

    def admit(self, conn: socket.socket) -> bool:
        """Whether to serve a new connection, evicting the oldest waiting one at the cap."""
        with self._lock:
            if len(self._open) >= self.cap:
                self.refused += 1
                waiting = (other for other, deadline in self._open.items() if deadline is not None)
                oldest = next(waiting, None)
                # Every connection is being answered, or evicted ones still hold their
                # descriptors: the new one waits for no one and is closed.
                if oldest is None or len(self._closing) >= self.cap:
                    return False
                self._drop(oldest)
            self._open[conn] = time.monotonic() + self._limits.request_timeout_secs
            return True

    def answering(self, conn: socket.socket) -> bool:
        """The request is in: no longer evictable. False if it was evicted or timed out."""
        with self._lock:
            if conn not in self._open:
                return False
            self._open[conn] = None
            return True

    def release(self, conn: socket.socket) -> None:
        """The connection's thread closed it."""
        with self._lock:
            self._open.pop(conn, None)
            self._closing.discard(conn)

    def expire(self, now: float) -> None:
        """Close every connection whose request did not arrive whole in time."""
        with self._lock:
            for conn in [c for c, deadline in self._open.items() if deadline and deadline <= now]:
                self._drop(conn)

    def close_all(self) -> None:
        """Close every connection (the server is stopping)."""
        with self._lock:
            for conn in list(self._open):
                self._drop(conn)

    def accept_failed(self, error: OSError, port: int) -> None:
        """Log a failed ``accept()``, at most once per ``error_log_interval_secs``."""
        interval = self._limits.error_log_interval_secs
        with self._lock:
            self._accept_failures += 1
            now = time.monotonic()
            if now - self._last_failure_log < interval:
                return
            self._last_failure_log, failures, self._accept_failures = now, self._accept_failures, 0
            held = len(self._open) + len(self._closing)
        log.warning(
            "accept_failed",
            error=error.strerror or str(error),
            port=port,
            failures=failures,
            open_connections=held,
            message="cannot accept connections (out of file descriptors?); retrying, "
            f"logged at most every {interval:g} s",
        )

    def _drop(self, conn: socket.socket) -> None:  # with the lock held
        del self._open[conn]
        self._closing.add(conn)
        with contextlib.suppress(OSError):  # already gone
            conn.shutdown(socket.SHUT_RDWR)
