"""The syslog sink's config: the issue's example, the defaults, and one clear line per mistake."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from collector.config import parse_config
from collector.errors import ConfigError
from collector.sinks.registry import sink_config_class
from collector.sinks.syslog import SyslogSink, SyslogSinkConfig

DOCS = Path(__file__).parents[2] / "docs" / "syslog.md"

ISSUE_EXAMPLE = """
[sinks.siem]
type = "syslog"
address = "siem.example.net:6514"
mode = "tls"                 # "udp" | "tcp" | "tls"
framing = "octet_counting"   # or "lf" (tcp only; tls always uses octet counting, RFC 5425)
rfc = "5424"                 # or "3164"
format = "json"              # "json" (the raw click log as MSG) | "cef" | "leef"
facility = "local0"
app_name = "mimecast-collector"
msg_id = "ttp-url"
ca_file = "/etc/ssl/certs/siem-ca.pem"   # plus cert_file / key_file for mutual TLS; verify = true by default
max_message_bytes = 65536
"""


def _document(sink: dict[str, Any]) -> dict[str, Any]:
    return {
        "state_dir": "/var/lib/mimecast-collector",
        "sources": {
            "url_clicks": {"type": "mimecast_ttp_url", "client_id": "i", "client_secret": "s"}
        },
        "sinks": {"siem": sink},
    }


def _problems(**sink: Any) -> list[str]:
    table = {"type": "syslog", "address": "siem.example.net", **sink}
    with pytest.raises(ConfigError) as info:
        parse_config(_document(table))
    return info.value.problems


def test_the_issue_example_is_accepted_as_written() -> None:
    sink = tomllib.loads(ISSUE_EXAMPLE)["sinks"]["siem"]
    config = parse_config(_document(sink)).sinks["siem"]
    assert isinstance(config, SyslogSinkConfig)
    assert (config.host, config.port, config.message_limit) == ("siem.example.net", 6514, 65536)
    assert sink_config_class("syslog", key="sinks.siem") is SyslogSinkConfig


def test_every_toml_example_in_the_docs_is_valid() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert blocks, "docs/syslog.md should show its options as TOML"
    for block in blocks:
        for sink in tomllib.loads(block)["sinks"].values():
            assert isinstance(parse_config(_document(sink)).sinks["siem"], SyslogSinkConfig)


@pytest.mark.parametrize(
    ("sink", "mode", "port", "limit"),
    [
        ({}, "tls", 6514, 65536),
        ({"mode": "tcp"}, "tcp", 514, 65536),
        ({"mode": "udp"}, "udp", 514, 2048),
        ({"mode": "udp", "address": "[2001:db8::1]:1514"}, "udp", 1514, 2048),
        ({"mode": "tcp", "address": "2001:db8::1", "max_message_bytes": 8192}, "tcp", 514, 8192),
        ({"rfc": 3164}, "tls", 6514, 65536),
    ],
)
def test_defaults_follow_the_mode(sink: dict[str, Any], mode: str, port: int, limit: int) -> None:
    table = {"type": "syslog", "address": "siem.example.net", **sink}
    config = parse_config(_document(table)).sinks["siem"]
    assert isinstance(config, SyslogSinkConfig)
    assert (config.mode, config.port, config.message_limit) == (mode, port, limit)
    assert config.verify is True and config.framing == "octet_counting"


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        ({"framing": "lf"}, "sinks.siem.framing: TLS always uses octet_counting (RFC 5425)"),
        (
            {"mode": "udp", "framing": "lf"},
            "sinks.siem.framing: does not apply to UDP (one message per datagram)",
        ),
        (
            {"verify": False},
            "sinks.siem.verify: TLS certificates are always verified; to trust a private CA, "
            "set ca_file to the CA that signed the receiver's certificate",
        ),
        (
            {"mode": "tcp", "ca_file": "/ca.pem"},
            'sinks.siem.ca_file: is only used with mode = "tls"',
        ),
        (
            {"mode": "udp", "tls_server_name": "x"},
            'sinks.siem.tls_server_name: is only used with mode = "tls"',
        ),
        ({"key_file": "/k.pem"}, "sinks.siem.key_file: needs cert_file (the client certificate)"),
        ({"max_message_bytes": 512}, "sinks.siem.max_message_bytes: must be >= 1024"),
        (
            {"mode": "udp", "max_message_bytes": 70000},
            "sinks.siem.max_message_bytes: must be <= 65507 for UDP",
        ),
        ({"address": "siem:99999"}, "sinks.siem.address: port must be 1 to 65535, got '99999'"),
        (
            {"address": "2001:db8::1:6514x"},
            "sinks.siem.address: write an IPv6 address as [addr]:port, got '2001:db8::1:6514x'",
        ),
        ({"app_name": "x" * 49}, "sinks.siem.app_name: must be 1 to 48 characters, got 49"),
        (
            {"app_name": "my app"},
            "sinks.siem.app_name: must be printable ASCII without spaces, found ' '",
        ),
        ({"msg_id": "é"}, "sinks.siem.msg_id: must be printable ASCII without spaces, found 'é'"),
        ({"hostname": ""}, "sinks.siem.hostname: must be 1 to 255 characters, got 0"),
        ({"rfc": "3164", "bom": True}, 'sinks.siem.bom: is only used with rfc = "5424"'),
        ({"rfc": "3164", "msg_id": "x"}, 'sinks.siem.msg_id: is only used with rfc = "5424"'),
        (
            {"rfc": "3164", "app_name": "app:x"},
            "sinks.siem.app_name: must be at most 32 characters without ':', '[' or ']' for RFC 3164",
        ),
        (
            {"format": "leef", "leef_delimiter": "="},
            "sinks.siem.leef_delimiter: must be one ASCII punctuation character other than "
            "'=', '\\' and '|', or a tab (x09)",
        ),
        ({"leef_delimiter": "^"}, 'sinks.siem.leef_delimiter: is only used with format = "leef"'),
        ({"facility": "local9"}, "sinks.siem.facility: must be 'kern', 'user', "),
        ({"rfc": "5425"}, "sinks.siem.rfc: must be '5424' or '3164'"),
        ({"mode": "dtls"}, "sinks.siem.mode: must be 'udp', 'tcp' or 'tls'"),
        ({"write_timeout_secs": 0}, "sinks.siem.write_timeout_secs: must be > 0"),
        ({"enterprise_number": 0}, "sinks.siem.enterprise_number: must be >= 1"),
        ({"adress": "x"}, "sinks.siem.adress: unknown key"),
    ],
)
def test_each_mistake_is_one_line_naming_its_key(sink: dict[str, Any], expected: str) -> None:
    problems = _problems(**sink)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize("delimiter", ["^", "x09", "0x09", "\t", "#", "~"])
def test_leef_delimiters_accepted(delimiter: str) -> None:
    config = SyslogSinkConfig.model_validate(
        {"type": "syslog", "address": "q", "format": "leef", "leef_delimiter": delimiter}
    )
    assert config.leef_delimiter == ("\t" if "9" in delimiter or delimiter == "\t" else delimiter)


def test_build_returns_a_sink(tmp_path: Path) -> None:
    from collector.sinks import Sink, SinkContext

    config = SyslogSinkConfig.model_validate({"type": "syslog", "address": "q"})
    sink = config.build("siem", SinkContext(tmp_path))
    assert isinstance(sink, SyslogSink) and isinstance(sink, Sink) and sink.name == "siem"
