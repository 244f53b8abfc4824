"""The elasticsearch sink against the bulk emulator: exactly once per _id, per-item results."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError

from collector.errors import SinkError, TransientSinkError
from collector.simulator.envelope import json_response
from collector.sinks.http.bulk_items import is_clean
from collector.sinks.http.ecs import to_ecs
from collector.sinks.http.elasticsearch import FILTER_PATH, ElasticsearchSinkConfig

from .bulk_emulator import BulkEmulator, es_error
from .helpers import VirtualTime, click, event_of, events

STREAM = "logs-mimecast.ttp_url-default"


def options(emulator: BulkEmulator, **extra: Any) -> dict[str, Any]:
    return {"type": "elasticsearch", "endpoint": emulator.url, "api_key": emulator.api_key, **extra}


def dead_letters(tmp_path: Path, sink: str = "out") -> list[dict[str, Any]]:
    files = sorted((tmp_path / "state" / "dead-letter" / sink).glob("*.ndjson"))
    return [orjson.loads(line) for path in files for line in path.read_bytes().splitlines()]


async def test_documents_are_created_with_the_event_id_as_id(bulk: Any, make_sink: Any) -> None:
    emulator = await bulk()
    sink = await make_sink(options(emulator))
    page = events(4)
    await sink.send(page)
    stream = {"type": "logs", "dataset": "mimecast.ttp_url", "namespace": "default"}
    assert emulator.stored(STREAM) == {
        e.event_id: orjson.loads(orjson.dumps(to_ecs(e, data_stream=stream))) for e in page
    }
    [request] = emulator.log
    assert request.path == f"/{STREAM}/_bulk"
    assert request.query == {"filter_path": FILTER_PATH, "require_data_stream": "true"}
    assert request.item_statuses == [201] * 4


async def test_the_body_is_gzipped_ndjson_ending_in_a_newline(bulk: Any, make_sink: Any) -> None:
    emulator = await bulk()
    sink = await make_sink(
        options(emulator, format="raw", mode="index", index="mimecast", compression="gzip")
    )
    page = events(2)
    await sink.send(page)
    [request] = emulator.log
    assert request.headers["content-type"] == "application/x-ndjson"
    assert request.headers["content-encoding"] == "gzip"
    lines = request.body.split(b"\n")
    assert lines[-1] == b""  # the last line ends in \n too
    assert [orjson.loads(line) for line in lines[:-1]] == [
        {"create": {"_id": page[0].event_id}},
        {"@timestamp": "2024-11-17T17:02:30.000Z", **page[0].data},
        {"create": {"_id": page[1].event_id}},
        {"@timestamp": "2024-11-17T17:02:31.000Z", **page[1].data},
    ]
    assert "require_data_stream" not in emulator.log[0].query


async def test_a_retried_batch_is_stored_once_and_409s_count_as_stored(
    bulk: Any, make_sink: Any
) -> None:
    emulator = await bulk()
    emulator.drop_after_store = 1  # stored, but the answer is lost
    sink = await make_sink(options(emulator, retry_initial_backoff_secs=0.01))
    page = events(5)
    await sink.send(page)
    assert [entry.status for entry in emulator.log] == [None, 200]
    assert emulator.log[1].item_statuses == [409] * 5
    assert len(emulator.stored(STREAM)) == 5
    assert sink.stats.already_stored == 5
    assert sink.stats.dead_lettered == 0


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, "es_rejected_execution_exception"), (503, "unavailable_shards_exception")],
)
async def test_items_answered_429_or_5xx_are_retried_alone(
    bulk: Any, make_sink: Any, vtime: VirtualTime, status: int, kind: str
) -> None:
    emulator = await bulk()
    page = events(6)
    emulator.fail_item(page[2].event_id, status, kind, "rejected execution", count=2)
    sink = await make_sink(options(emulator), retry=vtime.policy())
    await sink.send(page)
    assert [len(entry.ids) for entry in emulator.log] == [6, 1, 1]
    assert emulator.log[1].ids == [page[2].event_id]
    assert emulator.attempts(page[2].event_id) == 3
    assert all(emulator.attempts(e.event_id) == 1 for i, e in enumerate(page) if i != 2)
    assert set(emulator.stored(STREAM)) == {e.event_id for e in page}
    assert len(vtime.waits) == 2


async def test_a_mapping_error_goes_to_the_dead_letter_file_and_the_rest_is_stored(
    bulk: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await bulk()
    good = events(3)
    bad = event_of(click(99, category={"nested": "object"}))  # category was a keyword
    sink = await make_sink(options(emulator))
    await sink.send([*good, bad])
    assert set(emulator.stored(STREAM)) == {e.event_id for e in good}
    [letter] = dead_letters(tmp_path)
    assert letter["event"] == bad.data
    assert letter["event_id"] == bad.event_id
    assert letter["status"] == 400
    assert letter["error_type"] == "document_parsing_exception"
    assert "mimecast.category" in letter["reason"]
    assert sink.stats.dead_lettered == 1
    assert len(emulator.log) == 1  # not retried
    mode = (tmp_path / "state" / "dead-letter" / "out").iterdir().__next__().stat().st_mode
    assert mode & 0o077 == 0


async def test_a_413_splits_the_request(bulk: Any, make_sink: Any) -> None:
    emulator = await bulk()
    sink = await make_sink(options(emulator, compression="none"))
    one = len(sink.encode(events(1)[0]))
    emulator.max_content_length = one * 3
    page = events(8)
    await sink.send(page)
    statuses = [entry.status for entry in emulator.log]
    assert statuses[0] == 413
    assert all(len(entry.ids) <= 3 for entry in emulator.log if entry.status == 200)
    assert set(emulator.stored(STREAM)) == {e.event_id for e in page}


async def test_whole_request_429_and_5xx_are_retried_with_retry_after(
    bulk: Any, make_sink: Any, vtime: VirtualTime
) -> None:
    emulator = await bulk()
    busy = json_response(
        429, es_error(429, "circuit_breaking_exception", "[parent] Data too large")
    )
    busy.headers.append(("Retry-After", "5"))
    emulator.fail_next(busy)
    emulator.fail_next(
        json_response(503, es_error(503, "master_not_discovered_exception", "no master"))
    )
    sink = await make_sink(options(emulator), retry=vtime.policy())
    await sink.send(events(2))
    assert [entry.status for entry in emulator.log] == [429, 503, 200]
    assert vtime.waits[0] >= 5.0
    assert len(emulator.stored(STREAM)) == 2


async def test_bad_credentials_fail_at_once_without_showing_the_key(
    bulk: Any, make_sink: Any, vtime: VirtualTime
) -> None:
    emulator = await bulk()
    secret = "wrong-key-id:wrong-key-secret"
    sink = await make_sink({**options(emulator), "api_key": secret}, retry=vtime.policy())
    with pytest.raises(SinkError) as raised:
        await sink.send(events(1))
    message = str(raised.value)
    assert not isinstance(raised.value, TransientSinkError)
    assert "HTTP 401 security_exception: unable to authenticate" in message
    assert "wrong-key" not in message
    assert base64.b64encode(secret.encode()).decode() not in message
    assert vtime.waits == []


async def test_basic_auth_and_id_colon_key_api_keys_are_sent_right(
    bulk: Any, make_sink: Any
) -> None:
    emulator = await bulk(
        api_key=base64.b64encode(b"kid:ksecret").decode(), basic=("ingest", "pw-123456")
    )
    by_key = await make_sink({**options(emulator), "api_key": "kid:ksecret"}, name="a")
    await by_key.send(events(1))
    basic = {
        "type": "elasticsearch",
        "endpoint": emulator.url,
        "username": "ingest",
        "password": "pw-123456",
    }
    by_password = await make_sink(basic, name="b")
    await by_password.send(events(1, start=1))
    assert len(emulator.stored(STREAM)) == 2


async def test_a_permanent_problem_in_the_budget_becomes_a_plain_error(
    bulk: Any, make_sink: Any, vtime: VirtualTime
) -> None:
    emulator = await bulk()
    page = events(2)
    emulator.fail_item(
        page[0].event_id, 429, "es_rejected_execution_exception", "queue full", count=999
    )
    sink = await make_sink(options(emulator, retry_max_secs=20), retry=vtime.policy(max_secs=20))
    with pytest.raises(SinkError) as raised:
        await sink.send(page)
    assert not isinstance(raised.value, TransientSinkError)
    assert "1 of 2 events not delivered" in str(raised.value)
    assert "429 es_rejected_execution_exception: queue full" in str(raised.value)
    assert page[1].event_id in emulator.stored(STREAM)


async def test_healthcheck(bulk: Any, make_sink: Any) -> None:
    emulator = await bulk()
    sink = await make_sink(options(emulator))
    await sink.healthcheck()
    emulator.may_write = False
    with pytest.raises(SinkError, match=r"may not write to 'logs-mimecast\.ttp_url-default'"):
        await sink.healthcheck()
    emulator.may_write, emulator.cluster_status = True, "red"
    with pytest.raises(SinkError, match="cluster health is red"):
        await sink.healthcheck()


async def test_the_emulator_rejects_what_elasticsearch_rejects(bulk: Any) -> None:
    emulator = await bulk()
    headers = {
        "Authorization": f"ApiKey {emulator.api_key}",
        "Content-Type": "application/x-ndjson",
    }
    line = b'{"create":{"_id":"a"}}\n{"@timestamp":"2024-01-01T00:00:00Z"}'
    async with httpx.AsyncClient() as raw:
        missing_newline = await raw.post(
            f"{emulator.url}/{STREAM}/_bulk", content=line, headers=headers
        )
        index_op = await raw.post(
            f"{emulator.url}/{STREAM}/_bulk",
            content=b'{"index":{}}\n{"@timestamp":"x"}\n',
            headers=headers,
        )
        no_auth = await raw.post(f"{emulator.url}/_bulk", content=line + b"\n")
    assert missing_newline.status_code == 400
    assert (
        missing_newline.json()["error"]["reason"]
        == "The bulk request must be terminated by a newline [\\n]"
    )
    assert index_op.json()["items"][0]["index"]["status"] == 400
    assert no_auth.status_code == 401


def test_config_checks_auth_and_index_names() -> None:
    base = {"type": "elasticsearch", "endpoint": "https://es:9200"}
    with pytest.raises(ValidationError, match="give either api_key or username"):
        ElasticsearchSinkConfig.model_validate(
            {**base, "api_key": "k", "username": "u", "password": "p"}
        )
    with pytest.raises(ValidationError, match="password: is required"):
        ElasticsearchSinkConfig.model_validate({**base, "username": "u"})
    with pytest.raises(ValidationError, match="not a valid index"):
        ElasticsearchSinkConfig.model_validate({**base, "api_key": "k", "index": "Logs"})


@pytest.mark.parametrize(
    ("body", "clean"),
    [
        (b'{"errors":false,"items":[{"create":{"status":201}}]}', True),
        (b'{ "errors" : false }', True),
        (b'\n{\n  "errors": false,\n  "items": []\n}', True),
        # Not known from the start: parsed and judged item by item.
        (b'{"took":3,"errors":false,"items":[]}', False),
        (b'{"errors":true,"items":[{"create":{"status":429}}]}', False),
        (b'{"errors":falsey}', False),
        (b'{"items":[{"create":{"status":429,"errors":false}}],"errors":true}', False),
        (b"", False),
        (b"<html>", False),
    ],
)
def test_a_clean_bulk_answer_is_known_from_its_first_bytes(body: bytes, clean: bool) -> None:
    assert is_clean(body) is clean


async def test_an_unfiltered_answer_with_item_errors_is_still_read_item_by_item(
    bulk: Any, make_sink: Any, tmp_path: Path
) -> None:
    """A proxy may drop filter_path: ``took`` comes first, and the items still decide."""
    emulator = await bulk()
    page = events(3)
    error = {"type": "document_parsing_exception", "reason": "bad"}
    items = [{"create": {"status": 201}}, {"create": {"status": 400, "error": error}}]
    answer = {"took": 2, "errors": True, "items": [*items, {"create": {"status": 201}}]}
    emulator.fail_next(json_response(200, answer))
    sink = await make_sink(options(emulator))
    await sink.send(page)
    [letter] = dead_letters(tmp_path)
    assert letter["event_id"] == page[1].event_id
    assert sink.stats.dead_lettered == 1
