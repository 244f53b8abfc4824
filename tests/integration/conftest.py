"""Helpers for end-to-end tests: the collector against the simulator over 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from collector.app import Collector
from collector.config import CollectorConfig, parse_config
from collector.daemon import run_once

SIM_CLIENT_ID = "sim-client-id"
SIM_CLIENT_SECRET = "sim-client-secret"


def canon(click: object) -> bytes:
    """A click's canonical bytes, so multisets compare content, not key order."""
    return orjson.dumps(click, option=orjson.OPT_SORT_KEYS)


def multiset(clicks: Iterable[object]) -> Counter[bytes]:
    return Counter(canon(click) for click in clicks)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of an NDJSON file set (active file and rotated ones), parsed."""
    lines: list[dict[str, Any]] = []
    for file in sorted(path.parent.glob(path.name + "*")):
        for line in file.read_bytes().splitlines():
            lines.append(orjson.loads(line))
    return lines


def settings(
    tmp_path: Path, base_url: str, *, source: dict[str, Any] | None = None, envelope: bool = False
) -> dict[str, Any]:
    """A config document: one simulator source, one file sink."""
    return {
        "state_dir": str(tmp_path / "state"),
        "log": {"format": "json"},
        "sources": {
            "clicks": {
                "type": "mimecast_ttp_url",
                "base_url": base_url,
                "client_id": SIM_CLIENT_ID,
                "client_secret": SIM_CLIENT_SECRET,
                "initial_lookback_secs": 2 * 86400,
                "lag_secs": 0,
                "overlap_secs": 600,
                "interval_secs": 1,
                "retry_max_secs": 120,
                **(source or {}),
            }
        },
        "sinks": {
            "out": {
                "type": "file",
                "path": str(tmp_path / "out" / "clicks.ndjson"),
                "format": "envelope" if envelope else "raw",
            }
        },
    }


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def write_toml(document: dict[str, Any], path: Path) -> Path:
    """Write a (two-level) config document as TOML, and check it parses back the same."""
    lines = [f"{k} = {toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for section, body in document.items():
        if not isinstance(body, dict):
            continue
        plain = {k: v for k, v in body.items() if not isinstance(v, dict)}
        if plain:
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in plain.items()]
        for name, table in body.items():
            if isinstance(table, dict):
                lines.append(f"\n[{section}.{name}]")
                lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    assert tomllib.loads(path.read_text()) == document
    return path


async def collect_once(config: CollectorConfig) -> dict[str, BaseException | None]:
    """In-process `once`: every source until caught up."""
    async with Collector(config) as collector:
        import asyncio

        return await run_once(collector, asyncio.Event())


def parse(document: dict[str, Any]) -> CollectorConfig:
    return parse_config(document)


def cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `mimecast-collector` command and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def start_cli(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start the real `mimecast-collector` command in the background, stderr to ``log``."""
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "collector", *args], stdout=subprocess.DEVNULL, stderr=handle
        )


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
