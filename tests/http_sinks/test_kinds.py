"""Each kind of record lands where it belongs: HEC sourcetypes, Elasticsearch data streams.

The records are Elastic's own pipeline test samples (tests/http_sinks/test_ecs_ttp.py)
beside the usual click logs, sent together in one page, as a daemon with three sources
on one sink would.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import structlog
from pydantic import ValidationError

from collector.errors import SinkError
from collector.events import Event, content_hash, parse_mimecast_date
from collector.sinks.http.elasticsearch import ElasticsearchSinkConfig
from collector.sinks.http.splunk_hec import SplunkHecSinkConfig

from .helpers import events
from .test_ecs_ttp import AP_LOGS, IP_LOGS


def _record(raw: str, kind: str, source: str) -> Event:
    data = orjson.loads(raw)
    when = data["eventTime"] if kind == "impersonation" else data["date"]
    event_id = f"{content_hash(data)}-0"
    return Event(source, event_id, parse_mimecast_date(when), data, kind)


def mixed_page() -> list[Event]:
    """Two clicks, two attachment logs, two impersonation logs, interleaved."""
    clicks = events(2)
    attachments = [_record(raw, "attachment", "attachments") for raw in AP_LOGS[:2]]
    impersonations = [_record(raw, "impersonation", "impersonation") for raw in IP_LOGS[:2]]
    return [e for trio in zip(clicks, attachments, impersonations, strict=True) for e in trio]


def hec_options(emulator: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "splunk_hec", "endpoint": emulator.url, "token": emulator.token, **extra}


def es_options(emulator: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "elasticsearch", "endpoint": emulator.url, "api_key": emulator.api_key, **extra}


async def test_each_kind_gets_its_own_sourcetype(hec: Any, make_sink: Any) -> None:
    emulator = await hec()
    sink = await make_sink(hec_options(emulator))
    page = mixed_page()
    await sink.send(page)
    assert [(obj["sourcetype"], obj["event"]) for obj in emulator.stored] == [
        (f"mimecast:ttp:{event.kind}", event.data) for event in page
    ]


async def test_sourcetypes_per_source_come_before_the_sinks_one(hec: Any, make_sink: Any) -> None:
    emulator = await hec()
    options = hec_options(
        emulator, sourcetype="mimecast", sourcetypes={"attachments": "mimecast:ap"}
    )
    sink = await make_sink(options)
    await sink.send(mixed_page())
    assert [obj["sourcetype"] for obj in emulator.stored] == [
        "mimecast",
        "mimecast:ap",
        "mimecast",
    ] * 2


async def test_each_kind_goes_to_its_own_data_stream(bulk: Any, make_sink: Any) -> None:
    emulator = await bulk()
    sink = await make_sink(es_options(emulator))
    page = mixed_page()
    await sink.send(page)
    streams = {
        "url": ("logs-mimecast.ttp_url-default", "mimecast.ttp_url", "mimecast.ttp_url_logs"),
        "attachment": ("logs-mimecast.ttp_ap-default", "mimecast.ttp_ap", "mimecast.ttp_ap_logs"),
        "impersonation": (
            "logs-mimecast.ttp_ip-default",
            "mimecast.ttp_ip",
            "mimecast.ttp_ip_logs",
        ),
    }
    for event in page:
        stream, dataset, ecs_dataset = streams[event.kind]
        doc = emulator.stored(stream)[event.event_id]
        assert doc["data_stream"] == {"type": "logs", "dataset": dataset, "namespace": "default"}
        assert doc["event"]["dataset"] == ecs_dataset
    assert sorted(emulator.indices) == sorted(stream for stream, _, _ in streams.values())
    attachment = emulator.stored("logs-mimecast.ttp_ap-default")[page[1].event_id]
    assert attachment["email"]["attachments"]["file"]["name"] == "numbers.pdf"
    impersonation = emulator.stored("logs-mimecast.ttp_ip-default")[page[2].event_id]
    assert impersonation["source"]["ip"] == "67.43.156.15"
    # One request: the URL names the clicks' stream, other documents name their own.
    [request] = emulator.log
    assert request.path == "/logs-mimecast.ttp_url-default/_bulk"


async def test_index_sends_every_kind_to_one_place_and_indices_per_kind_before_it(
    bulk: Any, make_sink: Any
) -> None:
    emulator = await bulk()
    options = es_options(
        emulator, mode="index", index="mimecast", indices={"impersonation": "mimecast-ip"}
    )
    sink = await make_sink(options)
    page = mixed_page()
    await sink.send(page)
    assert set(emulator.stored("mimecast")) == {
        e.event_id for e in page if e.kind != "impersonation"
    }
    assert set(emulator.stored("mimecast-ip")) == {
        e.event_id for e in page if e.kind == "impersonation"
    }
    assert "data_stream" not in emulator.stored("mimecast-ip")[page[2].event_id]


async def test_healthcheck_warns_of_another_kinds_stream_it_may_not_write_to(
    bulk: Any, make_sink: Any
) -> None:
    # Whether an impersonation source feeds the sink is unknown here: a warning, no failure.
    emulator = await bulk()
    sink = await make_sink(es_options(emulator))
    emulator.read_only = {"logs-mimecast.ttp_ip-default"}
    with structlog.testing.capture_logs() as logs:
        await sink.healthcheck()
    [warning] = [line for line in logs if line["event"] == "elasticsearch_may_not_write"]
    assert warning["targets"] == ["logs-mimecast.ttp_ip-default"]
    emulator.read_only.add("logs-mimecast.ttp_url-default")
    with pytest.raises(SinkError, match=r"may not write to 'logs-mimecast\.ttp_url-default' \("):
        await sink.healthcheck()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"indices": {"attachments": "x"}}, "indices: unknown kind 'attachments'"),
        ({"indices": {"attachment": "Bad"}}, "'Bad' is not a valid index"),
    ],
)
def test_indices_are_checked(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        ElasticsearchSinkConfig.model_validate(
            {"type": "elasticsearch", "endpoint": "http://127.0.0.1:9", **options}
        )


def test_sourcetype_default_is_per_kind() -> None:
    config = SplunkHecSinkConfig.model_validate(
        {"type": "splunk_hec", "endpoint": "http://127.0.0.1:9", "token": "t"}
    )
    assert config.sourcetype is None
    assert config.sourcetypes == {}
