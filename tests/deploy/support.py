"""Helpers for the deployment-artifact tests (deploy/, Dockerfile).

The external checkers (systemd-analyze, hadolint, kubernetes-validate, kubectl,
shellcheck, docker-compose) are installed by scripts/test. A test whose checker is missing
is skipped on a developer machine, but FAILS under CI (CI=true), so a missing install
step cannot turn the checks into silent skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent


def find_tool(name: str, install_hint: str) -> str:
    """Absolute path of ``name`` (next to this interpreter first, then PATH).

    Skips the test when it is missing, except under CI where it fails instead.
    """
    candidate = VENV_BIN / name
    path = str(candidate) if candidate.exists() else shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed ({install_hint})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a command with captured text output and a timeout; never raises on exit code."""
    return subprocess.run(
        argv, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False
    )


def pip_env() -> dict[str, str]:
    """Environment for pip runs in tests: quiet, no version check, no user site."""
    env = dict(os.environ)
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONNOUSERSITE="1",
    )
    env.pop("PYTHONPATH", None)
    return env
