"""Fixtures for the deployment-artifact tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.deploy.dockerignore import copy_build_context
from tests.deploy.support import REPO, pip_env, run


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's build stage: ``pip wheel --wheel-dir W .`` run on the Docker context.

    The context is the repository filtered through .dockerignore (see dockerignore.py),
    so a file the build needs but .dockerignore leaves out breaks this fixture, as it
    would break ``docker build``.
    """
    root = tmp_path_factory.mktemp("docker-build")
    context = root / "context"
    copy_build_context(REPO, context)
    wheels = root / "wheels"
    result = run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), "."],
        cwd=context,
        env=pip_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return wheels
