"""A minimal TCP/TLS receiver in a thread that keeps every byte it is sent, per connection.

For what rsyslog cannot show: the exact byte stream (framing, interleaving), a peer
that stops reading, a TLS server that requires a client certificate.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from types import TracebackType


class CaptureServer:
    """Accepts connections on 127.0.0.1 and records what each one sends.

    Args:
        tls: a server context to wrap each connection with; None for plain TCP.
        read: False to accept connections but never read from them (a stuck receiver).
    """

    def __init__(self, tls: ssl.SSLContext | None = None, *, read: bool = True) -> None:
        self._tls = tls
        self._read = read
        self._listener = socket.create_server(("127.0.0.1", 0))
        if not read:
            # Inherited by accepted sockets: a small window fills up fast.
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.streams: list[bytearray] = []
        self.errors: list[BaseException] = []
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> CaptureServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for conn in self._open:
            conn.close()
        self._listener.close()

    def data(self) -> bytes:
        """Everything received on every connection, in connection order."""
        with self._lock:
            return b"".join(bytes(s) for s in self.streams)

    def wait_for(self, size: int, timeout: float = 5.0) -> bytes:
        """Wait until at least ``size`` bytes arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.data()) < size and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.data()

    def wait_accepted(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` connections were accepted."""
        deadline = time.monotonic() + timeout
        while len(self.streams) < count:
            assert time.monotonic() < deadline, "no connection accepted"
            time.sleep(0.01)

    def close_all(self) -> None:
        """Close every accepted connection (the receiver goes away)."""
        with self._lock:
            for conn in self._open:
                # shutdown() first: close() alone waits for a recv() in another thread.
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._open.append(conn)
                buffer = bytearray()
                self.streams.append(buffer)
            if self._read:
                thread = threading.Thread(target=self._serve, args=(conn, buffer), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _serve(self, conn: socket.socket, buffer: bytearray) -> None:
        try:
            conn.settimeout(0.1)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
                conn.settimeout(0.1)
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except (TimeoutError, ssl.SSLWantReadError):
                    continue
                if not chunk:
                    return
                with self._lock:
                    buffer.extend(chunk)
        except (OSError, ValueError) as exc:
            self.errors.append(exc)
        finally:
            conn.close()
