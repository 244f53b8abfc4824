"""Sinks agree: send before start, TLS (one helper, >= 1.2, one error for a bad CA file),
and one path type for TLS files. Every built-in sink, and the Mimecast source where TLS
is concerned."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import trustme

from collector.errors import ConfigError, SinkError
from collector.net import client_ssl_context
from collector.sinks import SinkConfig, SinkContext
from collector.sinks.registry import BUILTIN_SINKS, sink_config_class
from collector.sources.mimecast.client import MimecastClient
from collector.sources.mimecast.config import MimecastSourceConfig
from collector.stats import SourceStats
from tests.http_sinks.helpers import events

TLS_SINKS = {
    "http": {"endpoint": "https://127.0.0.1:1/in"},
    "splunk_hec": {"endpoint": "https://127.0.0.1:1", "token": "t0ken-for-tests"},
    "elasticsearch": {"endpoint": "https://127.0.0.1:1", "api_key": "a2V5OnNlY3JldA=="},
    "syslog": {"address": "127.0.0.1:1", "mode": "tls"},
}
SINKS: dict[str, dict[str, Any]] = {
    **TLS_SINKS,
    "file": {"path": "clicks.ndjson"},
    "stdout": {},
    "kafka": {"bootstrap_servers": ["127.0.0.1:1"]},
    "otlp": {"endpoint": "http://127.0.0.1:1"},
}
MIMECAST = {
    "type": "mimecast_ttp_url",
    "base_url": "https://127.0.0.1:1",
    "auth": "oauth2",
    "client_id": "cid",
    "client_secret": "csecret",
}


def sink_config(kind: str, tmp_path: Path, **extra: Any) -> SinkConfig:
    options = {"type": kind, **SINKS[kind], **extra}
    if kind == "file":
        options["path"] = str(tmp_path / options["path"])
    return sink_config_class(kind, key=f"sinks.{kind}").model_validate(options)


def test_every_builtin_sink_is_covered() -> None:
    assert set(SINKS) == set(BUILTIN_SINKS)


@pytest.mark.parametrize("kind", sorted(SINKS))
async def test_send_and_healthcheck_before_start_or_after_aclose_raise(
    kind: str, tmp_path: Path
) -> None:
    sink = sink_config(kind, tmp_path).build("out", SinkContext(state_dir=tmp_path))
    with pytest.raises(SinkError, match=r"^sink out: send\(\) before start\(\) or after aclose"):
        await sink.send(events(1))
    assert not (tmp_path / "clicks.ndjson").exists()  # nothing opened on the way
    with pytest.raises(SinkError, match=r"before start\(\) or after aclose\(\)"):
        await sink.healthcheck()
    await sink.send([])  # an empty page is nothing to do, started or not
    if kind in ("file", "stdout"):  # the others would connect to 127.0.0.1:1 at start
        await sink.start()
        await sink.aclose()
        with pytest.raises(SinkError, match=r"send\(\) before start\(\) or after aclose"):
            await sink.send(events(1))


@pytest.mark.parametrize("kind", sorted(TLS_SINKS))
async def test_an_unloadable_ca_file_is_a_config_error_naming_the_key_at_start(
    kind: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing-ca.pem"
    sink = sink_config(kind, tmp_path, ca_file=str(missing)).build(
        "out", SinkContext(state_dir=tmp_path)
    )
    with pytest.raises(ConfigError, match=f"^sinks.out.ca_file: cannot load '{missing}': No such"):
        await sink.start()
    await sink.aclose()


def test_the_source_names_its_unloadable_ca_file_the_same_way(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    config = MimecastSourceConfig.model_validate({**MIMECAST, "ca_file": str(missing)})
    with pytest.raises(ConfigError, match=f"^sources.clicks.ca_file: cannot load '{missing}'"):
        MimecastClient("clicks", config, stats=SourceStats())


def test_a_client_certificate_that_cannot_be_loaded_names_cert_file(tmp_path: Path) -> None:
    bogus = tmp_path / "client.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ConfigError, match=f"^sinks.siem.cert_file: cannot load '{bogus}'"):
        client_ssl_context("sinks.siem", cert_file=bogus)


@pytest.mark.parametrize("kind", [*sorted(TLS_SINKS), "source"])
@pytest.mark.parametrize("key", ["ca_file", "cert_file", "key_file"])
def test_tls_files_are_paths_everywhere(kind: str, key: str) -> None:
    model = MimecastSourceConfig if kind == "source" else sink_config_class(kind, key="k")
    if key != "ca_file" and kind == "source":
        assert key not in model.model_fields  # the source presents no client certificate
        return
    assert set(get_args(model.model_fields[key].annotation)) == {Path, type(None)}


@pytest.fixture
def tls11_server() -> Iterator[tuple[int, Path, list[str]]]:
    """A server on 127.0.0.1 that speaks nothing newer than TLS 1.1; its CA's file."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old versions on purpose
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))
    failures: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    context.wrap_socket(conn, server_side=True).close()
                    failures.append("handshake completed")
                except (OSError, ssl.SSLError) as exc:
                    failures.append(str(exc))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with ca.cert_pem.tempfile() as pem:
        yield listener.getsockname()[1], Path(pem), failures
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() that close() alone would not
    listener.close()
    thread.join(5)


def test_the_one_tls_helper_refuses_tls_older_than_1_2(
    tls11_server: tuple[int, Path, list[str]],
) -> None:
    port, ca_file, _ = tls11_server
    context = client_ssl_context("sinks.out", ca_file=ca_file)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        pytest.raises(ssl.SSLError, match=r"(?i)protocol|version"),
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.parametrize("kind", ["http", "syslog"])
async def test_sinks_refuse_a_tls_1_1_receiver(
    kind: str, tmp_path: Path, tls11_server: tuple[int, Path, list[str]]
) -> None:
    port, ca_file, failures = tls11_server
    where = {"endpoint": f"https://127.0.0.1:{port}/in"}
    if kind == "syslog":
        where = {"address": f"127.0.0.1:{port}"}
    config = sink_config(kind, tmp_path, ca_file=str(ca_file), **where)
    sink = config.build("out", SinkContext(state_dir=tmp_path))
    await sink.start()
    try:
        with pytest.raises(SinkError):
            await sink.send(events(1))
    finally:
        await sink.aclose()
    # The server's side of the failed handshake is recorded by its own thread.
    for _ in range(100):
        if failures:
            break
        await asyncio.sleep(0.02)
    assert failures and "handshake completed" not in failures
