"""The shared HTTP layer: TLS (always verified, CA and client certificates), timeouts,
Retry-After, batching bounds and the config options every HTTP sink has."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from collector.errors import ConfigError, SinkError, TransientSinkError
from collector.simulator.httpserver import Request, Response
from collector.sinks.http.batching import Item, split_batches
from collector.sinks.http.client import compresses
from collector.sinks.http.common import parse_retry_after, where
from collector.sinks.http.generic import HttpSinkConfig

from .helpers import events
from .local_server import LocalServer


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> dict[str, str]:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("collector.example")
    cert_file = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    return {"ca_file": str(ca_file), "cert_file": str(cert_file)}


async def tls_server(
    ca: trustme.CA, servers: list[LocalServer], *, client_cert: bool
) -> LocalServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)

    async def ok(request: Request) -> Response:
        return Response(200)

    server = LocalServer(ok, tls=context)
    await server.start()
    servers.append(server)
    return server


async def test_tls_is_verified_against_ca_file(
    ca: trustme.CA, servers: list[LocalServer], make_sink: Any, tls_files: dict[str, str]
) -> None:
    server = await tls_server(ca, servers, client_cert=False)
    trusted = await make_sink(
        {"type": "http", "endpoint": server.url, "ca_file": tls_files["ca_file"]}
    )
    await trusted.send(events(1))
    stranger = await make_sink({"type": "http", "endpoint": server.url}, name="stranger")
    with pytest.raises(SinkError, match=r"could not be verified.*set ca_file") as raised:
        await stranger.send(events(1))
    assert not isinstance(raised.value, TransientSinkError)  # retrying will not fix it


async def test_mutual_tls_sends_the_client_certificate(
    ca: trustme.CA, servers: list[LocalServer], make_sink: Any, tls_files: dict[str, str]
) -> None:
    server = await tls_server(ca, servers, client_cert=True)
    with_cert = await make_sink({"type": "http", "endpoint": server.url, **tls_files})
    await with_cert.send(events(1))
    without = await make_sink(
        {
            "type": "http",
            "endpoint": server.url,
            "ca_file": tls_files["ca_file"],
            "retry_max_secs": 0.05,
        },
        name="no-cert",
    )
    with pytest.raises(SinkError):
        await without.send(events(1))


async def test_an_unreadable_ca_file_is_a_config_error(make_sink: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^sinks\.out\.ca_file: cannot load '.*none': No such"):
        await make_sink(
            {"type": "http", "endpoint": "https://h.example", "ca_file": str(tmp_path / "none")}
        )


async def test_a_receiver_that_never_answers_times_out_as_transient(
    servers: list[LocalServer], make_sink: Any
) -> None:
    async def hang(request: Request) -> Response:
        await asyncio.sleep(30)
        return Response(200)

    server = LocalServer(hang)
    await server.start()
    servers.append(server)
    sink = await make_sink(
        {"type": "http", "endpoint": server.url, "request_timeout_secs": 0.2, "retry_max_secs": 0.3}
    )
    with pytest.raises(
        SinkError,
        match=r"no complete answer from http://127\.0\.0\.1:\d+ within 0\.2s \(request_timeout_secs\)",
    ) as raised:
        await sink.send(events(1))
    assert isinstance(raised.value.__cause__, TransientSinkError)


def test_retry_after_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_split_batches_bounds_events_and_bytes() -> None:
    items = [
        Item(event, b"x" * size)
        for event, size in zip(events(6), [10, 10, 10, 50, 10, 10], strict=True)
    ]
    assert [len(b) for b in split_batches(items, 2, 1000)] == [2, 2, 2]
    assert [len(b) for b in split_batches(items, 10, 35, per_item=1, fixed=2)] == [3, 1, 2]
    # An item larger than the limit still goes, alone.
    assert [len(b) for b in split_batches(items, 10, 20)] == [2, 1, 1, 2]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"endpoint": "ftp://x"}, "must be an http"),
        ({"proxy": "socks5://p:1080"}, "must be an http:// or https:// proxy URL"),
        ({"key_file": "/k.pem"}, "key_file: needs cert_file"),
        ({"max_batch_bytes": 10}, "greater than or equal to 1024"),
        ({"verify": False}, "Extra inputs are not permitted"),
    ],
)
def test_shared_options_are_validated(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HttpSinkConfig.model_validate({"type": "http", "endpoint": "https://h.example/in", **extra})


def test_urls_in_errors_leave_out_userinfo_and_query() -> None:
    assert (
        where("http://webuser:WEBPASS@127.0.0.1:1/ingest?token=t")
        == "http://***@127.0.0.1:1/ingest"
    )
    assert where("https://[::1]:8088/services/collector") == "https://[::1]:8088/services/collector"


@pytest.mark.parametrize(
    ("compression", "endpoint", "gzipped"),
    [
        ("auto", "https://splunk.example.com:8088", True),
        ("auto", "https://10.0.0.7:9200", True),
        ("auto", "http://127.0.0.1:8088", False),
        ("auto", "http://localhost:8088", False),
        ("auto", "http://[::1]:8088", False),
        ("gzip", "http://127.0.0.1:8088", True),
        ("none", "https://splunk.example.com:8088", False),
    ],
)
def test_auto_compression_gzips_only_across_a_network(
    compression: str, endpoint: str, gzipped: bool
) -> None:
    assert compresses(compression, endpoint) is gzipped


async def test_by_default_a_loopback_receiver_gets_plain_bodies(
    make_sink: Any, receiver: Any
) -> None:
    """``compression = "auto"`` (the default) on loopback: nothing to save on the wire."""
    server = await receiver()
    sink = await make_sink({"type": "http", "endpoint": server.url + "/ingest"})
    await sink.send(events(3))
    [request] = server.requests
    assert "content-encoding" not in request.headers
    assert len(server.events) == 3
