"""`once` shows a progress bar in a terminal, and plain JSON logs otherwise."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from collector.simulator import ClickDataset, SimulatorConfig, SimulatorThread

from .conftest import settings, write_toml

NOW = int(time.time())


def run_once_with_stderr(config: Path, *, terminal: bool) -> bytes:
    if not terminal:
        done = subprocess.run(
            [sys.executable, "-m", "collector", "once", "-c", str(config)],
            capture_output=True,
            timeout=60,
            check=True,
        )
        return done.stderr
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", "once", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=child,
        env={**os.environ, "COLUMNS": "120"},
    )
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(parent)
    assert process.wait(timeout=60) == 0
    return output


def test_progress_bar_only_in_a_terminal(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(3_000, start=NOW - 86400, end=NOW - 60, seed=41)
    with SimulatorThread(SimulatorConfig(latency_secs=0.05), dataset) as sim:
        document = settings(tmp_path, sim.base_url, source={"page_size": 100})
        del document["log"]
        first = write_toml(document, tmp_path / "a.toml")
        document["state_dir"] = str(tmp_path / "state2")
        document["sinks"]["out"]["path"] = str(tmp_path / "out2" / "clicks.ndjson")
        second = write_toml(document, tmp_path / "b.toml")
        terminal = run_once_with_stderr(first, terminal=True)
        plain = run_once_with_stderr(second, terminal=False)
    assert b"100%" in terminal and b"3,000 clicks" in terminal
    assert "━".encode() in terminal  # the bar itself
    assert b"100%" not in plain and "━".encode() not in plain
    assert plain.startswith(b"{")  # JSON log lines when not a terminal
