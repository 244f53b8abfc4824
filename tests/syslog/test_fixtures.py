"""The rsyslog fixtures themselves: a missing rsyslog fails the run instead of skipping."""

from __future__ import annotations

import pytest

from . import conftest


def test_missing_rsyslogd_fails_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "rsyslogd_path", lambda: None)
    with pytest.raises(pytest.fail.Exception, match="Debian packages rsyslog and rsyslog-gnutls"):
        conftest._require_rsyslog(tls=False)


def test_missing_gtls_driver_fails_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "gtls_available", lambda: False)
    with pytest.raises(pytest.fail.Exception, match="install the Debian package rsyslog-gnutls"):
        conftest._require_rsyslog(tls=True)
