"""Fixtures for the syslog tests: a test CA, and real rsyslog daemons on 127.0.0.1.

Two session daemons, as receivers.md recommends: one with the plain UDP and TCP
listeners, and the TLS (gtls) listener alone in another, so TLS sessions never share
a daemon with plain traffic. Tests that kill a daemon get their own.

rsyslogd missing is a FAILURE, not a skip: CI installs it (scripts/test), and a
silently skipped receiver test would prove nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from .rsyslog import Rsyslogd, TlsFiles, gtls_available, rsyslogd_path

_names = itertools.count(1)


def _require_rsyslog(tls: bool) -> None:
    if rsyslogd_path() is None:
        pytest.fail(
            "rsyslogd is not installed: the syslog tests need a real rsyslog "
            "(Debian packages rsyslog and rsyslog-gnutls; scripts/test installs them)"
        )
    if tls and not gtls_available():
        pytest.fail(
            "rsyslog's gtls stream driver (lmnsd_gtls.so) is missing: install the Debian "
            "package rsyslog-gnutls (scripts/test installs it)"
        )


@dataclass(frozen=True)
class Pki:
    """A test CA with a server certificate for localhost/127.0.0.1, and a stranger CA."""

    ca: trustme.CA
    server: TlsFiles
    other_ca: Path
    """A CA that signed nothing the receivers use."""
    client_cert: Path
    """A client certificate (with its key in the same file) signed by ``ca``."""


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates made with trustme, written as PEM files."""
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(root / "ca.pem")
    server.cert_chain_pems[0].write_to_path(root / "server.pem")
    server.private_key_pem.write_to_path(root / "server.key")
    trustme.CA().cert_pem.write_to_path(root / "other-ca.pem")
    client = ca.issue_cert("client.example")
    client.private_key_and_cert_chain_pem.write_to_path(root / "client.pem")
    files = TlsFiles(ca=root / "ca.pem", cert=root / "server.pem", key=root / "server.key")
    return Pki(ca, files, root / "other-ca.pem", root / "client.pem")


@pytest.fixture(scope="session")
def rsyslog_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslogd]:
    """One rsyslogd with UDP and TCP listeners, for the whole session."""
    _require_rsyslog(tls=False)
    daemon = Rsyslogd(tmp_path_factory.mktemp("rsyslog-plain"))
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def rsyslog_tls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Rsyslogd]:
    """One rsyslogd with only a TLS listener (gtls), for the whole session."""
    _require_rsyslog(tls=True)
    daemon = Rsyslogd(tmp_path_factory.mktemp("rsyslog-tls"), pki.server)
    daemon.start()
    yield daemon
    daemon.stop()


MakeRsyslogd = Callable[..., Rsyslogd]


@pytest.fixture
def make_rsyslogd(tmp_path: Path, pki: Pki) -> Iterator[MakeRsyslogd]:
    """Start dedicated daemons (``make_rsyslogd(tls=True)``); all stopped by PID after."""
    started: list[Rsyslogd] = []

    def make(*, tls: bool = False) -> Rsyslogd:
        _require_rsyslog(tls=tls)
        daemon = Rsyslogd(tmp_path / f"rsyslog-{len(started)}", pki.server if tls else None)
        started.append(daemon)
        daemon.start()
        return daemon

    yield make
    for daemon in started:
        daemon.stop()


@pytest.fixture
def app(request: pytest.FixtureRequest) -> str:
    """An APP-NAME no other test uses: rsyslog files each test's messages apart by it."""
    short = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name.removeprefix("test_"))[:20]
    return f"t{next(_names)}-{short}".rstrip("-")
