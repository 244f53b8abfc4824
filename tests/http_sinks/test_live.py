"""The end-to-end tests against a real Splunk and a real Elasticsearch/OpenSearch.

Skipped unless the receivers are named in the environment; docs/http-sinks.md
("Live tests") has the commands for the stack in deploy/compose::

    SPLUNK_HEC_URL=https://127.0.0.1:8088 SPLUNK_HEC_TOKEN=... SPLUNK_HEC_ACK=1 \\
    ES_URL=https://127.0.0.1:9200 ES_API_KEY=... LIVE_CA_FILE=.../ca.crt \\
    .venv/bin/pytest -m live tests/http_sinks

Optional: SPLUNK_HEC_ACK=1 (the token has indexer acknowledgement on),
SPLUNK_HEC_INDEX, SPLUNK_CA_FILE / ES_CA_FILE (or LIVE_CA_FILE for both);
SPLUNK_URL + SPLUNK_USERNAME + SPLUNK_PASSWORD to count the events back with a search;
ES_USERNAME + ES_PASSWORD (a user that may read and delete) to count the documents and
delete the test data stream; ES_MODE=index for OpenSearch (no built-in ``logs-*-*``
data stream template).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.simulator import Simulator, SimulatorConfig

from .test_end_to_end import backlog, collect

pytestmark = pytest.mark.live
ENV = os.environ
CLICKS = 2000


@pytest.mark.skipif(
    not (ENV.get("SPLUNK_HEC_URL") and ENV.get("SPLUNK_HEC_TOKEN")),
    reason="set SPLUNK_HEC_URL and SPLUNK_HEC_TOKEN to run against a real Splunk",
)
async def test_live_splunk_hec(tmp_path: Path) -> None:
    dataset = backlog(CLICKS, seed=21)
    source = f"mimecast-collector-live-{uuid.uuid4().hex[:12]}"  # counts only this run
    sink: dict[str, Any] = {
        "type": "splunk_hec",
        "endpoint": ENV["SPLUNK_HEC_URL"],
        "token": ENV["SPLUNK_HEC_TOKEN"],
        "source": source,
        "acknowledgements": ENV.get("SPLUNK_HEC_ACK") == "1",
        "ack_timeout_secs": 120,
        "retry_max_secs": 300,
    }
    if ENV.get("SPLUNK_HEC_INDEX"):
        sink["index"] = ENV["SPLUNK_HEC_INDEX"]
    if _ca("SPLUNK_CA_FILE"):
        sink["ca_file"] = _ca("SPLUNK_CA_FILE")
    async with Simulator(SimulatorConfig(), dataset) as sim:
        collector = await collect(tmp_path, [sim], {"splunk": sink})
    handle = collector.sinks["splunk"]
    assert handle.stats.dead_lettered == 0
    assert handle.stats.events == CLICKS
    if ENV.get("SPLUNK_URL") and ENV.get("SPLUNK_PASSWORD"):
        assert await _splunk_count(source, sink.get("index")) == CLICKS


async def _splunk_count(source: str, index: str | None) -> int:
    search = f'search index={index or "*"} source="{source}" | stats count'
    auth = (ENV.get("SPLUNK_USERNAME", "admin"), ENV["SPLUNK_PASSWORD"])
    verify: Any = _ca("SPLUNK_CA_FILE") or True
    count = -1
    async with httpx.AsyncClient(auth=auth, verify=verify, timeout=60) as client:
        for _ in range(60):  # indexing is asynchronous: wait until the count settles
            answer = await client.post(
                ENV["SPLUNK_URL"] + "/services/search/jobs/export",
                data={"search": search, "output_mode": "json"},
            )
            for line in answer.text.splitlines():
                if '"count"' in line:
                    count = int(orjson.loads(line)["result"]["count"])
            if count == CLICKS:
                break
            await asyncio.sleep(2)
    return count


@pytest.mark.skipif(
    not (ENV.get("ES_URL") and ENV.get("ES_API_KEY")),
    reason="set ES_URL and ES_API_KEY to run against a real Elasticsearch or OpenSearch",
)
async def test_live_elasticsearch(tmp_path: Path) -> None:
    dataset = backlog(CLICKS, seed=22)
    mode = ENV.get("ES_MODE", "data_stream")
    # Inside logs-mimecast.ttp_url-*, where deploy/compose's least-privilege key may write.
    name = f"logs-mimecast.ttp_url-live{uuid.uuid4().hex[:8]}"
    sink: dict[str, Any] = {
        "type": "elasticsearch",
        "endpoint": ENV["ES_URL"],
        "api_key": ENV["ES_API_KEY"],
        "mode": mode,
        "index": name,
    }
    if _ca("ES_CA_FILE"):
        sink["ca_file"] = _ca("ES_CA_FILE")
    async with Simulator(SimulatorConfig(), dataset) as sim:
        first = await collect(tmp_path / "a", [sim], {"elastic": sink})
        # A second collector with fresh state sends everything again. Every document
        # answers 409: each is stored, once (this needs no read privilege).
        second = await collect(tmp_path / "b", [sim], {"elastic": sink})
    assert first.sinks["elastic"].stats.dead_lettered == 0
    assert first.sinks["elastic"].stats.events == CLICKS
    assert second.sinks["elastic"].stats.already_stored == CLICKS
    if ENV.get("ES_USERNAME") and ENV.get("ES_PASSWORD"):
        auth = (ENV["ES_USERNAME"], ENV["ES_PASSWORD"])
        verify: Any = _ca("ES_CA_FILE") or True
        async with httpx.AsyncClient(
            base_url=ENV["ES_URL"], auth=auth, verify=verify, timeout=60
        ) as es:
            await es.post(f"/{name}/_refresh")
            assert (await es.get(f"/{name}/_count")).json()["count"] == CLICKS
            path = f"/_data_stream/{name}" if mode == "data_stream" else f"/{name}"
            await es.delete(path)


def _ca(variable: str) -> str | None:
    return ENV.get(variable) or ENV.get("LIVE_CA_FILE")
