"""TLS for the syslog sink: handshake failures in plain words.

The client context is the collector's one TLS helper,
:func:`collector.net.client_ssl_context` (TLS 1.2 or newer, chain and name always
verified). A failure the next attempt cannot fix (an untrusted or expired
certificate, a wrong name, a receiver that does not speak TLS) is a plain
:class:`~collector.errors.SinkError` that says what to change; anything else (a reset
during the handshake, a receiver restarting) is transient.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from collector.errors import SinkError, TransientSinkError
from collector.net import NAME_MISMATCH_CODES

# OpenSSL reasons that mean "this configuration will never work", with what to check.
_PERMANENT_REASONS: dict[str, str] = {
    "WRONG_VERSION_NUMBER": "is the receiver speaking TLS on this port?",
    "UNSUPPORTED_PROTOCOL": "the receiver offers no TLS version >= 1.2",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the receiver offers no TLS version >= 1.2",
    "NO_PROTOCOLS_AVAILABLE": "the receiver offers no TLS version >= 1.2",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the receiver refused the handshake (cipher suites, "
    "or a client certificate it requires: cert_file)",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the receiver requires a client certificate: "
    "set cert_file and key_file",
    "TLSV1_ALERT_UNKNOWN_CA": "the receiver does not trust our client certificate (cert_file)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the receiver rejected our client certificate (cert_file)",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "our client certificate (cert_file) has expired",
}
_EXPIRED_CODE = 10


def handshake_error(
    error: ssl.SSLError, *, sink: str, address: str, server_name: str, ca_file: Path | None
) -> SinkError:
    """Translate a failed handshake into the error to raise, with what to do about it.

    ``address`` is the receiver's ``host:port``; ``server_name`` the name its
    certificate was checked against; ``ca_file`` the configured CA file, if any.
    """
    where = f"TLS to {address}"
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or error.reason or str(error)
        if error.verify_code in NAME_MISMATCH_CODES:
            hint = (
                f"the certificate is not valid for {server_name!r}: set tls_server_name to a "
                "name the certificate holds, or use that name in address"
            )
        elif error.verify_code == _EXPIRED_CODE:
            hint = "the receiver's certificate has expired"
        elif ca_file is not None:
            hint = (
                f"check that ca_file '{ca_file}' holds the CA that signed the "
                "receiver's certificate"
            )
        else:
            hint = "set ca_file to the CA that signed the receiver's certificate"
        return SinkError(sink, f"{where} refused: certificate verify failed: {detail}; {hint}")
    reason = error.reason or ""
    advice = _PERMANENT_REASONS.get(reason)
    if advice is not None:
        return SinkError(sink, f"{where} failed: {reason}: {advice}")
    return TransientSinkError(sink, f"{where} failed: {error}")
