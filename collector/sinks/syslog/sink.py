"""The ``syslog`` sink: pages of clicks to a syslog receiver over UDP, TCP or TLS.

Delivery (TCP and TLS): the connection is opened lazily, at the first page or health
check. A page is encoded whole, written whole, and acknowledged only once all of its
bytes are in the kernel and the receiver's TCP stack acknowledged them (see
:mod:`~collector.sinks.syslog.transport` for why that is the strongest acknowledgement
syslog offers). Any failure on the way drops the connection and raises
:class:`~collector.errors.TransientSinkError`: the pipeline's retry policy backs off and
sends the whole page again on a new connection. Duplicates are possible, loss is not.
Nothing is queued beyond the page in hand, so memory stays bounded while the receiver
is down. A certificate problem is a plain :class:`~collector.errors.SinkError` that
says what to fix.

UDP is best effort: a datagram the network or the receiver drops is gone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading

import orjson
import structlog

from collector.errors import SinkError, TransientSinkError
from collector.events import Batch
from collector.sinks import SinkContext
from collector.sinks.syslog.config import SyslogSinkConfig
from collector.sinks.syslog.encoder import PageEncoder
from collector.sinks.syslog.framing import lf_terminated, octet_counted
from collector.sinks.syslog.tls import client_context, handshake_error
from collector.sinks.syslog.transport import DatagramConnection, StreamConnection

log = structlog.get_logger("collector.sinks.syslog")

Connection = StreamConnection | DatagramConnection


def default_hostname() -> str:
    """This machine's fully qualified domain name (may query DNS: call it off the loop)."""
    return socket.getfqdn() or socket.gethostname()


class SyslogSink:
    """Sends each page as syslog messages; returning from :meth:`send` is the ack.

    Args:
        name: the sink's name in the config; errors carry it.
        config: the validated config.
        context: what the collector shares with its sinks (counters).
        hostname: HOSTNAME to write; default ``config.hostname`` or the machine's FQDN.

    Messages cut to ``max_message_bytes`` are counted in ``context.stats.truncated``.
    """

    def __init__(
        self,
        name: str,
        config: SyslogSinkConfig,
        context: SinkContext,
        *,
        hostname: str | None = None,
    ) -> None:
        self.name = name
        self._config = config
        self._stats = context.stats
        self._hostname = hostname if hostname is not None else config.hostname
        self._encoder: PageEncoder | None = None
        self._tls: ssl.SSLContext | None = None
        self._server_name = config.tls_server_name or config.host
        self._conn: Connection | None = None
        # One page at a time on the connection: pages of concurrent sources never interleave.
        self._lock = asyncio.Lock()
        # A cancelled send releases the asyncio lock while its thread still writes;
        # this lock keeps the next page off the socket until that thread is done.
        self._io_lock = threading.Lock()

    async def start(self) -> None:
        """Load the TLS files and settle the hostname; the connection is opened lazily.

        Raises:
            SinkError: a CA, certificate or key file cannot be loaded.
        """
        config = self._config
        if config.mode == "tls":
            self._tls = await asyncio.to_thread(client_context, config, self.name)
        if self._hostname is None:
            self._hostname = await asyncio.to_thread(default_hostname)
        self._encoder = PageEncoder.for_config(
            config, hostname=self._hostname, procid=str(os.getpid())
        )

    async def send(self, events: Batch) -> None:
        """Deliver one page; return once the receiver acknowledged all of it (TCP/TLS).

        Raises:
            TransientSinkError: the receiver is down, reset the connection, or did not
                take the page in time; the page is to be sent again.
            SinkError: TLS verification failed, or a click cannot be encoded.
        """
        if not events:
            return
        if self._encoder is None:
            await self.start()
        assert self._encoder is not None
        try:
            page = self._encoder.encode(events)
        except orjson.JSONEncodeError as exc:
            raise SinkError(self.name, f"cannot encode a click as JSON: {exc}") from exc
        if page.truncated:
            self._stats.truncated += page.truncated
            log.warning(
                "syslog_messages_truncated",
                sink=self.name,
                count=page.truncated,
                max_message_bytes=self._config.message_limit,
                total=self._stats.truncated,
            )
        async with self._lock:
            self._stats.bytes += await asyncio.to_thread(self._deliver, page.messages)

    async def healthcheck(self) -> None:
        """Open the connection (or check the open one is alive), as a send would.

        Raises:
            SinkError: with the reason the receiver cannot be reached.
        """
        if self._encoder is None:
            await self.start()
        async with self._lock:
            await asyncio.to_thread(self._connection)

    async def aclose(self) -> None:
        """Close the connection (TLS with close_notify). Safe to call twice."""
        async with self._lock:
            await asyncio.to_thread(self._close)

    # Everything below runs in a worker thread.

    def _deliver(self, messages: list[bytes]) -> int:
        with self._io_lock:
            conn = self._connection_locked()
            try:
                return conn.send(messages)
            except OSError as exc:
                # Part of the page may be on the wire: the stream is mid-frame and the
                # connection unusable. The retry starts over on a new one.
                self._close_locked()
                raise TransientSinkError(
                    self.name, f"{self._where()}: page not delivered: {_reason(exc)}"
                ) from exc

    def _connection(self) -> Connection:
        with self._io_lock:
            return self._connection_locked()

    def _connection_locked(self) -> Connection:
        conn = self._conn
        if conn is not None and not conn.is_open():
            log.warning("syslog_connection_lost", sink=self.name, address=self._where())
            self._close_locked()
            conn = None
        if conn is None:
            conn = self._conn = self._open()
        return conn

    def _open(self) -> Connection:
        config = self._config
        try:
            conn: Connection
            if config.mode == "udp":
                conn = DatagramConnection.open(
                    config.host, config.port, write_timeout=config.write_timeout_secs
                )
            else:
                conn = StreamConnection.open(
                    config.host,
                    config.port,
                    tls=self._tls,
                    server_name=self._server_name,
                    frame=lf_terminated if config.framing == "lf" else octet_counted,
                    connect_timeout=config.connect_timeout_secs,
                    write_timeout=config.write_timeout_secs,
                )
        except ssl.SSLError as exc:
            raise handshake_error(exc, config, self.name, self._server_name) from exc
        except OSError as exc:
            raise TransientSinkError(
                self.name, f"cannot connect to {self._where()}: {_reason(exc)}"
            ) from exc
        log.info("syslog_connected", sink=self.name, address=self._where(), tls=conn.tls_version)
        return conn

    def _close(self) -> None:
        with self._io_lock:
            self._close_locked()

    def _close_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _where(self) -> str:
        return f"{self._config.mode}://{self._config.address}"


def _reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror | TimeoutError) or not error.strerror:
        return str(error) or type(error).__name__
    return error.strerror
