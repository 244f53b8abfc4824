"""End to end against a real rsyslog: simulator -> whole pipeline -> syslog sink -> rsyslogd.

Each transport carries thousands of simulator clicks (byte-identical copies and
non-ASCII text included); rsyslog must end up with each click exactly once, its MSG
byte-for-byte the compact JSON of the click, and one message per event id.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.simulator import Simulator

from .helpers import SINK, build_sink, dataset, event, payloads, run_pipeline, sink_options
from .parsers import parse_5424
from .rsyslog import Rsyslogd

# Real daemons and sockets: a hang must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(60)

CLICKS = 3000

TRANSPORTS = {
    "udp": {"mode": "udp"},
    "tcp-octet-counting": {"mode": "tcp", "framing": "octet_counting"},
    "tcp-lf": {"mode": "tcp", "framing": "lf"},
    "tls": {"mode": "tls"},
}


def _receiver(
    transport: str, rsyslog_plain: Rsyslogd, rsyslog_tls: Rsyslogd, pki: Any
) -> tuple[Rsyslogd, int, dict[str, Any]]:
    options = dict(TRANSPORTS[transport])
    if transport == "tls":
        options["ca_file"] = str(pki.server.ca)
        return rsyslog_tls, rsyslog_tls.tcp_port, options
    port = rsyslog_plain.udp_port if transport == "udp" else rsyslog_plain.tcp_port
    assert port is not None
    return rsyslog_plain, port, options


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_thousands_of_clicks_arrive_exactly_once_and_byte_exact(
    transport: str,
    rsyslog_plain: Rsyslogd,
    rsyslog_tls: Rsyslogd,
    pki: Any,
    app: str,
    tmp_path: Path,
) -> None:
    daemon, port, options = _receiver(transport, rsyslog_plain, rsyslog_tls, pki)
    clicks = dataset(CLICKS, seed=len(transport))
    truth = clicks.truth()
    assert len(truth) == CLICKS
    assert len(payloads(truth)) < CLICKS, "the dataset should hold byte-identical copies"
    assert any(max(orjson.dumps(c)) > 127 for c in truth), "the dataset should hold non-ASCII"
    stderr_before = len(daemon.stderr_text())

    async with Simulator(dataset=clicks) as sim:
        sinks = {SINK: sink_options(port, options.pop("mode"), app, **options)}
        run = await run_pipeline(sim, sinks, tmp_path / "state")

    assert run.error is None, run.error
    assert run.sink.events == CLICKS
    records = daemon.wait_for(app, CLICKS)
    received = Counter(r["msg"].encode() for r in records)
    assert received == payloads(truth), (
        f"missing {sum((payloads(truth) - received).values())}, "
        f"extra {sum((received - payloads(truth)).values())}"
    )
    # rsyslog's raw message is exactly header + MSG, with one distinct event id each.
    parsed = [parse_5424(r["raw"].encode()) for r in records]
    assert all(p.msg == r["msg"].encode() for p, r in zip(parsed, records, strict=True))
    event_ids = Counter(p.sd[0][1]["eventId"] for p in parsed)
    assert len(event_ids) == CLICKS and set(event_ids.values()) == {1}
    assert {r["sd"] for r in records[:1]} == {
        f'[mimecast@32473 eventId="{parsed[0].sd[0][1]["eventId"]}" source="url_clicks"]'
    }
    # A clean close_notify on every TLS session: rsyslog logged nothing.
    assert daemon.stderr_text()[stderr_before:] == ""


@pytest.mark.parametrize("transport", ["tcp-octet-counting", "tls"])
async def test_a_20_kib_message_arrives_whole(
    transport: str,
    rsyslog_plain: Rsyslogd,
    rsyslog_tls: Rsyslogd,
    pki: Any,
    app: str,
    tmp_path: Path,
) -> None:
    daemon, port, options = _receiver(transport, rsyslog_plain, rsyslog_tls, pki)
    sink, stats = build_sink(sink_options(port, options.pop("mode"), app, **options), tmp_path)
    big = event(1, subject="€" * 6700 + "end")  # 20 KB of subject, 3 bytes a character
    small = event(2)
    await sink.start()
    try:
        await sink.send([big, small])
    finally:
        await sink.aclose()

    records = daemon.wait_for(app, 2)
    assert len(records) == 2
    raws = [r["raw"].encode() for r in records]
    assert 20 * 1024 < len(raws[0]) < 21 * 1024
    kind = {"mimecast": {"kind": "url"}}
    assert orjson.loads(records[0]["msg"]) == {**big.data, **kind}
    assert orjson.loads(records[1]["msg"]) == {**small.data, **kind}
    assert stats.truncated == 0
    # What was written: each message with its octet count, nothing else.
    assert stats.bytes == sum(len(b"%d " % len(raw)) + len(raw) for raw in raws)
