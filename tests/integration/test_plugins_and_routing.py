"""Several sources and sinks with `inputs` routing, and a third-party sink via entry point."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import pytest

from collector.app import Collector
from collector.daemon import run_once
from collector.simulator import ClickDataset, Simulator, SimulatorConfig
from collector.sinks.registry import sink_types

from .conftest import SIM_CLIENT_ID, SIM_CLIENT_SECRET, multiset, parse, read_lines

NOW = int(time.time())


def source(base_url: str, **extra: object) -> dict[str, object]:
    return {
        "type": "mimecast_ttp_url",
        "base_url": base_url,
        "client_id": SIM_CLIENT_ID,
        "client_secret": SIM_CLIENT_SECRET,
        "initial_lookback_secs": 86400,
        "lag_secs": 0,
        **extra,
    }


async def test_two_tenants_routed_by_inputs(tmp_path: Path) -> None:
    first = ClickDataset.generate(1_500, start=NOW - 3600, end=NOW - 60, seed=71)
    second = ClickDataset.generate(1_000, start=NOW - 3600, end=NOW - 60, seed=72)
    async with Simulator(SimulatorConfig(), first) as a, Simulator(SimulatorConfig(), second) as b:
        document = {
            "state_dir": str(tmp_path / "state"),
            "sources": {"tenant_a": source(a.base_url), "tenant_b": source(b.base_url)},
            "sinks": {
                "only_a": {
                    "type": "file",
                    "path": str(tmp_path / "a" / "x.ndjson"),
                    "inputs": ["tenant_a"],
                },
                "both": {
                    "type": "file",
                    "path": str(tmp_path / "both" / "x.ndjson"),
                    "format": "envelope",
                },
            },
        }
        async with Collector(parse(document)) as collector:
            assert await run_once(collector, asyncio.Event()) == {
                "tenant_a": None,
                "tenant_b": None,
            }
    assert multiset(read_lines(tmp_path / "a" / "x.ndjson")) == multiset(first.truth())
    both = read_lines(tmp_path / "both" / "x.ndjson")
    by_source = {
        name: [line["log"] for line in both if line["source"] == name]
        for name in ("tenant_a", "tenant_b")
    }
    assert multiset(by_source["tenant_a"]) == multiset(first.truth())
    assert multiset(by_source["tenant_b"]) == multiset(second.truth())
    assert sorted(p.name for p in (tmp_path / "state").glob("*.checkpoint.json")) == [
        "tenant_a.checkpoint.json",
        "tenant_b.checkpoint.json",
    ]


PLUGIN = '''
"""A third-party sink: keeps events in memory, to prove the entry point works."""
from typing import Literal

from collector.events import Batch
from collector.sinks import SinkConfig, SinkContext

RECEIVED = []


class MemorySink:
    def __init__(self, name):
        self.name = name

    async def start(self): pass

    async def send(self, events: Batch):
        RECEIVED.extend(events)

    async def healthcheck(self): pass

    async def aclose(self): pass


class MemorySinkConfig(SinkConfig):
    type: Literal["memory"]
    label: str = "default"

    def build(self, name: str, context: SinkContext) -> MemorySink:
        return MemorySink(name)
'''


async def test_third_party_sink_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "memory_sink_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "memory_sink_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: memory-sink-plugin\nVersion: 1.0\n"
    )
    (site / "memory_sink_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[mimecast_collector.sinks]\nmemory = memory_sink_plugin:MemorySinkConfig\n"
    )
    (site / "memory_sink_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    assert sink_types()["memory"] == "memory_sink_plugin:MemorySinkConfig"
    dataset = ClickDataset.generate(700, start=NOW - 3600, end=NOW - 60, seed=73)
    async with Simulator(SimulatorConfig(), dataset) as sim:
        document = {
            "state_dir": str(tmp_path / "state"),
            "sources": {"clicks": source(sim.base_url)},
            "sinks": {"mem": {"type": "memory", "label": "x"}},
        }
        async with Collector(parse(document)) as collector:
            assert await run_once(collector, asyncio.Event()) == {"clicks": None}
    import memory_sink_plugin  # type: ignore[import-not-found]

    assert multiset(event.data for event in memory_sink_plugin.RECEIVED) == multiset(
        dataset.truth()
    )
    bad = {**document, "sinks": {"mem": {"type": "memory", "lable": "typo"}}}
    with pytest.raises(Exception, match=r"sinks\.mem\.lable: unknown key"):
        parse(bad)
