"""What "acknowledged" means, on real sockets with in-test receivers.

- a page written after the receiver went away raises instead of being acknowledged;
- a receiver that stops reading makes the page time out, not hang;
- a receiver that is down fails fast and transiently, and holds no memory;
- concurrent sends never interleave their messages on the stream;
- mutual TLS: the client certificate is presented.
"""

from __future__ import annotations

import asyncio
import gc
import select
import socket
import ssl
import time
import tracemalloc
from pathlib import Path

import pytest
import trustme

from collector.errors import SinkError, TransientSinkError
from collector.sinks.syslog.framing import octet_counted
from collector.sinks.syslog.transport import StreamConnection

from .capture import CaptureServer
from .conftest import Pki
from .helpers import build_sink, event
from .parsers import parse_5424, parse_octet_frames
from .rsyslog import free_port

# Real daemons and sockets: a hang must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(60)


def _connect(port: int, *, write_timeout: float = 5.0) -> StreamConnection:
    return StreamConnection.open(
        "127.0.0.1",
        port,
        tls=None,
        server_name="127.0.0.1",
        frame=octet_counted,
        connect_timeout=5.0,
        write_timeout=write_timeout,
    )


def test_a_page_written_after_the_receiver_vanished_is_not_acknowledged() -> None:
    with CaptureServer() as server:
        conn = _connect(server.port)
        server.wait_accepted()
        server.close_all()
        # Wait until the receiver's FIN has arrived, without reading it.
        assert select.select([conn._sock], [], [], 5)[0]
        # A bare sendall succeeds here (the kernel takes the bytes, the peer answers
        # with a reset later): waiting for the TCP acknowledgement is what catches it.
        with pytest.raises(OSError):  # noqa: PT011 - EPIPE or ECONNRESET, both fine
            conn.send([b"<14>1 - - - - - - page after the receiver left"])
        conn.close()


def test_is_open_tells_a_closed_connection_from_a_live_one() -> None:
    with CaptureServer() as server:
        conn = _connect(server.port)
        conn.send([b"<14>1 - - - - - - hello"])
        server.wait_accepted()
        assert conn.is_open()
        server.close_all()
        deadline = time.monotonic() + 5
        while conn.is_open() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not conn.is_open()
        conn.close()


def test_a_receiver_that_stops_reading_times_the_page_out() -> None:
    with CaptureServer(read=False) as server:
        conn = _connect(server.port, write_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            conn.send([b"x" * 1_000_000] * 20)
        assert time.monotonic() - started < 3
        conn.close()


async def test_a_receiver_that_is_down_fails_fast_transiently_and_holds_nothing(
    tmp_path: Path,
) -> None:
    port = free_port(socket.SOCK_STREAM)  # nothing listens there
    options = {"type": "syslog", "address": f"127.0.0.1:{port}", "mode": "tcp"}
    sink, stats = build_sink(options, tmp_path)
    await sink.start()
    page = [event(n, subject="x" * 2000) for n in range(500)]  # ~1.3 MB encoded
    with pytest.raises(TransientSinkError, match=f"cannot connect to tcp://127.0.0.1:{port}"):
        await sink.send(page)

    async def fail(times: int) -> int:
        for _ in range(times):
            with pytest.raises(TransientSinkError):
                await sink.send(page)
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        after_few = await fail(3)
        after_many = await fail(20)
    finally:
        tracemalloc.stop()
    # The last failure may still be referenced (its traceback); 20 more must add nothing.
    grown = after_many - after_few
    assert grown < 100_000, f"memory grew by {grown} bytes over 20 failed pages"
    assert stats.bytes == 0
    await sink.aclose()


async def test_concurrent_pages_never_interleave(tmp_path: Path) -> None:
    with CaptureServer() as server:
        options = {"type": "syslog", "address": f"127.0.0.1:{server.port}", "mode": "tcp"}
        sink, stats = build_sink(options, tmp_path)
        await sink.start()
        pages = [[event(p * 1000 + n, subject="y" * 300) for n in range(200)] for p in range(4)]
        await asyncio.gather(*(sink.send(page) for page in pages))
        await sink.aclose()
        stream = server.wait_for(stats.bytes)
    messages = [parse_5424(m) for m in parse_octet_frames(stream)]
    assert len(messages) == 800
    ids = [m.sd[0][1]["eventId"] for m in messages]
    # Each page's 200 messages are contiguous and in order.
    runs = [ids[i : i + 200] for i in range(0, 800, 200)]
    expected = {tuple(e.event_id for e in page) for page in pages}
    assert {tuple(run) for run in runs} == expected


def _mtls_server(pki: Pki) -> ssl.SSLContext:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pki.server.cert, pki.server.key)
    server_tls.load_verify_locations(pki.server.ca)
    server_tls.verify_mode = ssl.CERT_REQUIRED
    return server_tls


async def test_mutual_tls_presents_the_client_certificate(pki: Pki, tmp_path: Path) -> None:
    with CaptureServer(_mtls_server(pki)) as server:
        options = {
            "type": "syslog",
            "address": f"localhost:{server.port}",
            "mode": "tls",
            "ca_file": str(pki.server.ca),
            "cert_file": str(pki.client_cert),
        }
        sink, stats = build_sink(options, tmp_path)
        await sink.start()
        await sink.send([event(1)])
        await sink.aclose()
        stream = server.wait_for(stats.bytes)
    assert not server.errors
    [message] = parse_octet_frames(stream)
    assert parse_5424(message).sd[0][1]["eventId"] == event(1).event_id


@pytest.mark.parametrize(
    ("client_cert", "expected"),
    [
        (None, "TLSV13_ALERT_CERTIFICATE_REQUIRED: the receiver requires a client certificate"),
        ("stranger", "TLSV1_ALERT_UNKNOWN_CA: the receiver does not trust our client certificate"),
    ],
)
async def test_a_tls13_receiver_refusing_our_certificate_gets_no_page(
    pki: Pki, tmp_path: Path, client_cert: str | None, expected: str
) -> None:
    # TLS 1.3 refuses a client certificate only after our side of the handshake is
    # done: a page written at once could be TCP-acknowledged and then dropped.
    options: dict[str, object] = {
        "type": "syslog",
        "mode": "tls",
        "ca_file": str(pki.server.ca),
    }
    if client_cert == "stranger":
        stranger = trustme.CA().issue_cert("client.example")
        stranger.private_key_and_cert_chain_pem.write_to_path(tmp_path / "stranger.pem")
        options["cert_file"] = str(tmp_path / "stranger.pem")
    with CaptureServer(_mtls_server(pki)) as server:
        options["address"] = f"localhost:{server.port}"
        sink, stats = build_sink(options, tmp_path)
        await sink.start()
        for _ in range(3):
            with pytest.raises(SinkError) as info:
                await sink.send([event(1)])
            assert not isinstance(info.value, TransientSinkError)
            assert expected in str(info.value)
        await sink.aclose()
    assert server.data() == b"" and stats.bytes == 0


async def test_a_tls13_receiver_that_issues_no_tickets_still_gets_its_page(
    pki: Pki, tmp_path: Path
) -> None:
    server_tls = _mtls_server(pki)
    server_tls.num_tickets = 0  # nothing to wait for: the verdict wait must just expire
    with CaptureServer(server_tls) as server:
        options = {
            "type": "syslog",
            "address": f"localhost:{server.port}",
            "ca_file": str(pki.server.ca),
            "cert_file": str(pki.client_cert),
        }
        sink, stats = build_sink(options, tmp_path)
        await sink.start()
        started = time.monotonic()
        await sink.send([event(3)])
        waited = time.monotonic() - started
        await sink.aclose()
        stream = server.wait_for(stats.bytes)
    assert 0.9 < waited < 3.0, "the verdict wait is bounded by TLS13_VERDICT_SECS"
    assert parse_5424(parse_octet_frames(stream)[0]).sd[0][1]["eventId"] == event(3).event_id
