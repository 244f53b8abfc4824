"""Config model of the ``syslog`` sink: ``[sinks.<name>]`` with ``type = "syslog"``.

Every rule that depends on two keys (TLS files without ``mode = "tls"``, LF framing
on TLS, a BOM on RFC 3164, ...) is checked here, so a wrong combination is reported
when the config is loaded (``mimecast-collector check`` or any start) with the key it
is about, not discovered by a SIEM later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.bounds import MAX_DURATION_SECS, MAX_SYSLOG_MESSAGE_BYTES
from collector.sinks import Sink, SinkConfig, SinkContext
from collector.sinks.syslog.address import split_address

Mode = Literal["udp", "tcp", "tls"]
Framing = Literal["octet_counting", "lf"]
Rfc = Literal["5424", "3164"]
PayloadFormat = Literal["json", "cef", "leef"]
Facility = Literal[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5",
    "local6", "local7",
]  # fmt: skip

FACILITY_CODES: dict[str, int] = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16,
    "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22,
    "local7": 23,
}  # fmt: skip
"""RFC 5424 section 6.2.1 numerical codes of the facilities we accept."""

DEFAULT_PORTS: dict[str, int] = {"udp": 514, "tcp": 514, "tls": 6514}
DEFAULT_MAX_MESSAGE_BYTES: dict[str, int] = {"udp": 2048, "tcp": 65536, "tls": 65536}
MIN_MESSAGE_BYTES = 1024
"""The longest possible header (255-byte hostname, SD, BOM) plus the truncation
marker stays under ~560 bytes, so 1024 always leaves room for part of the payload."""
MAX_UDP_MESSAGE_BYTES = 65507  # the largest UDP payload over IPv4
MAX_STREAM_MESSAGE_BYTES = 16 * 1024 * 1024
DOCUMENTATION_PEN = 32473  # RFC 5612: the private enterprise number for documentation

_TLS_ONLY = ("ca_file", "cert_file", "key_file", "tls_server_name")
_LEEF_DELIMITER_FORBIDDEN = set("=\\|")


def _printable_ascii(value: str, longest: int) -> str:
    if not 1 <= len(value) <= longest:
        raise ValueError(f"must be 1 to {longest} characters, got {len(value)}")
    bad = next((c for c in value if not 33 <= ord(c) <= 126), None)
    if bad is not None:
        raise ValueError(f"must be printable ASCII without spaces, found {bad!r}")
    return value


def _key_error(key: str, message: str, **values: Any) -> PydanticCustomError:
    # The core prints "config_key" errors as "<prefix>.<message>", so each starts with its key.
    return PydanticCustomError("config_key", "{key}: " + message, {"key": key, **values})


class SyslogSinkConfig(SinkConfig):
    """``[sinks.<name>]`` with ``type = "syslog"``. See docs/syslog.md for every option."""

    type: Literal["syslog"] = Field(description='Sink type: `"syslog"`.')
    address: str = Field(
        description="Receiver as `host:port` (`[v6addr]:port` for IPv6). Without a port: "
        "514 for udp and tcp, 6514 for tls."
    )
    mode: Mode = Field(
        default="tls",
        description="`tls` (RFC 5425, recommended), `tcp` (RFC 6587) or `udp` (RFC 5426, "
        "best effort: UDP can lose messages).",
    )
    framing: Framing = Field(
        default="octet_counting",
        description="TCP framing: `octet_counting` (RFC 6587, newline-safe) or `lf`. TLS "
        "always uses octet counting (RFC 5425); UDP has no framing (one message per datagram).",
    )
    rfc: Rfc = Field(default="5424", description='Header format: `"5424"` or legacy `"3164"`.')
    format: PayloadFormat = Field(
        default="json",
        description="MSG payload: `json` (the click log, compact), `cef` (ArcSight, "
        "Microsoft Sentinel) or `leef` (LEEF 2.0, IBM QRadar).",
    )
    facility: Facility = Field(default="local0", description="Syslog facility of every message.")
    app_name: str = Field(
        default="mimecast-collector",
        description="APP-NAME (RFC 5424, up to 48 characters) or TAG (RFC 3164, up to 32).",
    )
    msg_id: str = Field(
        default="ttp-url", description="MSGID (RFC 5424 only), up to 32 characters."
    )
    hostname: str | None = Field(
        default=None,
        description="HOSTNAME field, up to 255 printable ASCII characters. Default: this "
        "machine's fully qualified domain name.",
    )
    enterprise_number: int = Field(
        default=DOCUMENTATION_PEN,
        ge=1,
        le=4_294_967_295,
        description="IANA private enterprise number in the SD-ID `mimecast@<number>` "
        "(RFC 5424 only). The default 32473 is the number reserved for documentation "
        "(RFC 5612); use your organisation's own if it has one.",
    )
    bom: bool = Field(
        default=False,
        description="Start MSG with a UTF-8 byte order mark, as RFC 5424 suggests (RFC 5424 "
        "only). Off by default: many CEF and LEEF parsers expect `CEF:`/`LEEF:` first.",
    )
    leef_delimiter: str = Field(
        default="^",
        description="LEEF 2.0 attribute delimiter: one ASCII punctuation character other "
        "than `=`, `\\` and `|`, or `x09` for a tab.",
    )
    max_message_bytes: int | None = Field(
        default=None,
        ge=MIN_MESSAGE_BYTES,
        le=MAX_SYSLOG_MESSAGE_BYTES,
        description="Largest syslog message (header and MSG, without the octet count). "
        "Longer messages are cut at a UTF-8 boundary and end with `...[truncated]`. "
        "Default: 65536 for tcp and tls, 2048 for udp.",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the receiver's certificate. "
        "Default: the system trust store. Only with mode = tls.",
    )
    cert_file: Path | None = Field(
        default=None, description="PEM client certificate, for mutual TLS. Only with mode = tls."
    )
    key_file: Path | None = Field(
        default=None,
        description="PEM private key of cert_file (unencrypted), when cert_file does not "
        "hold it too. Only with mode = tls.",
    )
    verify: bool = Field(
        default=True,
        description="Always true: the receiver's certificate and name are always verified. "
        "Trust a private CA with ca_file instead.",
    )
    tls_server_name: str | None = Field(
        default=None,
        description="Name sent as SNI and checked against the receiver's certificate. "
        "Default: the host of `address`.",
    )
    connect_timeout_secs: float = Field(
        default=10.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="Timeout for the TCP connect and the TLS handshake.",
    )
    write_timeout_secs: float = Field(
        default=30.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="Timeout for writing one page and for the receiver's TCP "
        "acknowledgement of it; on expiry the connection is dropped and the page re-sent.",
    )

    @field_validator("rfc", mode="before")
    @classmethod
    def _rfc_as_text(cls, value: Any) -> Any:
        # `rfc = 5424` (a TOML integer) means the same as `rfc = "5424"`.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        split_address(value, 0)
        return value.strip()

    @field_validator("app_name")
    @classmethod
    def _check_app_name(cls, value: str) -> str:
        return _printable_ascii(value, 48)

    @field_validator("msg_id")
    @classmethod
    def _check_msg_id(cls, value: str) -> str:
        return _printable_ascii(value, 32)

    @field_validator("hostname", "tls_server_name")
    @classmethod
    def _check_hostname(cls, value: str | None) -> str | None:
        return None if value is None else _printable_ascii(value, 255)

    @field_validator("verify")
    @classmethod
    def _always_verify(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "TLS certificates are always verified; to trust a private CA, set ca_file "
                "to the CA that signed the receiver's certificate"
            )
        return value

    @field_validator("leef_delimiter", mode="before")
    @classmethod
    def _check_leef_delimiter(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lower() in ("x09", "0x09", "\\t"):
            value = "\t"
        if value != "\t" and (
            len(value) != 1
            or value in _LEEF_DELIMITER_FORBIDDEN
            or value.isalnum()
            or not 33 <= ord(value) <= 126
        ):
            raise ValueError(
                "must be one ASCII punctuation character other than '=', '\\' and '|', "
                "or a tab (x09)"
            )
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        given = self.model_fields_set
        if self.mode == "udp" and "framing" in given:
            raise _key_error("framing", "does not apply to UDP (one message per datagram)")
        if self.mode == "tls" and self.framing == "lf":
            raise _key_error("framing", "TLS always uses octet_counting (RFC 5425)")
        if self.mode != "tls":
            for key in _TLS_ONLY:
                if getattr(self, key) is not None:
                    raise _key_error(key, 'is only used with mode = "tls"')
        if self.key_file is not None and self.cert_file is None:
            raise _key_error("key_file", "needs cert_file (the client certificate)")
        if self.format != "leef" and "leef_delimiter" in given:
            raise _key_error("leef_delimiter", 'is only used with format = "leef"')
        limit = self.max_message_bytes
        if self.mode == "udp" and limit is not None and limit > MAX_UDP_MESSAGE_BYTES:
            raise _key_error("max_message_bytes", "must be <= {most} for UDP", most=65507)
        if self.mode != "udp" and limit is not None and limit > MAX_STREAM_MESSAGE_BYTES:
            raise _key_error("max_message_bytes", "must be <= {most}", most=16777216)
        if self.rfc == "3164":
            self._check_rfc3164(given)
        return self

    def _check_rfc3164(self, given: set[str]) -> None:
        for key in ("bom", "msg_id", "enterprise_number"):
            if key in given:
                raise _key_error(key, 'is only used with rfc = "5424"')
        if len(self.app_name) > 32 or any(c in self.app_name for c in ":[]"):
            raise _key_error(
                "app_name", "must be at most 32 characters without ':', '[' or ']' for RFC 3164"
            )

    @property
    def host(self) -> str:
        """The receiver's host name or IP address."""
        return split_address(self.address, DEFAULT_PORTS[self.mode])[0]

    @property
    def port(self) -> int:
        """The receiver's port (the mode's default when ``address`` has none)."""
        return split_address(self.address, DEFAULT_PORTS[self.mode])[1]

    @property
    def message_limit(self) -> int:
        """``max_message_bytes``, or its default for the mode."""
        if self.max_message_bytes is not None:
            return self.max_message_bytes
        return DEFAULT_MAX_MESSAGE_BYTES[self.mode]

    @property
    def facility_code(self) -> int:
        """The facility's number (``local0`` is 16)."""
        return FACILITY_CODES[self.facility]

    def build(self, name: str, context: SinkContext) -> Sink:
        """Return the sink this config describes, not started yet."""
        # Imported here, not at the top: the sink depends on its config model, never the
        # reverse, so that the model loads (and validates) without the sink's modules.
        from collector.sinks.syslog.sink import SyslogSink

        return SyslogSink(name, self, context)
