"""From the simulated Mimecast through the whole collector into each receiver emulator.

Faults are injected on both sides (the simulator's API, and the receiver), and the
assertion is always on what the receiver stored (plus the dead-letter files) against
the simulator's truth, as multisets: nothing missing, nothing doubled, except where a
protocol cannot avoid it (HEC after an ack timeout), and then exactly that batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.app import Collector
from collector.config import parse_config
from collector.daemon import run_once
from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig
from collector.simulator.envelope import json_response
from collector.simulator.httpserver import Response

from .bulk_emulator import es_error
from .hec_emulator import Fault
from .helpers import missing_and_doubled
from .local_server import dropped

NOW = int(time.time())
FAST = {"retry_initial_backoff_secs": 0.01, "retry_max_backoff_secs": 0.05}


def backlog(count: int, seed: int) -> ClickDataset:
    return ClickDataset.generate(count, start=NOW - 86400 + 600, end=NOW - 600, seed=seed)


def source_faults(seed: int) -> FaultPlan:
    faults = FaultPlan(seed=seed)
    # (A simulated 429 makes the source pace itself for the rest of the cycle, which
    # costs seconds here; the source's own tests cover it.)
    for kind in ("server_error", "drop"):
        faults.schedule(kind)
    return faults


async def collect(tmp_path: Path, sims: list[Simulator], sinks: dict[str, Any]) -> Collector:
    sources = {
        f"src{i}": {
            "type": "mimecast_ttp_url",
            "base_url": sim.base_url,
            "client_id": sim.config.client_id,
            "client_secret": sim.config.client_secret,
            "initial_lookback_secs": 86400,
        }
        for i, sim in enumerate(sims)
    }
    config = parse_config(
        {"state_dir": str(tmp_path / "state"), "sources": sources, "sinks": sinks}
    )
    collector = Collector(config)
    async with collector:
        results = await run_once(collector, asyncio.Event())
    assert all(error is None for error in results.values()), results
    return collector


def dead_letters(tmp_path: Path, sink: str) -> list[Any]:
    files = (tmp_path / "state" / "dead-letter" / sink).glob("*.ndjson")
    return [
        orjson.loads(line)["event"] for path in files for line in path.read_bytes().splitlines()
    ]


async def test_splunk_hec_without_acks(tmp_path: Path, hec: Any) -> None:
    dataset = backlog(3000, seed=11)
    emulator = await hec()
    emulator.fail_next(Fault("status", status=503, code=9, text="Server is busy"), count=2)
    emulator.fail_next(Fault("drop"))
    emulator.fail_next(Fault("invalid", status=400, code=6, text="Invalid data format", at=3))
    emulator.fail_next(
        Fault("status", status=429, code=None, text="Too Many Requests", retry_after="0")
    )
    async with Simulator(SimulatorConfig(), dataset, source_faults(1)) as sim:
        sink = {"type": "splunk_hec", "endpoint": emulator.url, "token": emulator.token, **FAST}
        collector = await collect(tmp_path, [sim], {"splunk": sink})
    stored = [obj["event"] for obj in emulator.stored]
    refused = dead_letters(tmp_path, "splunk")
    assert len(refused) == 1
    assert missing_and_doubled(stored + refused, dataset.truth()) == (0, 0)
    assert collector.sinks["splunk"].stats.dead_lettered == 1
    assert sim.stats.outcomes["server_error"] == 1  # the source side really failed too


async def test_splunk_hec_with_acks_resends_after_an_ack_timeout(tmp_path: Path, hec: Any) -> None:
    dataset = backlog(3000, seed=12)
    emulator = await hec(use_ack=True, ack_delay_secs=0.01, indexers=2)
    emulator.hold_ack_ids = {2}  # the third request is never acknowledged
    emulator.fail_next(Fault("status", status=503, code=9, text="Server is busy"))
    async with Simulator(SimulatorConfig(), dataset, source_faults(2)) as sim:
        sink = {
            "type": "splunk_hec",
            "endpoint": emulator.url,
            "token": emulator.token,
            "acknowledgements": True,
            "ack_poll_interval_secs": 0.02,
            "ack_timeout_secs": 0.5,
            "retry_max_secs": 10,
            **FAST,
        }
        collector = await collect(tmp_path, [sim], {"splunk": sink})
    assert collector.sinks["splunk"].stats.resent == 1
    stored = [obj["event"] for obj in emulator.stored]
    missing, doubled = missing_and_doubled(stored, dataset.truth())
    # Nothing lost; the one unacknowledged batch is there twice: HEC's duplicate
    # window, with the event ids to drop it at search time.
    [held] = emulator.held_batches
    assert (missing, doubled) == (0, len(held))
    ids = Counter(emulator.event_ids())
    assert sorted(i for i, n in ids.items() if n == 2) == sorted(held)


@pytest.mark.parametrize("answer_form", ["filtered", "whole", "pretty"])
async def test_elasticsearch_exactly_once_despite_faults_on_both_sides(
    tmp_path: Path, bulk: Any, answer_form: str
) -> None:
    """Whatever form the bulk answers take (the sink reads a compact ``errors:false``
    from its first bytes and parses anything else item by item)."""
    dataset = backlog(3000, seed=13)
    emulator = await bulk(answer_form=answer_form)
    emulator.drop_after_store = 1  # a page stored but its answer lost: re-sent, 409s
    emulator.fail_next(json_response(503, es_error(503, "unavailable_shards_exception", "x")))
    refused_once: set[str] = set()
    original = emulator._store

    def flaky(op: str, index: str, doc_id: str, source: Any, require: bool) -> Any:
        # Every 97th document: one 429 first; every 499th: a permanent mapping error.
        digest = int(doc_id[:8], 16)
        if digest % 499 == 0:
            error = {"type": "mapper_parsing_exception", "reason": "failed to parse [url]"}
            return {op: {"_index": index, "_id": doc_id, "status": 400, "error": error}}
        if digest % 97 == 0 and doc_id not in refused_once:
            refused_once.add(doc_id)
            error = {"type": "es_rejected_execution_exception", "reason": "queue full"}
            return {op: {"_index": index, "_id": doc_id, "status": 429, "error": error}}
        return original(op, index, doc_id, source, require)

    emulator._store = flaky
    async with Simulator(SimulatorConfig(), dataset, source_faults(3)) as sim:
        sink = {
            "type": "elasticsearch",
            "endpoint": emulator.url,
            "api_key": emulator.api_key,
            "format": "raw",
            **FAST,
        }
        collector = await collect(tmp_path, [sim], {"elastic": sink})
    stored = [
        {k: v for k, v in doc.items() if k != "@timestamp"}
        for doc in emulator.stored("logs-mimecast.ttp_url-default").values()
    ]
    refused = dead_letters(tmp_path, "elastic")
    assert refused and refused_once
    assert missing_and_doubled(stored + refused, dataset.truth()) == (0, 0)
    assert (
        collector.sinks["elastic"].stats.already_stored > 0
    )  # the lost answer's page came back as 409s
    assert collector.sinks["elastic"].stats.dead_lettered == len(refused)


async def test_two_sources_send_to_one_elasticsearch_sink_at_once(
    tmp_path: Path, bulk: Any
) -> None:
    first, second = backlog(1500, seed=14), backlog(1500, seed=15)
    emulator = await bulk()
    async with (
        Simulator(SimulatorConfig(latency_secs=0.005), first) as one,
        Simulator(SimulatorConfig(latency_secs=0.005), second) as two,
    ):
        sink = {
            "type": "elasticsearch",
            "endpoint": emulator.url,
            "api_key": emulator.api_key,
            **FAST,
        }
        await collect(tmp_path, [one, two], {"elastic": sink})
    docs = emulator.stored("logs-mimecast.ttp_url-default").values()
    assert len(docs) == 3000
    urls = sorted(doc["url"]["original"] for doc in docs)
    assert urls == sorted(click["url"] for click in first.truth() + second.truth())
    # Requests of the two sources overlapped in time: send really ran concurrently.
    assert emulator.server.connections_accepted >= 2


async def test_generic_http_receiver(tmp_path: Path, receiver: Any) -> None:
    dataset = backlog(3000, seed=16)
    target = await receiver()
    target.answer_next(Response(503, b"warming up", "text/plain"))
    target.answer_next(dropped())
    async with Simulator(SimulatorConfig(), dataset, source_faults(4)) as sim:
        sink = {
            "type": "http",
            "endpoint": target.url + "/ingest",
            "format": "envelope",
            "compression": "gzip",
            **FAST,
        }
        await collect(tmp_path, [sim], {"webhook": sink})
    assert missing_and_doubled([e["log"] for e in target.events], dataset.truth()) == (0, 0)
    assert [r.status for r in target.requests[:3]] == [503, None, 200]
