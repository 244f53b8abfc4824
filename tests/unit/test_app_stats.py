"""The Collector owns every counter; sources, runners, sinks and delivery count into them."""

from __future__ import annotations

from pathlib import Path

from collector.app import Collector
from collector.config import parse_config
from collector.health import snapshot


async def test_the_collector_creates_the_stats_everyone_counts_into(tmp_path: Path) -> None:
    config = parse_config(
        {
            "state_dir": str(tmp_path / "state"),
            "sources": {
                name: {
                    "type": "mimecast_ttp_url",
                    "client_id": "id",
                    "client_secret": "app-stats-client-secret",
                }
                for name in ("a", "b")
            },
            "sinks": {"out": {"type": "file", "path": str(tmp_path / "out.ndjson")}},
        }
    )
    async with Collector(config) as collector:
        assert sorted(collector.source_stats) == ["a", "b"]
        for name, runner in collector.runners.items():
            # One object: what the client counts (requests) and what the runner counts
            # (pages, cycles) land in the books the metrics and readiness read.
            assert runner.stats is collector.source_stats[name]
            assert runner.source.stats is collector.source_stats[name]
        assert collector.source_stats["a"] is not collector.source_stats["b"]
        assert collector.sinks["out"].stats is collector.sink_stats["out"]
        collector.source_stats["a"].last_error = "boom"
        assert snapshot(collector)["a"].last_error == "boom"
        # No interval_secs set: readiness is judged by the polling budget's interval.
        runner = collector.runners["b"]
        assert snapshot(collector)["b"].interval_secs == runner.readiness_interval_secs
