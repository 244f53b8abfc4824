"""Property tests: arbitrary Unicode clicks survive every format, checked by the test's parsers."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.events import Event
from collector.sinks.kinds import KINDS
from collector.sinks.syslog import SyslogSinkConfig
from collector.sinks.syslog.cef import escape_header
from collector.sinks.syslog.framing import (
    TRUNCATION_MARKER,
    lf_terminated,
    octet_counted,
    truncate,
)
from collector.sinks.syslog.rfc5424 import printable
from collector.sinks.syslog.severity import LEVELS, Risk, classify
from collector.sinks.syslog.sink import page_encoder
from collector.sinks.syslog.ttp_fields import classify_event

from .parsers import parse_5424, parse_cef, parse_leef, parse_octet_frames

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PRINTABLE = st.characters(min_codepoint=33, max_codepoint=126)
FIELDS = [
    "userEmailAddress",
    "fromUserEmailAddress",
    "url",
    "subject",
    "action",
    "scanResult",
    "category",
    "ttpDefinition",
    "route",
    "messageId",
    "userAwarenessAction",
]
value = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet='\\=|^\r\n\t "]', max_size=8),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what orjson reads and writes
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
)
ip = st.one_of(st.ip_addresses().map(str), st.just("Internal IP"), st.text(max_size=12))
clicks = st.fixed_dictionaries(
    {}, optional={**dict.fromkeys(FIELDS, value), "sendingIp": ip, "extra": st.text()}
)
times = st.integers(min_value=0, max_value=253_402_300_799)
# SD-PARAM escaping is tested with any text; the key=value payloads with the ids the core
# makes (source names are validated by the config, event ids are hex and digits).
events = st.builds(
    Event,
    source=st.text(min_size=1, max_size=40),
    event_id=st.text(min_size=1, max_size=60),
    time=times,
    data=clicks,
    kind=st.sampled_from(KINDS),
)
real_events = st.builds(
    Event,
    source=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True),
    event_id=st.from_regex(r"[0-9a-f]{32}-[0-9]{1,6}", fullmatch=True),
    time=times,
    data=clicks,
    kind=st.just("url"),
)


def _text(raw: Any) -> str | None:
    """What a key=value format must carry for a click field (None: the key is absent)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int):
        return str(raw)
    return orjson.dumps(raw).decode()


def _config(**options: Any) -> SyslogSinkConfig:
    return SyslogSinkConfig.model_validate(
        {"type": "syslog", "address": "127.0.0.1", "max_message_bytes": 16_000_000, **options}
    )


def _encode(event: Event, hostname: str = "host.test", **options: Any) -> bytes:
    encoder = page_encoder(_config(**options), hostname=hostname, procid="4242")
    [message] = encoder.encode([event]).messages
    return message


@FAST
@given(
    event=events,
    hostname=st.text(),
    app=st.text(PRINTABLE, min_size=1, max_size=48),
    msg_id=st.text(PRINTABLE, min_size=1, max_size=32),
    pen=st.integers(min_value=1, max_value=4_294_967_295),
    bom=st.booleans(),
    facility=st.sampled_from(["kern", "mail", "local0", "local7"]),
)
def test_rfc5424_header_and_sd_round_trip(
    event: Event, hostname: str, app: str, msg_id: str, pen: int, bom: bool, facility: str
) -> None:
    options = {"app_name": app, "msg_id": msg_id, "enterprise_number": pen, "bom": bom}
    message = _encode(event, hostname, facility=facility, **options)
    parsed = parse_5424(message)
    config = _config(facility=facility)
    severity = LEVELS[classify_event(event)].syslog
    assert parsed.pri == config.facility_code * 8 + severity
    assert parsed.hostname == printable(hostname, 255)
    assert (parsed.app, parsed.procid, parsed.msgid) == (app, "4242", msg_id)
    assert parsed.timestamp.endswith("Z") and len(parsed.timestamp) == 20
    assert parsed.sd == [(f"mimecast@{pen}", {"eventId": event.event_id, "source": event.source})]
    kind = {"mimecast": {"kind": event.kind}}
    assert parsed.msg == (b"\xef\xbb\xbf" if bom else b"") + orjson.dumps({**event.data, **kind})


@FAST
@given(event=real_events, lf=st.booleans())
def test_cef_round_trip(event: Event, lf: bool) -> None:
    message = _encode(event, format="cef", **({"mode": "tcp", "framing": "lf"} if lf else {}))
    assert b"\n" not in message and b"\r" not in message
    payload = parse_5424(message).msg.decode()
    cef = parse_cef(payload)
    level = LEVELS[classify(event.data)]
    assert cef.header == [
        "0", "Mimecast", "URL Protect", "1.0", level.signature, level.name, str(level.cef)
    ]  # fmt: skip
    expected = {"rt": str(event.time * 1000), "externalId": event.event_id}
    for key, field in [
        ("act", "action"),
        ("cat", "category"),
        ("request", "url"),
        ("duser", "userEmailAddress"),
        ("suser", "fromUserEmailAddress"),
        ("msg", "subject"),
    ]:
        text = _text(event.data.get(field))
        if text is not None:
            expected[key] = text
    src = event.data.get("sendingIp")
    if isinstance(src, str) and _is_ip(src):
        expected["src"] = src
    for key, field in [
        ("cs1", "ttpDefinition"),
        ("cs2", "route"),
        ("cs3", "scanResult"),
        ("cs4", "messageId"),
        ("cs5", "userAwarenessAction"),
    ]:
        text = _text(event.data.get(field))
        if text is not None:
            expected[f"{key}Label"] = field
            expected[key] = text
    expected.update(cs6Label="collectorSource", cs6=event.source)
    assert cef.extension == expected


@FAST
@given(event=real_events, delimiter=st.sampled_from(["^", "x09", "#", "~", ";", ","]))
def test_leef_round_trip(event: Event, delimiter: str) -> None:
    message = _encode(event, format="leef", leef_delimiter=delimiter, rfc="3164")
    assert b"\n" not in message and b"\r" not in message
    payload = message.split(b"]: ", 1)[1].decode()
    leef = parse_leef(payload)
    level = LEVELS[classify(event.data)]
    assert leef.header == ["LEEF:2.0", "Mimecast", "URL Protect", "1.0", level.signature]
    assert leef.delimiter == ("\t" if delimiter == "x09" else delimiter)
    attrs = leef.attributes
    assert attrs.pop("devTimeFormat") == "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
    assert attrs.pop("sev") == str(level.leef)
    assert attrs.pop("devTime").endswith(".000+0000")
    assert attrs.pop("externalId") == event.event_id
    assert attrs.pop("collectorSource") == event.source
    src = event.data.get("sendingIp")
    assert attrs.pop("src", None) == (src if isinstance(src, str) and _is_ip(src) else None)
    names = {"cat": "category", "usrName": "userEmailAddress", "sender": "fromUserEmailAddress"}
    expected = {}
    for field in FIELDS:
        key = next((k for k, f in names.items() if f == field), field)
        text = _text(event.data.get(field))
        if text is not None:
            expected[key] = text
    assert attrs == expected


@given(st.text())
def test_cef_header_escaping_round_trips(text: str) -> None:
    escaped = escape_header(text)
    assert "\n" not in escaped and "\r" not in escaped
    payload = f"CEF:0|{escaped}|p|v|s|n|5|k=v"
    assert parse_cef(payload).header[1] == text.replace("\r", " ").replace("\n", " ")


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_printable_header_fields(text: str, longest: int) -> None:
    result = printable(text, max(longest, 1))
    assert 1 <= len(result) <= max(longest, 1)
    assert all(33 <= ord(c) <= 126 for c in result)


@given(
    header=st.text(PRINTABLE, min_size=1, max_size=200),
    body=st.text(),
    limit=st.integers(min_value=230, max_value=2000),
)
def test_truncation_keeps_utf8_the_header_and_says_so(header: str, body: str, limit: int) -> None:
    head = header.encode() + b" "
    message = head + body.encode()
    result = truncate(message, limit, len(head))
    if len(message) <= limit:
        assert result is message
        return
    assert len(result) <= limit
    assert result.endswith(TRUNCATION_MARKER)
    kept = result[: -len(TRUNCATION_MARKER)]
    assert message.startswith(kept) and kept.startswith(head)
    kept.decode()  # never cut inside a character
    trailing = len(kept) - len(kept.rstrip(b"\\"))
    assert trailing % 2 == 0, "a cut escape would swallow the marker"
    # As much as possible was kept: at most one character (4 bytes) plus one backslash lost.
    assert len(kept) >= limit - len(TRUNCATION_MARKER) - 4


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20))
def test_octet_counting_frames_anything(messages: list[bytes]) -> None:
    assert parse_octet_frames(octet_counted(messages)) == messages


@given(st.lists(st.binary(max_size=50).filter(lambda b: b"\n" not in b), max_size=20))
def test_lf_framing_one_line_per_message(messages: list[bytes]) -> None:
    framed = lf_terminated(messages)
    assert framed.split(b"\n")[:-1] == messages if messages else framed == b""


def test_lf_framing_refuses_a_raw_newline() -> None:
    with pytest.raises(ValueError, match="raw newline"):
        lf_terminated([b"one", b"two\nthree"])


def test_risk_order_is_reflected_by_every_severity() -> None:
    ordered = sorted(LEVELS.items())  # lowest risk first
    assert [r for r, _ in ordered] == [
        Risk.CLEAN,
        Risk.UNKNOWN,
        Risk.MALICIOUS_BLOCKED,
        Risk.MALICIOUS_ALLOWED,
    ]
    syslog = [level.syslog for _, level in ordered]
    assert syslog == sorted(syslog, reverse=True) and len(set(syslog)) == 4  # 0 is worst
    for scale in ("cef", "leef"):
        values = [getattr(level, scale) for _, level in ordered]
        assert values == sorted(values) and len(set(values)) == 4
    assert classify({"scanResult": "MALICIOUS", "action": "Block"}) is Risk.MALICIOUS_BLOCKED
    assert classify({"scanResult": "malicious", "action": "warn"}) is Risk.MALICIOUS_ALLOWED
    assert classify({"scanResult": "malicious"}) is Risk.MALICIOUS_ALLOWED
    assert classify({"scanResult": "clean", "action": "block"}) is Risk.CLEAN
    assert classify({}) is Risk.UNKNOWN


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
