"""No import cycles in collector/ (scripts/import_cycles.py), and the detector itself."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def detector() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "import_cycles", ROOT / "scripts" / "import_cycles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_collector_has_no_import_cycle(detector: ModuleType) -> None:
    assert detector.cycles(detector.import_graph(ROOT / "collector")) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_type_only_cycle_is_found_and_a_lazy_import_is_not(
    detector: ModuleType, tmp_path: Path
) -> None:
    # The old shape of the syslog sink: the config names its sink for typing only.
    package = write(
        tmp_path,
        {
            "__init__.py": "",
            "config.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.sink import Sink\n",
            "sink.py": "from pkg.config import Config\nfrom . import helper\n",
            "helper.py": "from .config import Config\n",
            "lazy.py": "def build():\n    from pkg.lazy_user import User\n",
            "lazy_user.py": "import pkg.lazy\n",
        },
    )
    graph = detector.import_graph(package)
    assert graph["pkg.sink"] == {"pkg.config", "pkg.helper"}
    assert graph["pkg.helper"] == {"pkg.config"}
    assert graph["pkg.lazy"] == set()
    assert detector.cycles(graph) == [["pkg.config", "pkg.helper", "pkg.sink"]]


def test_the_script_exits_1_on_a_cycle_and_names_it(tmp_path: Path) -> None:
    package = write(
        tmp_path, {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "import pkg.a\n"}
    )
    script = ROOT / "scripts" / "import_cycles.py"
    failed = subprocess.run(
        [sys.executable, str(script), str(package)], capture_output=True, text=True, check=False
    )
    assert (failed.returncode, failed.stdout) == (1, "cycle: pkg.a <-> pkg.b\n")


@pytest.mark.parametrize(
    "first", ["collector.sinks.syslog.config", "collector.sinks.syslog.sink", "collector.config"]
)
def test_the_syslog_modules_import_alone_in_a_fresh_interpreter(first: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {first}"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
