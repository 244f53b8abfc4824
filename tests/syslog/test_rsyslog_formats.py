"""Headers and payloads as rsyslog itself parses them.

RFC 5424 and RFC 3164 headers are checked through rsyslog's own properties (facility,
severity, tag, programname, ...); CEF and LEEF payloads travel through rsyslog over
LF framing (so a raw newline would split a message) and are parsed back by the test's
own parsers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import structlog

from collector.events import Event

from .helpers import T0, build_sink, event, sink_options
from .parsers import parse_cef, parse_leef
from .rsyslog import Rsyslogd

# Real daemons and sockets: a hang must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(60)

# One event per risk class, and the severity rsyslog must read for it.
RISKS: list[tuple[dict[str, Any], str]] = [
    ({"scanResult": "malicious", "action": "allow"}, "crit"),
    ({"scanResult": "malicious", "action": "block"}, "warning"),
    ({"scanResult": "malicious", "action": "warn"}, "crit"),
    ({"scanResult": None}, "notice"),
    ({"scanResult": "clean", "action": "allow"}, "info"),
]

SEVERITY_CODES = {"crit": 2, "warning": 4, "notice": 5, "info": 6}

AWKWARD = {
    "subject": 'line one\nline two\r| pipes | = equals = \\ back\\slash "q" ] ^ \t tab 📦 é',
    "url": "https://x.example/a?b=c&d=e|f\\g",
    "userEmailAddress": "ana.müller@corp.example",
}


async def _send(daemon: Rsyslogd, mode: str, app: str, events: list[Event], **options: Any) -> None:
    port = daemon.udp_port if mode == "udp" else daemon.tcp_port
    assert port is not None
    sink, _ = build_sink(sink_options(port, mode, app, **options), Path("."))
    await sink.start()
    try:
        await sink.send(events)
    finally:
        await sink.aclose()


async def test_rfc5424_header_fields_as_rsyslog_reads_them(
    rsyslog_plain: Rsyslogd, app: str
) -> None:
    events = [event(n, **fields) for n, (fields, _) in enumerate(RISKS)]
    await _send(rsyslog_plain, "tcp", app, events, facility="local4", msg_id="ttp-test")
    records = rsyslog_plain.wait_for(app, len(events))
    assert [r["severity"] for r in records] == [severity for _, severity in RISKS]
    for n, (record, sent) in enumerate(zip(records, events, strict=True)):
        assert record["facility"] == "local4"
        assert record["hostname"] == "collector.test"
        assert record["app"] == app
        assert record["procid"] == str(os.getpid())
        assert record["msgid"] == "ttp-test"
        assert record["time"] == f"2024-11-17T17:02:{30 + n}Z"
        assert record["sd"] == (f'[mimecast@32473 eventId="{sent.event_id}" source="url_clicks"]')


@pytest.mark.parametrize("mode", ["udp", "tcp"])
async def test_rfc3164_facility_severity_and_tag_as_rsyslog_reads_them(
    rsyslog_plain: Rsyslogd, app: str, mode: str
) -> None:
    events = [event(n, **fields) for n, (fields, _) in enumerate(RISKS)]
    await _send(rsyslog_plain, mode, app, events, rfc="3164", facility="auth")
    records = rsyslog_plain.wait_for(app, len(events))
    assert [r["severity"] for r in records] == [severity for _, severity in RISKS]
    pid = str(os.getpid())
    for n, record in enumerate(records):
        assert record["facility"] == "auth"
        assert record["tag"] == f"{app}[{pid}]:"
        assert record["programname"] == app
        assert record["procid"] == pid
        assert record["hostname"] == "collector.test"
        # RFC 3164 has no year: rsyslog assumes one; month, day and time are the click's.
        assert record["time"][4:19] == f"-11-17T17:02:{30 + n}"
        header = f"<{4 * 8 + SEVERITY_CODES[RISKS[n][1]]}>Nov 17 17:02:{30 + n} collector.test "
        assert record["raw"].startswith(f"{header}{app}[{pid}]: {{")


async def test_cef_through_rsyslog_round_trips_awkward_values(
    rsyslog_plain: Rsyslogd, app: str
) -> None:
    sent = event(7, scanResult="malicious", action="allow", **AWKWARD)
    await _send(rsyslog_plain, "tcp", app, [sent], format="cef", framing="lf")
    [record] = rsyslog_plain.wait_for(app, 1)
    cef = parse_cef(record["msg"])
    assert cef.header == [
        "0",
        "Mimecast",
        "URL Protect",
        "1.0",
        "url-malicious-allowed",
        "Malicious URL clicked and not blocked",
        "10",
    ]
    ext = cef.extension
    assert ext["msg"] == AWKWARD["subject"]
    assert ext["request"] == AWKWARD["url"]
    assert ext["duser"] == AWKWARD["userEmailAddress"]
    assert ext["suser"] == sent.data["fromUserEmailAddress"]
    assert ext["externalId"] == sent.event_id
    assert ext["rt"] == str((T0 + 7) * 1000)
    assert ext["src"] == "198.51.100.7"
    assert (ext["act"], ext["cat"], ext["cs3Label"], ext["cs3"]) == (
        "allow",
        "Business",
        "scanResult",
        "malicious",
    )


@pytest.mark.parametrize("delimiter", ["^", "x09"])
async def test_leef_through_rsyslog_round_trips_awkward_values(
    rsyslog_plain: Rsyslogd, app: str, delimiter: str
) -> None:
    sent = event(8, scanResult="malicious", action="block", sendingIp="Internal IP", **AWKWARD)
    await _send(
        rsyslog_plain, "tcp", app, [sent], format="leef", framing="lf", leef_delimiter=delimiter
    )
    [record] = rsyslog_plain.wait_for(app, 1)
    leef = parse_leef(record["msg"])
    assert leef.header == ["LEEF:2.0", "Mimecast", "URL Protect", "1.0", "url-malicious-blocked"]
    attrs = leef.attributes
    assert attrs["subject"] == AWKWARD["subject"]
    assert attrs["url"] == AWKWARD["url"]
    assert attrs["usrName"] == AWKWARD["userEmailAddress"]
    assert attrs["sev"] == "7"
    assert attrs["devTime"] == "2024-11-17T17:02:38.000+0000"
    assert attrs["devTimeFormat"] == "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
    assert attrs["externalId"] == sent.event_id
    assert "src" not in attrs, "'Internal IP' is not an address"


async def test_bom_precedes_msg(rsyslog_plain: Rsyslogd, app: str) -> None:
    await _send(rsyslog_plain, "tcp", app, [event(1)], bom=True)
    [record] = rsyslog_plain.wait_for(app, 1)
    assert record["msg"].startswith("\ufeff{")
    assert record["raw"].endswith(record["msg"])


async def test_udp_truncates_at_the_default_2048_bytes_and_says_so(
    rsyslog_plain: Rsyslogd, app: str
) -> None:
    big = event(1, subject="é" * 20_000)
    with structlog.testing.capture_logs() as logs:
        port = rsyslog_plain.udp_port
        assert port is not None
        sink, stats = build_sink(sink_options(port, "udp", app), Path("."))
        await sink.start()
        await sink.send([big, event(2), big])
        await sink.aclose()
    records = rsyslog_plain.wait_for(app, 3)
    raws = [r["raw"].encode() for r in records]
    # Cut at a character boundary: "é" is 2 bytes, so 2047 or 2048 bytes in all.
    assert [len(raw) > 2045 for raw in raws] == [True, False, True]
    assert max(len(raw) for raw in raws) <= 2048
    assert raws[0].endswith("é".encode() + b"...[truncated]")
    assert stats.truncated == 2
    warnings = [e for e in logs if e["event"] == "syslog_messages_truncated"]
    assert len(warnings) == 1 and warnings[0]["count"] == 2
