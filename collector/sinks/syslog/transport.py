"""Blocking sockets to the receiver, driven from a worker thread by the sink.

Why blocking sockets in a thread rather than asyncio streams: ``StreamWriter.drain()``
returns once the transport's buffer is below its low-water mark, and with TLS the
inner TCP transport keeps a buffer of its own that ``drain()`` does not see. A page
acknowledged then could still be in our process when the connection dies. Here
``sendall`` returns only once every byte is in the kernel, and :meth:`StreamConnection.send`
then waits until the receiver's TCP stack has acknowledged all of them (Linux
``SIOCOUTQ``). TLS encryption also runs in the thread, off the event loop.

What that acknowledgement still does not cover is the receiver itself: bytes its TCP
stack accepted are lost if it crashes before processing them. Syslog has no
application-level acknowledgement (RELP has), so this is the strongest one it offers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable, Sequence

Framer = Callable[[Sequence[bytes]], bytes]
"""Joins a page's messages into the bytes of one stream (see :mod:`.framing`)."""

# Linux: ioctl(SIOCOUTQ) = bytes the peer has not acknowledged yet (TIOCOUTQ's value).
if sys.platform == "linux":
    import fcntl
    import termios

    def unacknowledged(fd: int) -> int:
        """Bytes written to socket ``fd`` that the peer has not acknowledged yet."""
        raw = fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])

else:  # pragma: no cover - the daemon's supported platform is Linux

    def unacknowledged(fd: int) -> int:
        """Not available on this platform: report everything as acknowledged."""
        return 0


CHUNK = 256 * 1024  # the deadline is re-checked between chunks of a large page
TLS13_VERDICT_SECS = 1.0
"""Longest wait for a TLS 1.3 server's verdict on our certificate (see _await_verdict)."""
_ACK_POLL_FIRST = 0.0001
_ACK_POLL_MAX = 0.02


class ReceiverClosedError(ConnectionError):
    """The receiver closed the connection (it never sends anything, so EOF means gone)."""


class StreamConnection:
    """One TCP or TLS connection to a syslog receiver.

    Args:
        sock: a connected socket (TLS already handshaken).
        frame: how messages are delimited on the stream.
        write_timeout: seconds a page may take to be written and acknowledged.
    """

    def __init__(self, sock: socket.socket, frame: Framer, write_timeout: float) -> None:
        self._sock = sock
        self._frame = frame
        self._write_timeout = write_timeout

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        server_name: str,
        frame: Framer,
        connect_timeout: float,
        write_timeout: float,
    ) -> StreamConnection:
        """Connect (and handshake) within ``connect_timeout``.

        Raises:
            OSError: including ``ssl.SSLError`` for a failed handshake.
        """
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            # No Nagle: the tail of a page must not wait for the ACK of its head.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Between cycles a connection may idle for minutes; keepalive finds a dead one.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=server_name)
                _await_verdict(sock, min(connect_timeout, TLS13_VERDICT_SECS))
        except BaseException:
            sock.close()
            raise
        return cls(sock, frame, write_timeout)

    @property
    def tls_version(self) -> str | None:
        """The negotiated TLS version, or None for plain TCP."""
        return self._sock.version() if isinstance(self._sock, ssl.SSLSocket) else None

    def is_open(self) -> bool:
        """Whether the receiver still has the connection open, without blocking.

        A receiver closes without a word (a restart, an idle timeout): the next page
        would then go to a socket nobody reads. Anything readable is either EOF, TLS
        records (session tickets) or unexpected data; only EOF or an error means closed.
        """
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        if not poller.poll(0):
            return True
        self._sock.setblocking(False)
        try:
            while self._sock.recv(65536):
                pass  # a syslog receiver has nothing to say; whatever it said is dropped
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return True
        except OSError:
            return False
        finally:
            self._sock.settimeout(self._write_timeout)
        return False

    def send(self, messages: Sequence[bytes]) -> int:
        """Write a page and wait until the receiver's TCP stack acknowledged all of it.

        Returns:
            The number of bytes written.

        Raises:
            TimeoutError: not written and acknowledged within ``write_timeout``.
            OSError: the connection failed; it must not be used again.
        """
        deadline = time.monotonic() + self._write_timeout
        data = self._frame(messages)
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            self._sock.sendall(view[start : start + CHUNK])
        self._wait_acknowledged(deadline)
        return len(data)

    def _wait_acknowledged(self, deadline: float) -> None:
        fd = self._sock.fileno()
        delay = _ACK_POLL_FIRST
        while True:
            # A reset (receiver killed mid-page) shows here; the queue would never drain.
            failure = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if failure:
                raise OSError(failure, os.strerror(failure))
            if unacknowledged(fd) == 0:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(errno.ETIMEDOUT, "the receiver did not acknowledge the page")
            time.sleep(min(delay, left))
            delay = min(delay * 2, _ACK_POLL_MAX)

    def close(self) -> None:
        """Close, sending TLS close_notify first (receivers log an error without it)."""
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket):
            with contextlib.suppress(OSError, ValueError):
                sock.settimeout(1.0)
                # unwrap() sends close_notify, then waits for the receiver's, which many
                # receivers never send: an error here is expected and harmless.
                sock.unwrap()
        sock.close()


def _await_verdict(sock: ssl.SSLSocket, timeout: float) -> None:
    """Wait for a TLS 1.3 server to accept or refuse us before the connection takes a page.

    In TLS 1.3 the handshake is complete on our side before the server has checked our
    client certificate (or noticed we sent none). Its verdict comes a round trip later:
    a session ticket, or an alert and a close. A page written meanwhile could reach the
    server's TCP stack, be acknowledged, and then be thrown away with the connection.
    So wait for the ticket, the alert (raised here as ``ssl.SSLError``) or the close,
    at most ``timeout``: a server that issues no tickets says nothing either way.
    """
    if sock.version() != "TLSv1.3":
        return  # TLS 1.2 settles client authentication inside the handshake
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    sock.setblocking(False)
    try:
        while not (sock.session is not None and sock.session.has_ticket):
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return
            try:
                if not sock.recv(65536):
                    raise ReceiverClosedError(
                        "the receiver closed the connection after the handshake"
                    )
            except ssl.SSLWantReadError:
                continue  # a record was processed (a ticket, or part of one)
    finally:
        sock.setblocking(True)


class DatagramConnection:
    """A connected UDP socket: one message per datagram, best effort (RFC 5426).

    ``connect`` makes the kernel report an ICMP "port unreachable" for an earlier
    datagram as ``ECONNREFUSED`` on a later send, so a receiver that is down is
    noticed (and the page retried) rather than written into the void forever.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    def open(cls, host: str, port: int, *, write_timeout: float) -> DatagramConnection:
        """Resolve ``host`` and connect a UDP socket to it.

        Raises:
            OSError: the name does not resolve, or no socket can be made.
        """
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.connect(address)
            sock.settimeout(write_timeout)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    tls_version = None

    def is_open(self) -> bool:
        """UDP has no connection to lose."""
        return True

    def send(self, messages: Sequence[bytes]) -> int:
        """Send each message as one datagram.

        Returns:
            The number of bytes sent.

        Raises:
            OSError: e.g. ``ConnectionRefusedError`` when nothing listens at the address.
        """
        send = self._sock.send
        return sum([send(message) for message in messages])

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()
