"""One engine, described per endpoint (issue 12): an endpoint known only to this test,
shared credentials, per-endpoint filters and permissions."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.app import Collector
from collector.daemon import run_once
from collector.delivery import SinkHandle
from collector.errors import AuthError, ConfigError
from collector.events import format_mimecast_date
from collector.pipeline import SourceRunner
from collector.retry import RetryPolicy
from collector.simulator.httpserver import Response
from collector.sinks import SinkContext
from collector.sinks.file import FileSinkConfig
from collector.source import EndpointFacts
from collector.sources.mimecast.client import MimecastClient
from collector.sources.mimecast.endpoints import RETENTION_SECS, Endpoint
from collector.stats import SourceStats
from collector.store import CheckpointStore

from .conftest import multiset, parse, read_lines, settings
from .hostile_mimecast import Call, ScriptedMimecast

DLP = Endpoint(
    source_type="mimecast_dlp",
    path="/api/dlp/get-logs",
    data_key="dlpLogs",
    facts=EndpointFacts(kind="dlp", retention_secs=RETENTION_SECS, date_field="eventTime"),
    filters=lambda config: {"action": "all"},
    permission="Monitoring | Data Leak Prevention | Read",
    noun="DLP log",
)


def dlp_log(epoch: int, n: int) -> dict[str, Any]:
    return {
        "eventTime": format_mimecast_date(epoch),
        "policy": "Block credit card numbers",
        "action": "block",
        "senderAddress": f"user{n}@corp.example",
    }


async def test_a_fourth_endpoint_needs_only_its_description(tmp_path: Path) -> None:
    """No change to the pipeline, dedup or checkpoint code: a DLP endpoint described
    here only is read page by page, deduplicated by its own date field, and delivered."""
    now = int(time.time())
    logs = [dlp_log(now - 300 + i, i) for i in range(5)] + [dlp_log(now - 296, 4)]  # a twin
    pages = {None: (logs[:3], "p2"), "p2": (logs[3:], None)}

    def serve(call: Call) -> Response:
        assert call.query["action"] == "all" and "route" not in call.query
        records, next_token = pages[call.token]
        pagination: dict[str, Any] = {"pageSize": len(records)}
        if next_token:
            pagination["next"] = next_token
        body = {"meta": {"status": 200, "pagination": pagination}, "data": [{"dlpLogs": records}]}
        return Response(200, orjson.dumps({**body, "fail": []}))

    async with ScriptedMimecast(serve) as api:
        config = parse(settings(tmp_path, api.url, source={"initial_lookback_secs": 3600}))
        source_config = config.sources["clicks"]
        stats = SourceStats()
        source = MimecastClient("dlp", source_config, stats=stats, endpoint=DLP)
        out = tmp_path / "dlp.ndjson"
        sink = FileSinkConfig(type="file", path=out, format="envelope").build(
            "out", SinkContext(state_dir=tmp_path)
        )
        await sink.start()
        store = CheckpointStore(tmp_path / "state", "dlp")
        handle = SinkHandle("out", sink, RetryPolicy(max_secs=5))
        runner = SourceRunner(source, source_config, [handle], store, stats=stats)
        try:
            outcome = await runner.run_cycle()
        finally:
            await sink.aclose()
            await source.aclose()
    assert outcome.caught_up and outcome.events == 6
    assert [call.token for call in api.calls] == [None, "p2"]
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert multiset(line["log"] for line in written) == multiset(logs)
    assert {line["kind"] for line in written} == {"dlp"}
    assert len({line["event_id"] for line in written}) == 6  # the twins stay two events
    saved = store.load()
    assert saved is not None and saved.cursor is not None and saved.delivered


def test_filters_belong_to_their_endpoint(tmp_path: Path) -> None:
    base = settings(tmp_path, "http://127.0.0.1:9")
    clicks = base["sources"]["clicks"]
    for misplaced, kind in (("result", "url"), ("tagged_malicious", "url"), ("scan_result", None)):
        document = settings(tmp_path, "http://127.0.0.1:9")
        source = document["sources"]["clicks"]
        if kind is None:
            source["type"] = "mimecast_ttp_impersonation"
        source[misplaced] = "all" if misplaced != "tagged_malicious" else True
        with pytest.raises(ConfigError, match=rf"sources\.clicks\.{misplaced}: only for type"):
            parse(document)
    assert clicks["type"] == "mimecast_ttp_url"


def shared(tmp_path: Path, url: str, **reference: Any) -> dict[str, Any]:
    document = settings(tmp_path, url)
    document["sources"]["attachments"] = {
        "type": "mimecast_ttp_attachment",
        "credentials": "clicks",
        "initial_lookback_secs": 3600,
        "lag_secs": 0,
        "retry_max_secs": 8,
        **reference,
    }
    return document


def test_credentials_are_taken_from_the_named_source(tmp_path: Path) -> None:
    config = parse(shared(tmp_path, "http://127.0.0.1:9"))
    taken, own = config.sources["attachments"], config.sources["clicks"]
    assert (taken.base_url, taken.client_id) == (own.base_url, own.client_id)
    assert taken.client_secret is not None and own.client_secret is not None
    assert taken.client_secret.get_secret_value() == own.client_secret.get_secret_value()
    with pytest.raises(ConfigError, match=r"sources\.attachments\.client_id: not allowed with"):
        parse(shared(tmp_path, "http://127.0.0.1:9", client_id="other"))
    bad = shared(tmp_path, "http://127.0.0.1:9")
    bad["sources"]["attachments"]["credentials"] = "nope"
    with pytest.raises(ConfigError, match=r"credentials: no other source named 'nope'"):
        parse(bad)


async def test_a_missing_permission_fails_that_source_only_and_names_it(tmp_path: Path) -> None:
    now = int(time.time())
    click = {"url": "https://x.example/", "date": format_mimecast_date(now - 100)}

    def serve(call: Call) -> Response:
        if "attachment" in str(call.query) or "result" in call.query:
            failure = {"errors": [{"code": "err_xdk_forbidden", "message": "Forbidden"}]}
            body = {"meta": {"status": 403}, "data": [], "fail": [failure]}
            return Response(403, orjson.dumps(body))
        body = {"meta": {"status": 200, "pagination": {"pageSize": 1}}, "fail": []}
        return Response(200, orjson.dumps({**body, "data": [{"clickLogs": [click]}]}))

    async with ScriptedMimecast(serve) as api:
        document = shared(tmp_path, api.url)
        document["sources"]["clicks"]["initial_lookback_secs"] = 3600
        async with Collector(parse(document)) as collector:
            results = await run_once(collector, asyncio.Event())
            gates = collector.gates()
    assert results["clicks"] is None
    error = results["attachments"]
    assert isinstance(error, AuthError)
    assert "Monitoring | Attachment Protection | Read" in str(error)
    assert "/api/ttp/attachment/get-logs" in str(error)
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset([click])
    # Two sources, one credential: one gate.
    assert [name for name in gates if name.startswith("mimecast/")] == ["mimecast/clicks"]
