"""TLS against the real rsyslog (gtls): verification failures refuse to connect and say why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.errors import ConfigError, SinkError, TransientSinkError
from collector.simulator import Simulator

from .conftest import Pki
from .helpers import SINK, build_sink, dataset, event, run_pipeline, sink_options
from .rsyslog import Rsyslogd

# Real daemons and sockets: a hang must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(60)


def _tls(rsyslog_tls: Rsyslogd, app: str, **options: Any) -> dict[str, Any]:
    return sink_options(rsyslog_tls.tcp_port, "tls", app, **options)


async def _send_error(options: dict[str, Any], tmp_path: Path) -> SinkError:
    sink, stats = build_sink(options, tmp_path)
    await sink.start()
    try:
        with pytest.raises(SinkError) as info:
            await sink.send([event(1)])
    finally:
        await sink.aclose()
    assert stats.bytes == 0
    return info.value


async def test_a_receiver_certificate_from_another_ca_is_refused_with_the_reason(
    rsyslog_tls: Rsyslogd, pki: Pki, app: str, tmp_path: Path
) -> None:
    error = await _send_error(_tls(rsyslog_tls, app, ca_file=str(pki.other_ca)), tmp_path)
    assert not isinstance(error, TransientSinkError), "retrying cannot fix an untrusted CA"
    assert "certificate verify failed" in str(error)
    assert "unable to get local issuer certificate" in str(error)
    assert f"check that ca_file '{pki.other_ca}' holds the CA" in str(error)
    assert rsyslog_tls.records(app) == []


async def test_without_ca_file_the_system_store_is_used_and_the_fix_is_named(
    rsyslog_tls: Rsyslogd, app: str, tmp_path: Path
) -> None:
    error = await _send_error(_tls(rsyslog_tls, app), tmp_path)
    assert not isinstance(error, TransientSinkError)
    assert str(error).endswith(
        "certificate verify failed: unable to get local issuer certificate; "
        "set ca_file to the CA that signed the receiver's certificate"
    )


async def test_a_certificate_for_another_name_is_refused(
    rsyslog_tls: Rsyslogd, pki: Pki, app: str, tmp_path: Path
) -> None:
    options = _tls(rsyslog_tls, app, ca_file=str(pki.server.ca), tls_server_name="siem.example")
    error = await _send_error(options, tmp_path)
    assert not isinstance(error, TransientSinkError)
    assert "Hostname mismatch" in str(error)
    assert "set tls_server_name to a name the certificate holds" in str(error)


async def test_the_pipeline_fails_the_cycle_at_once_and_keeps_its_checkpoint(
    rsyslog_tls: Rsyslogd, pki: Pki, app: str, tmp_path: Path
) -> None:
    async with Simulator(dataset=dataset(50, seed=3)) as sim:
        sinks = {SINK: _tls(rsyslog_tls, app, ca_file=str(pki.other_ca))}
        run = await run_pipeline(sim, sinks, tmp_path / "state")
    assert isinstance(run.error, SinkError) and not isinstance(run.error, TransientSinkError)
    assert run.sink.retries == 0, "a certificate error must not be retried"
    assert run.source.pages == 0
    assert not list((tmp_path / "state").glob("*.checkpoint.json"))


async def test_an_unreadable_ca_file_fails_start_naming_the_key(
    rsyslog_tls: Rsyslogd, app: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pem"
    sink, _ = build_sink(_tls(rsyslog_tls, app, ca_file=str(missing)), tmp_path)
    with pytest.raises(
        ConfigError, match=f"^sinks.siem.ca_file: cannot load '{missing}': No such file"
    ):
        await sink.start()


async def test_healthcheck_connects_like_a_send_would(
    rsyslog_tls: Rsyslogd, pki: Pki, app: str, tmp_path: Path
) -> None:
    good, _ = build_sink(_tls(rsyslog_tls, app, ca_file=str(pki.server.ca)), tmp_path)
    await good.start()
    await good.healthcheck()
    await good.send([event(5)])  # reuses the connection the health check opened
    await good.aclose()
    assert len(rsyslog_tls.wait_for(app, 1)) == 1
    bad, _ = build_sink(_tls(rsyslog_tls, app, ca_file=str(pki.other_ca)), tmp_path)
    await bad.start()
    with pytest.raises(SinkError, match="certificate verify failed"):
        await bad.healthcheck()
    await bad.aclose()
