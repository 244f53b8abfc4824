"""One retry owner for every sink: collector.delivery, with one budget per sink.

A sink's ``send`` is one attempt; what it could not deliver comes back as a
TransientSinkError whose ``pending`` is only the rest, and delivery re-sends only that.
Real receivers on 127.0.0.1 throughout; only the retry policy's clock is virtual.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from collector.delivery import SinkHandle, deliver
from collector.errors import SinkError, TransientSinkError
from collector.simulator.httpserver import Response
from collector.sinks import SinkContext
from collector.sinks.http.generic import HttpSink, HttpSinkConfig
from collector.sinks.syslog import SyslogSinkConfig
from tests.http_sinks.helpers import VirtualTime, events
from tests.http_sinks.receiver import Receiver


def http_sink(url: str, tmp_path: Path, vtime: VirtualTime, **options: Any) -> SinkHandle:
    config = HttpSinkConfig.model_validate({"type": "http", "endpoint": url, **options})
    context = SinkContext(state_dir=tmp_path)
    policy = vtime.policy(max_secs=config.retry_max_secs)
    return SinkHandle("out", HttpSink("out", config, context, retry=policy), policy, context.stats)


async def test_an_http_sink_send_is_one_attempt_that_reports_what_is_left(
    tmp_path: Path,
) -> None:
    async with Receiver() as receiver:
        receiver.answer_next(Response(200))
        receiver.answer_next(Response(503, b"busy", "text/plain"), count=10)
        handle = http_sink(receiver.url + "/in", tmp_path, VirtualTime(), max_batch_events=2)
        page = events(6)
        await handle.sink.start()
        try:
            with pytest.raises(TransientSinkError) as raised:
                await handle.sink.send(page)
        finally:
            await handle.sink.aclose()
    # No retry inside the sink: one accepted request, one refused, nothing more.
    assert [r.status for r in receiver.requests] == [200, 503]
    assert raised.value.pending == page[2:]


async def test_delivery_resends_only_the_pending_events(tmp_path: Path) -> None:
    async with Receiver() as receiver:
        receiver.answer_next(Response(200))
        receiver.answer_next(Response(503, b"busy", "text/plain"))
        vtime = VirtualTime()
        handle = http_sink(receiver.url + "/in", tmp_path, vtime, max_batch_events=2)
        page = events(6)
        await handle.sink.start()
        try:
            await deliver([handle], page)
        finally:
            await handle.sink.aclose()
    assert [r.status for r in receiver.requests] == [200, 503, 200, 200]
    assert sorted(e["url"] for e in receiver.events) == sorted(e.data["url"] for e in page)
    assert handle.stats.retries == 1 == len(vtime.waits)
    assert handle.stats.events == 6 and handle.stats.batches == 1


async def test_one_budget_per_sink_and_a_plain_error_once_it_is_spent(tmp_path: Path) -> None:
    async with Receiver(status=503) as receiver:
        vtime = VirtualTime()
        handle = http_sink(receiver.url + "/in", tmp_path, vtime, retry_max_secs=20)
        await handle.sink.start()
        try:
            with pytest.raises(SinkError) as raised:
                await deliver([handle], events(3))
        finally:
            await handle.sink.aclose()
    assert not isinstance(raised.value, TransientSinkError)
    assert len(receiver.requests) == len(vtime.waits) + 1 == handle.stats.retries + 1
    assert sum(vtime.waits) <= 20  # not twice the budget: nothing else retries
    assert str(raised.value).startswith(
        f"sink out: 3 of 3 events not delivered after {len(receiver.requests)} attempts"
    )
    assert "(retry_max_secs); last error: receiver answered HTTP 503: (empty body)" in str(
        raised.value
    )


async def test_a_syslog_receiver_that_is_down_is_retried_by_delivery(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    config = SyslogSinkConfig.model_validate(
        {"type": "syslog", "address": f"127.0.0.1:{port}", "mode": "tcp", "retry_max_secs": 10}
    )
    context = SinkContext(state_dir=tmp_path)
    vtime = VirtualTime()
    handle = SinkHandle("siem", config.build("siem", context), vtime.policy(10), context.stats)
    await handle.sink.start()
    try:
        with pytest.raises(SinkError, match=r"1 of 1 events not delivered after \d+ attempts"):
            await deliver([handle], events(1))
    finally:
        await handle.sink.aclose()
    assert handle.stats.retries == len(vtime.waits) >= 2
    assert handle.stats.errors["TransientSinkError"] == handle.stats.retries
    assert sum(vtime.waits) <= 10
