"""Logs read well on a terminal (console lines) and stay JSON everywhere else."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def in_terminal(args: list[str], cwd: Path, **env: str) -> bytes:
    """Run the real command with stdout and stderr on a pseudo-terminal; all it printed."""
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", *args],
        stdout=child,
        stderr=child,
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, **env},
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
    assert process.wait(timeout=60) == 0, output[-2000:]
    return output


@pytest.mark.parametrize("no_color", [False, True], ids=["colours", "NO_COLOR"])
def test_demo_in_a_terminal_prints_console_lines_not_json(tmp_path: Path, no_color: bool) -> None:
    env = {"NO_COLOR": "1"} if no_color else {}
    output = in_terminal(["demo", "--clicks", "600"], tmp_path, **env)
    assert bool(ANSI.search(output)) is not no_color
    lines = ANSI.sub(b"", output).decode().splitlines()
    retries = [line for line in lines if "retrying" in line]
    assert retries, lines  # the demo injects faults: its retries are logged
    for line in retries:
        # "<time> [warning  ] retrying   attempt=1 ... get-logs": one readable line
        assert re.match(r"^\S+ \[warning\s*\] retrying\s+attempt=\d", line), line
        assert "get-logs" in line
    assert not [line for line in lines if line.lstrip().startswith("{")]


def test_demo_in_a_pipe_logs_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector", "demo", "--clicks", "600"],
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    logged = [line for line in done.stderr.decode().splitlines() if line.strip()]
    assert logged and all(line.startswith('{"') for line in logged), logged
