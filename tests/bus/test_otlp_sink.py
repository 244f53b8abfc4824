"""The otlp sink: against a real OpenTelemetry collector (rotel), and a scripted receiver
on 127.0.0.1 for the answers rotel never gives (429, 503, partial success, 400)."""

from __future__ import annotations

import gzip
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.config import parse_config
from collector.delivery import SinkHandle, deliver
from collector.errors import SinkError
from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig
from collector.simulator.httpserver import Request, Response
from collector.sinks import SinkContext
from collector.sinks.otlp import OtlpSink, OtlpSinkConfig
from tests.http_sinks.helpers import VirtualTime
from tests.http_sinks.local_server import LocalServer
from tests.integration.conftest import collect_once, multiset, settings

from .brokers import Rotel
from .test_kafka_sink import clicks, dead_letters

NOW = int(time.time())


def otlp(tmp_path: Path, endpoint: str, retry: Any = None, **options: Any) -> OtlpSink:
    config = OtlpSinkConfig.model_validate({"type": "otlp", "endpoint": endpoint, **options})
    return OtlpSink("bus", config, SinkContext(state_dir=tmp_path / "state"), retry=retry)


async def test_pipeline_into_rotel_is_exact(tmp_path: Path, rotel: Rotel) -> None:
    faults = FaultPlan(seed=4)
    faults.schedule("server_error")
    dataset = ClickDataset.generate(1500, start=NOW - 86400 + 600, end=NOW - 600, seed=8)
    async with Simulator(SimulatorConfig(), dataset, faults) as sim:
        document = settings(tmp_path, sim.base_url)
        document["sinks"] = {
            "bus": {"type": "otlp", "endpoint": rotel.url, "max_batch_events": 200}
        }
        config = parse_config(document)
        results = await collect_once(config)
        truth = multiset(sim.dataset.truth())
    assert all(error is None for error in results.values()), results
    records = rotel.records(expect=1500)
    bodies = [orjson.loads(r["body"].removeprefix("Str(").removesuffix(")")) for r in records]
    assert multiset(bodies) == truth
    ids = [r["attributes"]["mimecast.event_id"] for r in records]
    assert len(set(ids)) == len(ids) == 1500
    for record, body in zip(records, bodies, strict=True):
        assert record["attributes"]["url.full"] == f"Str({body['url']})"
        assert record["attributes"]["mimecast.source"] == "Str(clicks)"
        assert record["severity"] == ("WARN" if body["action"] in ("block", "warn") else "INFO")


async def test_map_body_arrives_as_a_map(tmp_path: Path, rotel: Rotel) -> None:
    sink = otlp(tmp_path, rotel.url + "/v1/logs", body="map", compression="none")
    await sink.start()
    try:
        await sink.healthcheck()
        await sink.send(clicks(2))
    finally:
        await sink.aclose()
    records = rotel.records(expect=2)
    assert sorted(r["body"] for r in records) == [
        f"Map(url:Str(https://example.com/{i}), userEmailAddress:Str(u{i}@example.com), pad:Str())"
        for i in range(2)
    ]
    assert records[0]["attributes"]["user.email"] in ("Str(u0@example.com)", "Str(u1@example.com)")


class Scripted:
    """Answers each POST with the next scripted response (then 200), keeping the bodies."""

    def __init__(self, *answers: Response) -> None:
        self.answers = deque(answers)
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, request: Request) -> Response:
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.bodies.append(orjson.loads(body))
        return self.answers.popleft() if self.answers else Response(200, b"{}")


def records_of(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        record
        for request in requests
        for resource in request["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
    ]


async def serve(handler: Scripted) -> LocalServer:
    server = LocalServer(handler)
    await server.start()
    return server


async def test_429_and_503_are_retried_through_the_gate(tmp_path: Path) -> None:
    vtime = VirtualTime()
    handler = Scripted(
        Response(429, b"slow down", headers=[("Retry-After", "7")]),
        Response(503, b"busy"),
    )
    server = await serve(handler)
    policy = vtime.policy()
    sink = otlp(tmp_path, server.url, retry=policy)
    await sink.start()
    try:
        # Through the pipeline's delivery, the one owner of a sink's retries.
        await deliver([SinkHandle("bus", sink, policy, sink.stats)], clicks(4))
    finally:
        await sink.aclose()
        await server.stop()
    assert len(handler.bodies) == 3
    assert len(records_of(handler.bodies[-1:])) == 4
    assert sink.stats.backpressure.closures == 2
    assert vtime.waits and max(vtime.waits) >= 7  # Retry-After honoured


@pytest.mark.parametrize(
    ("refused", "error_type"), [(2, "otlp_partially_rejected"), (5, "otlp_rejected")]
)
async def test_partial_success_sends_the_request_to_dead_letters(
    tmp_path: Path, refused: int, error_type: str
) -> None:
    answer = {"partialSuccess": {"rejectedLogRecords": str(refused), "errorMessage": "bad attr"}}
    handler = Scripted(Response(200, orjson.dumps(answer)))
    server = await serve(handler)
    sink = otlp(tmp_path, server.url)
    await sink.start()
    try:
        await sink.send(clicks(5))
    finally:
        await sink.aclose()
        await server.stop()
    letters = dead_letters(tmp_path)
    assert sorted(letter["event_id"] for letter in letters) == [f"e{i}-0" for i in range(5)]
    assert {letter["error_type"] for letter in letters} == {error_type}
    assert all("bad attr" in letter["reason"] for letter in letters)
    assert sink.stats.dead_lettered == 5


async def test_400_dead_letters_and_401_fails_the_page(tmp_path: Path) -> None:
    handler = Scripted(Response(400, b'{"message":"invalid body"}'), Response(401, b"no token"))
    server = await serve(handler)
    sink = otlp(tmp_path, server.url)
    await sink.start()
    try:
        await sink.send(clicks(2))
        with pytest.raises(SinkError, match="HTTP 401: no token"):
            await sink.send(clicks(1))
    finally:
        await sink.aclose()
        await server.stop()
    assert [letter["reason"] for letter in dead_letters(tmp_path)] == [
        '{"message":"invalid body"}'
    ] * 2


def test_endpoint_gets_v1_logs_once() -> None:
    base = OtlpSinkConfig.model_validate({"type": "otlp", "endpoint": "https://otel:4318/"})
    full = OtlpSinkConfig.model_validate({"type": "otlp", "endpoint": "https://otel/x/v1/logs"})
    assert (base.logs_url(), full.logs_url()) == (
        "https://otel:4318/v1/logs",
        "https://otel/x/v1/logs",
    )
