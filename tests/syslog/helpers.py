"""Shared helpers: events, sinks built from config, and the whole pipeline on a simulator."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from collector.app import Collector
from collector.config import parse_config
from collector.daemon import run_once
from collector.events import Event
from collector.simulator import ClickDataset, Simulator
from collector.sinks import Sink, SinkContext
from collector.sinks.syslog import SyslogSink, SyslogSinkConfig
from collector.stats import SinkStats, SourceStats

T0 = 1_731_862_950  # 2024-11-17T17:02:30Z
SINK = "siem"
SOURCE = "url_clicks"


def click(n: int = 0, **fields: Any) -> dict[str, Any]:
    """A Mimecast-shaped click; ``fields`` override or add keys."""
    data: dict[str, Any] = {
        "userEmailAddress": f"user{n}@corp.example",
        "fromUserEmailAddress": "billing@vendor.example",
        "url": f"https://site.example/path?x={n}&cid=abc",
        "ttpDefinition": "Default Inbound URL Protect Definition",
        "subject": "Réunion | budget = 42 \\ draft",
        "action": "allow",
        "scanResult": "clean",
        "category": "Business",
        "sendingIp": "198.51.100.7",
        "userAwarenessAction": "N/A",
        "date": "2024-11-17T17:02:30+0000",
        "route": "inbound",
        "messageId": f"<{n}@mail.vendor.example>",
    }
    data.update(fields)
    return data


def event(n: int = 0, *, source: str = SOURCE, **fields: Any) -> Event:
    """An event holding :func:`click` ``(n, **fields)``."""
    return Event(source=source, event_id=f"{n:032x}-0", time=T0 + n, data=click(n, **fields))


def sink_options(daemon_port: int, mode: str, app: str, **options: Any) -> dict[str, Any]:
    """The ``[sinks.siem]`` table for a receiver on 127.0.0.1."""
    table: dict[str, Any] = {
        "type": "syslog",
        "address": f"127.0.0.1:{daemon_port}",
        "mode": mode,
        "app_name": app,
        "hostname": "collector.test",
        "connect_timeout_secs": 5,
        "write_timeout_secs": 10,
    }
    table.update(options)
    return table


def build_sink(options: dict[str, Any], tmp_path: Path) -> tuple[SyslogSink, SinkStats]:
    """A sink (not started) from a ``[sinks.x]`` table, with its stats."""
    context = SinkContext(state_dir=tmp_path)
    sink = SyslogSinkConfig.model_validate(options).build(SINK, context)
    return sink, context.stats


def payloads(clicks: list[dict[str, Any]], kind: str = "url") -> Counter[bytes]:
    """The multiset of compact-JSON click logs with their kind: what ``format = "json"``
    must deliver."""
    return Counter(orjson.dumps({**c, "mimecast": {"kind": kind}}) for c in clicks)


def dataset(count: int, seed: int) -> ClickDataset:
    """``count`` simulator clicks dated in the last hour (byte-identical copies included)."""
    now = int(time.time())
    return ClickDataset.generate(count, start=now - 3600, end=now - 300, seed=seed)


@dataclass
class PipelineRun:
    """What one ``run_once`` did."""

    error: BaseException | None
    source: SourceStats
    sink: SinkStats
    seconds: float


async def run_pipeline(
    sim: Simulator,
    sinks: dict[str, dict[str, Any]],
    state_dir: Path,
    *,
    page_size: int = 500,
    wrap: Callable[[Sink], Sink] | None = None,
) -> PipelineRun:
    """Config dict -> parse_config -> Collector -> run_once, against ``sim``.

    ``wrap`` may replace the first sink with a wrapper around it (to act between pages).
    """
    config = parse_config(
        {
            "state_dir": str(state_dir),
            "sources": {
                SOURCE: {
                    "type": "mimecast_ttp_url",
                    "base_url": sim.base_url,
                    "client_id": sim.config.client_id,
                    "client_secret": sim.config.client_secret,
                    "initial_lookback_secs": 7200,
                    "page_size": page_size,
                }
            },
            "sinks": sinks,
        }
    )
    async with Collector(config) as collector:
        first = next(iter(collector.sinks.values()))
        if wrap is not None:
            first.sink = wrap(first.sink)
        started = time.perf_counter()
        results = await asyncio.wait_for(run_once(collector, asyncio.Event()), timeout=120)
        seconds = time.perf_counter() - started
        return PipelineRun(results[SOURCE], collector.runners[SOURCE].stats, first.stats, seconds)
