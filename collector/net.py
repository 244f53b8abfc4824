"""Network settings shared by the Mimecast client and every sink.

Remote endpoints must use https, except loopback hosts (the simulator, a local
forwarder). Every TLS connection the collector makes (Mimecast, the HTTP sinks,
syslog over TLS) uses :func:`client_ssl_context`: TLS 1.2 or newer, certificate and
host name always verified, against the system store or a ``ca_file``.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

from collector.errors import ConfigError


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: the only hosts plain http may reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: str) -> str:
    """Validate a remote endpoint: https anywhere, plain http only to loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"must use https: plain http is allowed only to loopback hosts, got {url!r}"
        )
    return url.rstrip("/")


def check_proxy_url(url: str | None) -> str | None:
    """Validate a proxy URL (http:// or https://)."""
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"must be an http:// or https:// proxy URL, got {url!r}")
    return url


ProxyUrl = Annotated[str | None, AfterValidator(check_proxy_url)]
"""A config field holding an optional HTTP(S) proxy URL."""


def client_ssl_context(
    section: str,
    *,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> ssl.SSLContext:
    """The TLS client context of every connection: TLS >= 1.2, always verified.

    The peer's certificate chain and host name are checked against ``ca_file``, or the
    system trust store without one; ``cert_file`` (and ``key_file``, when the key is
    not inside it) is presented for mutual TLS. Called when a client or sink starts,
    so a file that cannot be loaded stops the start, not a delivery.

    Raises:
        ConfigError: a file cannot be loaded; the message names its key under
            ``section`` (e.g. ``sinks.siem.ca_file``) and the file.
    """
    try:
        # CERT_REQUIRED and check_hostname; the system store unless cafile is given.
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise _unloadable(f"{section}.ca_file: cannot load '{ca_file}'", exc) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ValueError) as exc:
            # OpenSSL does not say which of the pair it could not use: both are named.
            pair = f" (key_file '{key_file}')" if key_file is not None else ""
            what = f"{section}.cert_file: cannot load '{cert_file}'{pair}"
            raise _unloadable(what, exc) from None
    return context


def _unloadable(what: str, error: Exception) -> ConfigError:
    reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or str(error)
    return ConfigError(f"{what}: {reason}")


def certificate_failure(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``error``, if that is what it was."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
NAME_MISMATCH_CODES = frozenset({62, 64})


def certificate_advice(failure: ssl.SSLCertVerificationError, ca_hint: str) -> str:
    """What to do about a certificate that did not verify, in the user's terms.

    A name mismatch is not fixed by trusting another CA: it needs the right host
    name in the URL. ``ca_hint`` is the advice for an unknown issuer.
    """
    message = failure.verify_message or str(failure)
    if failure.verify_code in NAME_MISMATCH_CODES or "mismatch" in message.lower():
        return (
            f"{message}; the certificate is not issued for the host in the URL: use the "
            "host name the certificate names (not an IP address or an alias)"
        )
    return f"{message}; {ca_hint}"
