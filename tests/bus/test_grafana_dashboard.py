"""deploy/grafana's dashboard queries only metrics and labels a running collector serves.

The real daemon runs with ``[metrics]`` against the simulator (with a 429, a 5xx and a
sink that fails, so every family has samples); /metrics is scraped and every metric
name and label the dashboard's queries, legends and variables use is looked up there.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from collector.simulator import ClickDataset, FaultPlan, SimulatorConfig, SimulatorThread
from tests.integration.conftest import settings, start_cli, wait_for, write_toml

from .brokers import free_port

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "mimecast-collector.json"
METRIC = re.compile(r"\bmimecast_collector_[a-z_]+\b")
SELECTOR_LABEL = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})? ")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def served_labels(text: str) -> dict[str, set[str]]:
    """Metric name -> its label names, from every sample line of a scrape."""
    labels: dict[str, set[str]] = defaultdict(set)
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            names = re.findall(r'(\w+)="', match.group(2) or "")
            labels[match.group(1)].update(names)
    return labels


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(expression, legend) of every panel target and query variable."""
    found = [
        (target["expr"], target.get("legendFormat", ""))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            metric, label = re.fullmatch(
                r"label_values\((\w+),\s*(\w+)\)", variable["definition"]
            ).groups()
            found.append((f'{metric}{{{label}=""}}', ""))
    return found


def scrape(tmp_path: Path) -> str:
    faults = FaultPlan(seed=9)
    for kind in ("rate_limit", "server_error"):
        faults.schedule(kind)
    dataset = ClickDataset.generate(
        400, start=int(time.time()) - 3600, end=int(time.time()) - 60, seed=9
    )
    with SimulatorThread(SimulatorConfig(), dataset, faults) as sim:
        port = free_port()
        document = settings(tmp_path, sim.base_url, source={"interval_secs": 1})
        document["metrics"] = {"address": f"127.0.0.1:{port}"}
        # A second source feeds a sink whose receiver refuses every page (the simulator
        # answers 404 there; its health check passes), so the error and failed-cycle
        # series have samples while the first source's cycles succeed.
        document["sources"]["failing"] = dict(document["sources"]["clicks"])
        document["sinks"]["out"]["inputs"] = ["clicks"]
        document["sinks"]["refused"] = {
            "inputs": ["failing"],
            "type": "http",
            "endpoint": f"{sim.base_url}/no-such-receiver",
            "retry_max_secs": 0.5,
        }
        config = write_toml(document, tmp_path / "c.toml")
        process = start_cli("run", "-c", str(config), log=tmp_path / "run.log")
        url = f"http://127.0.0.1:{port}/metrics"
        try:

            def failed_once() -> bool:
                try:
                    text = urllib.request.urlopen(url, timeout=2).read().decode()
                except OSError:
                    return False
                failed = r'cycles_total\{result="failed",source="failing"\} [1-9]'
                return (
                    "mimecast_collector_sink_errors_total{" in text
                    and 'checkpoint_lag_seconds{source="clicks"}' in text
                    and 'last_success_timestamp_seconds{source="clicks"}' in text
                    and re.search(failed, text) is not None
                )

            wait_for(failed_once, 30, "a failed cycle in /metrics")
            return str(urllib.request.urlopen(url, timeout=5).read().decode())
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_dashboard_queries_only_served_metrics_and_labels(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    served = served_labels(scrape(tmp_path))
    used_metrics: set[str] = set()
    for expr, legend in queries(dashboard):
        metrics = METRIC.findall(expr)
        assert metrics, f"no collector metric in {expr!r}"
        labels = set(SELECTOR_LABEL.findall(expr)) | set(LEGEND_LABEL.findall(legend))
        for group in GROUPING.findall(expr):
            labels |= {name.strip() for name in group.split(",") if name.strip()}
        available: set[str] = set()
        for metric in metrics:
            assert metric in served, f"{metric} (in {expr!r}) is not served by /metrics"
            available |= served[metric] | ({"le"} if metric.endswith("_bucket") else set())
            used_metrics.add(metric.removesuffix("_bucket"))
        assert labels <= available, f"{expr!r} uses labels {labels - available} not served"
    # What the issue asks the dashboard to show is there.
    for needed in (
        "checkpoint_lag_seconds",
        "cursor_lag_seconds",
        "events_total",
        "sink_events_total",
        "requests_total",
        "retries_total",
        "rate_limited_total",
        "cycles_total",
        "sink_errors_total",
        "sink_dead_lettered_total",
        "sink_send_duration_seconds",
        "backpressure_closures_total",
        "backpressure_wait_seconds_total",
    ):
        assert f"mimecast_collector_{needed}" in used_metrics, needed
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
