"""The ``syslog`` sink: pages of clicks to a syslog receiver over UDP, TCP or TLS.

Delivery (TCP and TLS): ``start`` loads the TLS files; the connection is opened at the
first page or health check, and again after it is lost. A page is encoded whole,
written whole, and acknowledged only once all of its bytes are in the kernel and the
receiver's TCP stack acknowledged them (see :mod:`~collector.sinks.syslog.transport`
for why that is the strongest acknowledgement syslog offers). Any failure on the way
drops the connection and raises :class:`~collector.errors.TransientSinkError`:
:mod:`collector.delivery`, which owns every sink's retries, backs off and sends the
whole page again on a new connection. Duplicates are possible, loss is not. Nothing is
queued beyond the page in hand, so memory stays bounded while the receiver is down. A
certificate problem is a plain :class:`~collector.errors.SinkError` that says what to
fix.

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
from collector.net import client_ssl_context
from collector.sinks import SinkContext, not_started
from collector.sinks.syslog.cef import CefFormatter
from collector.sinks.syslog.config import SyslogSinkConfig
from collector.sinks.syslog.encoder import (
    HeaderFormatter,
    PageEncoder,
    PayloadFormatter,
)
from collector.sinks.syslog.framing import lf_terminated, octet_counted
from collector.sinks.syslog.kind_json import json_with_kind
from collector.sinks.syslog.leef import LeefFormatter
from collector.sinks.syslog.rfc3164 import Rfc3164Header
from collector.sinks.syslog.rfc5424 import BOM, Rfc5424Header
from collector.sinks.syslog.tls import handshake_error
from collector.sinks.syslog.transport import DatagramConnection, StreamConnection
from collector.sinks.syslog.ttp_fields import KindCef, KindLeef, by_kind

log = structlog.get_logger("collector.sinks.syslog")

Connection = StreamConnection | DatagramConnection


def default_hostname() -> str:
    """This machine's fully qualified domain name (may query DNS: call it off the loop)."""
    return socket.getfqdn() or socket.gethostname()


def page_encoder(config: SyslogSinkConfig, *, hostname: str, procid: str) -> PageEncoder:
    """The encoder ``config`` describes, for this host and process."""
    header: HeaderFormatter
    if config.rfc == "5424":
        header = Rfc5424Header(
            facility=config.facility_code,
            hostname=hostname,
            app_name=config.app_name,
            procid=procid,
            msg_id=config.msg_id,
            enterprise_number=config.enterprise_number,
        )
    else:
        header = Rfc3164Header(
            facility=config.facility_code, hostname=hostname, tag=config.app_name, procid=procid
        )
    # Each kind of record has its own CEF/LEEF mapping; JSON carries the kind.
    payload: PayloadFormatter = json_with_kind
    if config.format == "cef":
        payload = by_kind(CefFormatter(), KindCef())
    elif config.format == "leef":
        payload = by_kind(LeefFormatter(config.leef_delimiter), KindLeef(config.leef_delimiter))
    return PageEncoder(header, payload, config.message_limit, BOM if config.bom else b"")


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
        """Load the TLS files and settle the hostname; the connection is opened at first use.

        Raises:
            ConfigError: a CA, certificate or key file cannot be loaded (naming its key).
        """
        config = self._config
        if config.mode == "tls":
            self._tls = await asyncio.to_thread(
                client_ssl_context,
                f"sinks.{self.name}",
                ca_file=config.ca_file,
                cert_file=config.cert_file,
                key_file=config.key_file,
            )
        if self._hostname is None:
            self._hostname = await asyncio.to_thread(default_hostname)
        self._encoder = page_encoder(config, hostname=self._hostname, procid=str(os.getpid()))

    async def send(self, events: Batch) -> None:
        """Deliver one page; return once the receiver acknowledged all of it (TCP/TLS).

        Raises:
            TransientSinkError: the receiver is down, reset the connection, or did not
                take the page in time; the page is to be sent again.
            SinkError: TLS verification failed, a click cannot be encoded, or the sink
                is not started.
        """
        if not events:
            return
        encoder = self._encoder
        if encoder is None:
            raise not_started(self.name)
        try:
            page = encoder.encode(events)
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
            raise not_started(self.name, "healthcheck()")
        async with self._lock:
            await asyncio.to_thread(self._connection)

    async def aclose(self) -> None:
        """Close the connection (TLS with close_notify). Safe to call twice."""
        self._encoder = None
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
            raise handshake_error(
                exc,
                sink=self.name,
                address=f"{config.host}:{config.port}",
                server_name=self._server_name,
                ca_file=config.ca_file,
            ) from exc
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
