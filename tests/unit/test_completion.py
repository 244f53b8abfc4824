"""Shell completion generated from the parser, exercised in a real bash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def complete(script: Path, *words: str) -> list[str]:
    driver = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); "
        "COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _mimecast_collector; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "mimecast-collector.bash"
    done = subprocess.run(
        [sys.executable, "-m", "collector", "completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    )
    path.write_text(done.stdout)
    return path


def test_commands(script: Path) -> None:
    assert {"run", "once", "check", "health", "checkpoint", "demo", "simulate"} <= set(
        complete(script, "mimecast-collector", "")
    )
    assert complete(script, "mimecast-collector", "che") == ["check", "checkpoint"]


def test_sub_commands_and_options(script: Path) -> None:
    assert complete(script, "mimecast-collector", "checkpoint", "") == [
        "reset",
        "show",
        "-h",
        "--help",
    ]
    assert set(complete(script, "mimecast-collector", "checkpoint", "reset", "--")) == {
        "--help",
        "--config",
        "--source",
        "--from",
    }


def test_option_values_are_not_commands(script: Path, tmp_path: Path) -> None:
    (tmp_path / "collector.toml").write_text("")
    assert complete(script, "mimecast-collector", "once", "-c", str(tmp_path / "coll")) == [
        str(tmp_path / "collector.toml")
    ]
    assert complete(script, "mimecast-collector", "once", "-c", "x.toml", "--") == [
        "--help",
        "--config",
    ]


def test_zsh_script_uses_bashcompinit() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector", "completion", "zsh"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("autoload -U +X bashcompinit && bashcompinit\n")
    assert "complete -F _mimecast_collector mimecast-collector" in done.stdout
