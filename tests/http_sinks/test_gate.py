"""One backpressure gate per HTTP sink (issue 9): a 429 or 503 holds back every request.

Over real sockets, several pages go to one sink at once (as catch-up slices deliver
them) while the receiver refuses some requests. The sink's transport records when each
request left, and the gate when it closed (:mod:`tests.wire_log`): none may leave after a
refusal closed the gate and before the wait asked for has passed (requests already on
the wire excepted), every refusal the receiver answered must have closed the gate, and
every event must be delivered exactly once in the end.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from typing import Any

import pytest

from collector.errors import SinkError
from collector.events import Event
from collector.simulator.envelope import json_response
from collector.simulator.httpserver import Request, Response
from tests.wire_log import WireLog, gate_crossings, record_closures

from .bulk_emulator import BulkEmulator, es_error
from .hec_emulator import Fault, HecEmulator
from .helpers import events, missing_and_doubled
from .local_server import LocalServer
from .receiver import Receiver

PAGES = 4
PAGE_EVENTS = 30
# Requests answered with a refusal, by arrival order: one in the first wave (the
# other pages' first requests are on the wire with it), then spread out.
REFUSE_AT = (0, 7, 15)
INITIAL_BACKOFF_SECS = 0.6
SINK_OPTIONS = {
    "max_batch_events": 5,
    "retry_initial_backoff_secs": INITIAL_BACKOFF_SECS,
    "retry_max_backoff_secs": 4.0,
    "retry_max_secs": 30.0,
}
# (status, Retry-After, the least time the gate stays closed). Without a Retry-After
# the first refusal in a row closes it for half the initial backoff at least.
REFUSALS = [
    pytest.param(503, "1", 1.0, id="503-retry-after-1s"),
    pytest.param(429, None, INITIAL_BACKOFF_SECS / 2, id="429-without-retry-after"),
]


def pages() -> list[list[Event]]:
    return [events(PAGE_EVENTS, start=n * PAGE_EVENTS) for n in range(PAGES)]


async def deliver_concurrently(sink: Any, truth: list[list[Event]]) -> None:
    await asyncio.gather(*(sink.send(page) for page in truth))


def retry_after_headers(retry_after: str | None) -> list[tuple[str, str]]:
    return [("Retry-After", retry_after)] if retry_after is not None else []


def assert_gate_counted(sink: Any, refusals: int) -> None:
    gate = sink.stats.backpressure
    assert gate.closures == refusals
    # The other pages' requests were held back at the gate.
    assert gate.wait_secs > 0


@pytest.mark.parametrize(("status", "retry_after", "window"), REFUSALS)
async def test_http_sink_holds_every_page_back_after_a_refusal(
    receiver: Any,
    make_sink: Any,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    retry_after: str | None,
    window: float,
) -> None:
    target: Receiver = await receiver()
    refusal = Response(status, b"busy", "text/plain", headers=retry_after_headers(retry_after))
    for n in range(REFUSE_AT[-1] + 1):
        target.answer_next(refusal if n in REFUSE_AT else Response(200))
    wire = WireLog()
    sink = await make_sink(
        {"type": "http", "endpoint": target.url + "/ingest", **SINK_OPTIONS}, transport=wire
    )
    closings = record_closures(sink.gate, monkeypatch, window)
    truth = pages()
    await deliver_concurrently(sink, truth)
    assert gate_crossings(wire.exchanges, closings) == []
    assert missing_and_doubled(target.events, [e.data for page in truth for e in page]) == (0, 0)
    assert [r.status for r in target.requests].count(status) == len(REFUSE_AT)
    assert_gate_counted(sink, len(REFUSE_AT))


def hec_options(emulator: HecEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "type": "splunk_hec",
        "endpoint": emulator.url,
        "token": emulator.token,
        **SINK_OPTIONS,
        **extra,
    }


@pytest.mark.parametrize(("status", "retry_after", "window"), REFUSALS)
async def test_splunk_hec_holds_every_page_back_after_a_refusal(
    hec: Any,
    make_sink: Any,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    retry_after: str | None,
    window: float,
) -> None:
    emulator: HecEmulator = await hec()
    code = 9 if status == 503 else None
    refusal = Fault("status", status=status, code=code, retry_after=retry_after)
    for n in range(REFUSE_AT[-1] + 1):
        emulator.fail_next(refusal if n in REFUSE_AT else Fault("none"))
    wire = WireLog()
    sink = await make_sink(hec_options(emulator), transport=wire)
    closings = record_closures(sink.gate, monkeypatch, window)
    truth = pages()
    await deliver_concurrently(sink, truth)
    assert gate_crossings(wire.exchanges, closings) == []
    stored = [obj["event"] for obj in emulator.stored]
    assert missing_and_doubled(stored, [e.data for page in truth for e in page]) == (0, 0)
    assert_gate_counted(sink, len(REFUSE_AT))


async def test_splunk_hec_ack_polls_wait_at_the_gate_and_a_refused_poll_closes_it(
    hec: Any, make_sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: HecEmulator = await hec(use_ack=True)
    busy = Fault("status", status=503, code=9, retry_after="1")
    emulator.fail_next(busy)  # the first event request: polls must wait too
    emulator.fail_next_ack(busy)  # the first poll: event requests must wait
    wire = WireLog()
    sink = await make_sink(
        hec_options(
            emulator, acknowledgements=True, ack_poll_interval_secs=0.05, ack_timeout_secs=10
        ),
        transport=wire,
    )
    closings = record_closures(sink.gate, monkeypatch, 1.0)
    truth = pages()
    await deliver_concurrently(sink, truth)
    assert gate_crossings(wire.exchanges, closings) == []
    # Both kinds of request were refused once, and both went through the wire log.
    refused_paths = {exchange.path for exchange in wire.exchanges if exchange.status == 503}
    assert refused_paths == {"/services/collector/event", "/services/collector/ack"}
    assert [p.status for p in emulator.ack_log].count(503) == 1
    stored = [obj["event"] for obj in emulator.stored]
    assert missing_and_doubled(stored, [e.data for page in truth for e in page]) == (0, 0)
    assert_gate_counted(sink, 2)


def es_options(emulator: BulkEmulator) -> dict[str, Any]:
    return {
        "type": "elasticsearch",
        "endpoint": emulator.url,
        "api_key": emulator.api_key,
        **SINK_OPTIONS,
    }


def created_once(emulator: BulkEmulator, truth: list[list[Event]]) -> bool:
    """Every document was created by exactly one bulk item (201), none missing."""
    created = Counter(
        doc_id
        for entry in emulator.log
        for doc_id, status in zip(entry.ids, entry.item_statuses, strict=True)
        if status == 201
    )
    return created == Counter(e.event_id for page in truth for e in page)


@pytest.mark.parametrize(("status", "retry_after", "window"), REFUSALS)
async def test_elasticsearch_holds_every_page_back_after_a_refusal(
    bulk: Any,
    make_sink: Any,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    retry_after: str | None,
    window: float,
) -> None:
    emulator: BulkEmulator = await bulk()
    kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
    refusal = json_response(status, es_error(status, kind, "try later"))
    refusal.headers.extend(retry_after_headers(retry_after))
    for n in range(REFUSE_AT[-1] + 1):
        emulator.fail_next(refusal if n in REFUSE_AT else None)
    wire = WireLog()
    sink = await make_sink(es_options(emulator), transport=wire)
    closings = record_closures(sink.gate, monkeypatch, window)
    truth = pages()
    await deliver_concurrently(sink, truth)
    assert gate_crossings(wire.exchanges, closings) == []
    assert created_once(emulator, truth)
    assert_gate_counted(sink, len(REFUSE_AT))


async def test_elasticsearch_items_answered_429_close_the_gate_too(
    bulk: Any, make_sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: BulkEmulator = await bulk()
    truth = pages()
    # A full write queue rejects single items inside a 200 bulk answer.
    rejected = [truth[0][0], truth[1][7], truth[3][20]]
    for event in rejected:
        emulator.fail_item(
            event.event_id, 429, "es_rejected_execution_exception", "write queue is full"
        )
    wire = WireLog()
    sink = await make_sink(es_options(emulator), transport=wire)
    closings = record_closures(sink.gate, monkeypatch, INITIAL_BACKOFF_SECS / 2)
    await deliver_concurrently(sink, truth)
    assert gate_crossings(wire.exchanges, closings) == []
    assert created_once(emulator, truth)
    assert sum(entry.item_statuses.count(429) for entry in emulator.log) == len(rejected)
    refusing_requests = sum(429 in entry.item_statuses for entry in emulator.log)
    assert_gate_counted(sink, refusing_requests)


async def test_a_wait_longer_than_the_budget_fails_the_page_at_once(
    receiver: Any, make_sink: Any
) -> None:
    target: Receiver = await receiver()
    target.answer_next(Response(503, b"maintenance", "text/plain", [("Retry-After", "600")]))
    sink = await make_sink(
        {"type": "http", "endpoint": target.url + "/ingest", "retry_max_secs": 5}
    )
    with pytest.raises(SinkError) as raised:
        await asyncio.wait_for(sink.send(events(3)), 3)
    assert str(raised.value) == (
        f"sink out: {target.url}/ingest answered HTTP 503 and asked to wait 10.0 min "
        "(Retry-After: 600), longer than the retry budget (retry_max_secs = 5); the page "
        "is not delivered and the checkpoint is unchanged"
    )
    # The next page does not even try: the gate is still closed for ten minutes.
    with pytest.raises(SinkError, match=r"^sink out: the receiver asked to wait 10\.0 min"):
        await asyncio.wait_for(sink.send(events(1, start=3)), 3)
    assert len(target.requests) == 1
    assert target.events == []


async def test_a_success_arriving_while_the_gate_is_closed_does_not_open_it(
    servers: list[LocalServer], make_sink: Any
) -> None:
    arrivals: list[tuple[int, float]] = []

    async def answer(request: Request) -> Response:
        number = len(arrivals)
        arrivals.append((number, time.monotonic()))
        if number == 0:  # on the wire before the refusal, answered after it
            await asyncio.sleep(0.3)
            return Response(200)
        if number == 1:
            return Response(503, b"busy", "text/plain", [("Retry-After", "1")])
        return Response(200)

    server = LocalServer(answer)
    await server.start()
    servers.append(server)
    sink = await make_sink({"type": "http", "endpoint": server.url + "/in", **SINK_OPTIONS})
    slow = asyncio.create_task(sink.send(events(1)))
    await asyncio.sleep(0.1)
    # Refused, then retried once the gate opens.
    refused = asyncio.create_task(sink.send(events(1, start=1)))
    await slow
    assert len(arrivals) == 2  # the 200 came back while the gate was closed
    await sink.send(events(1, start=2))
    await refused
    refused_at = arrivals[1][1]
    assert arrivals[0][1] < refused_at
    # The 200 came back 0.2 s into the refusal's second; nothing followed before it ended.
    assert all(arrived >= refused_at + 1.0 for _, arrived in arrivals[2:])
    assert len(arrivals) == 4


async def test_a_backoff_longer_than_the_budget_names_what_refused(
    bulk: Any, make_sink: Any
) -> None:
    emulator: BulkEmulator = await bulk()
    page = events(3)
    emulator.fail_item(page[1].event_id, 429, "es_rejected_execution_exception", "queue full")
    sink = await make_sink(
        {
            **es_options(emulator),
            "retry_initial_backoff_secs": 8,
            "retry_max_backoff_secs": 8,
            "retry_max_secs": 2,
        }
    )
    with pytest.raises(SinkError) as raised:
        await asyncio.wait_for(sink.send(page), 3)
    assert re.fullmatch(
        rf"sink out: {emulator.url}/logs-mimecast\.ttp_url-default/_bulk keeps refusing "
        r"requests \(bulk items answered 429\): its backoff is [4-8]\.\d s, longer than the "
        r"retry budget \(retry_max_secs = 2\); the page is not delivered and the checkpoint "
        r"is unchanged",
        str(raised.value),
    )
    assert sink.stats.backpressure.closures == 1
    assert len(emulator.log) == 1
