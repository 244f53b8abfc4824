"""The generic http sink against a plain receiver: encodings, statuses, Retry-After."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.errors import SinkError, TransientSinkError
from collector.secrets import scrub
from collector.simulator.httpserver import Response

from .helpers import VirtualTime, events
from .local_server import dropped
from .receiver import Receiver, parse_events


def options(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "endpoint": receiver.url + "/ingest", **extra}


async def test_ndjson_lines_each_end_in_a_newline(receiver: Any, make_sink: Any) -> None:
    target = await receiver()
    sink = await make_sink(options(target))
    page = events(3)
    await sink.send(page)
    [request] = target.requests
    assert request.body.endswith(b"\n")
    assert parse_events(request.body) == [e.data for e in page]
    assert request.headers["content-type"] == "application/x-ndjson"
    assert "content-encoding" not in request.headers
    assert (request.method, request.path) == ("POST", "/ingest")


async def test_json_array_envelopes_gzip_put_and_headers(receiver: Any, make_sink: Any) -> None:
    target = await receiver()
    sink = await make_sink(
        options(
            target,
            encoding="json_array",
            format="envelope",
            compression="gzip",
            method="PUT",
            headers={"Authorization": "Bearer hook-token-123456", "X-Tenant": "acme"},
            max_batch_events=2,
        )
    )
    page = events(3)
    await sink.send(page)
    assert [len(orjson.loads(r.body)) for r in target.requests] == [2, 1]
    first = target.requests[0]
    assert first.method == "PUT"
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["authorization"] == "Bearer hook-token-123456"
    assert first.headers["x-tenant"] == "acme"
    assert first.headers["content-type"] == "application/json"
    assert [e["event_id"] for e in target.events] == [e.event_id for e in page]
    assert [e["log"] for e in target.events] == [e.data for e in page]
    # The bearer token is a secret now: logs will never show it.
    assert "hook-token" not in scrub("sent Bearer hook-token-123456")


async def test_json_array_batches_respect_max_batch_bytes(receiver: Any, make_sink: Any) -> None:
    target = await receiver()
    sink = await make_sink(options(target, encoding="json_array"))
    one = len(sink.encode(events(1)[0]))
    limit = max(1024, 3 * one + 4)
    small = await make_sink(options(target, encoding="json_array", max_batch_bytes=limit), name="b")
    await small.send(events(10))
    assert all(len(r.body) <= limit for r in target.requests)
    assert len(target.events) == 10


async def test_default_retry_statuses_and_retry_after_as_a_date(
    receiver: Any, make_sink: Any, vtime: VirtualTime
) -> None:
    target = await receiver()
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    target.answer_next(Response(503, b"down", "text/plain", headers=[("Retry-After", later)]))
    target.answer_next(Response(408, b"slow", "text/plain"))
    sink = await make_sink(options(target), retry=vtime.policy())
    await sink.send(events(2))
    assert [r.status for r in target.requests] == [503, 408, 200]
    assert 25 <= vtime.waits[0] <= 35
    assert len(target.events) == 2


async def test_501_and_other_4xx_fail_at_once_with_the_receivers_words(
    receiver: Any, make_sink: Any, vtime: VirtualTime
) -> None:
    target = await receiver()
    target.answer_next(Response(501, b"no such method", "text/plain"))
    sink = await make_sink(options(target), retry=vtime.policy())
    with pytest.raises(SinkError, match="HTTP 501: no such method") as raised:
        await sink.send(events(1))
    assert not isinstance(raised.value, TransientSinkError)
    assert len(target.requests) == 1


async def test_custom_success_retry_and_dead_letter_statuses(
    receiver: Any, make_sink: Any, vtime: VirtualTime, tmp_path: Path
) -> None:
    target = await receiver(status=202)
    target.answer_next(Response(200))  # not a success for this receiver
    target.answer_next(Response(409, b"busy", "text/plain"))
    target.answer_next(Response(422, b'{"error":"bad field"}'))
    sink = await make_sink(
        options(
            target,
            success_statuses=[202],
            retry_statuses=[200, 409],
            dead_letter_statuses=[422],
        ),
        retry=vtime.policy(),
    )
    page = events(2)
    await sink.send(page)  # 200 -> retry, 409 -> retry, 422 -> dead letters
    assert [r.status for r in target.requests] == [200, 409, 422]
    letters = [
        orjson.loads(line)
        for path in (tmp_path / "state" / "dead-letter" / "out").glob("*.ndjson")
        for line in path.read_bytes().splitlines()
    ]
    assert [(d["event_id"], d["status"]) for d in letters] == [(e.event_id, 422) for e in page]
    assert letters[0]["reason"] == '{"error":"bad field"}'
    await sink.send(events(1, start=5))
    assert target.requests[-1].status == 202


async def test_a_dropped_connection_is_retried(receiver: Any, make_sink: Any) -> None:
    target = await receiver()
    target.answer_next(dropped())
    sink = await make_sink(options(target, retry_initial_backoff_secs=0.01))
    await sink.send(events(2))
    assert [r.status for r in target.requests] == [None, 200]
    assert len(target.events) == 2


async def test_healthcheck_passes_unless_unreachable_or_refused(
    receiver: Any, make_sink: Any
) -> None:
    target = await receiver(status=405)
    sink = await make_sink(options(target))
    await sink.healthcheck()
    assert target.requests[0].method == "HEAD"
    target.answer_next(Response(401))
    with pytest.raises(SinkError, match="HTTP 401"):
        await sink.healthcheck()
    gone = await make_sink({"type": "http", "endpoint": "http://127.0.0.1:9/x"}, name="gone")
    with pytest.raises(SinkError, match="cannot reach"):
        await gone.healthcheck()
