"""The production commands never load the simulator; ``simulate`` still has every option.

``health`` runs every 30 s as the container's HEALTHCHECK: importing the simulator
there cost start-up time for nothing, and put test code in the production import
graph. Each check runs in a fresh interpreter, since this test process has long
imported the simulator itself.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson

from collector.simulator import ClickDataset, SimulatorConfig, SimulatorThread

from .conftest import cli, settings, write_toml

NOW = int(time.time())


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this one imported the simulator long ago)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


# Runs the commands in-process (collector.cli.main, as the console script does), then
# says which simulator modules got loaded along the way.
PROBE = """
import sys
import orjson
from collector.cli import build_parser, main
import collector.app, collector.commands, collector.daemon, collector.metrics, collector.probe

config = sys.argv[1]
for command in ("run", "once", "check", "health"):
    build_parser().parse_args([command, "-c", config])
codes = {command: main([command, "-c", config]) for command in ("check", "once", "health")}
codes["checkpoint show"] = main(["checkpoint", "show", "-c", config])
loaded = sorted(name for name in sys.modules if name.startswith("collector.simulator"))
# The simulator's hand-written HTTP server, wherever it lives: /metrics is not served by it.
servers = ("httpserver", "httpmessages", "httplimits")
http = sorted(name for name in sys.modules if name.rpartition(".")[2] in servers)
print(orjson.dumps({"codes": codes, "loaded": loaded, "http": http}).decode())
"""


def test_run_once_check_and_health_never_import_the_simulator(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(50, start=NOW - 3600, end=NOW - 120, seed=41)
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
        done = python(PROBE, str(config))
    assert done.returncode == 0, done.stderr[-2000:]
    report = orjson.loads(done.stdout.splitlines()[-1])
    # The commands really ran (health: not ready, since `run` is not running).
    assert report["codes"] == {"check": 0, "once": 0, "health": 1, "checkpoint show": 0}
    assert report["loaded"] == []
    assert report["http"] == []


def test_simulate_gets_its_options_when_used() -> None:
    probe = (
        "import sys\n"
        "from collector.cli import build_parser\n"
        "parser = build_parser()\n"
        "before = 'collector.simulator' in sys.modules\n"
        "args = parser.parse_args(['simulate', '--port', '0', '--fault', 'drop=0.5'])\n"
        "print(before, args.port, args.fault)\n"
    )
    assert python(probe).stdout.split() == ["False", "0", "[('drop',", "0.5)]"]


def test_simulate_usage_errors_and_completion_still_know_the_options() -> None:
    bad = cli("simulate", "--fault", "nope=1", timeout=60)
    assert bad.returncode == 2
    assert "--fault" in bad.stderr and "unknown fault kind 'nope'" in bad.stderr
    assert "[--quirk NAME[=VALUE]]" in bad.stderr  # the usage line lists the options
    script = cli("completion", "bash", timeout=60).stdout
    [simulate] = [line for line in script.splitlines() if line.startswith('    "simulate")')]
    assert "--quirk" in simulate and "--fault" in simulate


def test_health_loads_neither_the_daemon_nor_the_metrics_server(tmp_path: Path) -> None:
    config = write_toml(settings(tmp_path, "http://127.0.0.1:9"), tmp_path / "c.toml")
    probe = (
        "import sys\n"
        "from collector.cli import main\n"
        f"code = main(['health', '-c', {str(config)!r}])\n"
        "heavy = ('collector.simulator', 'collector.daemon', 'collector.metrics', "
        "'collector.app', 'apscheduler', 'prometheus_client')\n"
        "print(code, sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = python(probe)
    # Not ready (nothing is running), and it took only what answering needs.
    assert done.stdout.splitlines()[-1] == "1 []"
