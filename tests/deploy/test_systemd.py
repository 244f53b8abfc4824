"""deploy/systemd: units that systemd accepts, an exposure score <= 2.0, an idempotent installer.

``systemd-analyze verify`` refuses a unit whose ExecStart binary does not exist, and the
real one (/opt/mimecast-collector/bin/mimecast-collector) is not installed on a CI
machine. The trick: verify a temporary copy of each unit whose ExecStart points to a stub
executable in the temp directory; nothing else in the unit changes. ``verify`` exits 0
even on unknown keys or unparsable values (it only warns), so the tests also require its
output to be empty.

``systemd-analyze security --offline=yes UNIT_FILE`` (systemd >= 250; 252 here) scores a
unit file without loading it into a running systemd, so it works in a container.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from pathlib import Path

import pytest

from collector.cli import build_parser
from tests.deploy.support import DEPLOY, find_tool, run

SYSTEMD = DEPLOY / "systemd"
BINARY = "/opt/mimecast-collector/bin/mimecast-collector"
SERVICES = ["mimecast-collector.service", "mimecast-collector-once.service"]
UNITS = [*SERVICES, "mimecast-collector-once.timer"]
MAX_EXPOSURE = 2.0
SYSTEMD_HINT = "Debian package systemd (systemd-analyze)"
_EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value given (systemd allows repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def stub_copies(directory: Path) -> dict[str, Path]:
    """Copies of every unit in ``directory``, their ExecStart pointing to a stub."""
    stub = directory / "mimecast-collector"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copies = {}
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text()
        copies[unit] = directory / unit
        copies[unit].write_text(text.replace(BINARY, str(stub)))
    return copies


def verify(*paths: Path) -> str:
    tool = find_tool("systemd-analyze", SYSTEMD_HINT)
    result = run([tool, "verify", *map(str, paths)])
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 or output, "verify failed without saying why"
    return output if result.returncode == 0 else output or f"exit {result.returncode}"


def exposure(path: Path) -> float:
    tool = find_tool("systemd-analyze", SYSTEMD_HINT)
    result = run([tool, "security", "--offline=yes", "--no-pager", str(path)])
    match = _EXPOSURE.search(result.stdout)
    assert match, f"no exposure level in:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1))


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    copies = stub_copies(tmp_path)
    # The timer is verified together with the service it starts.
    paths = [copies[unit]]
    if unit.endswith(".timer"):
        paths.append(copies["mimecast-collector-once.service"])
    assert verify(*paths) == ""


def test_every_execstart_is_the_venv_binary() -> None:
    """The stub trick only works if this is the one path the units execute."""
    for unit in SERVICES:
        (exec_start,) = parse_unit(SYSTEMD / unit)["Service"]["ExecStart"]
        assert shlex.split(exec_start)[0] == BINARY


def test_verify_reports_a_broken_unit(tmp_path: Path) -> None:
    copy = stub_copies(tmp_path)["mimecast-collector.service"]
    copy.write_text(copy.read_text().replace("Type=notify\n", "Type=notifyy\nRestartt=no\n"))
    output = verify(copy)
    assert "notifyy" in output
    assert "Restartt" in output


def test_verify_needs_the_stub(tmp_path: Path) -> None:
    if Path(BINARY).exists():
        pytest.skip(f"{BINARY} is installed on this machine")
    copy = tmp_path / "mimecast-collector.service"
    copy.write_text((SYSTEMD / "mimecast-collector.service").read_text())
    assert "is not executable" in verify(copy)


@pytest.mark.parametrize("unit", SERVICES)
def test_exposure_level_at_most_2(unit: str) -> None:
    score = exposure(SYSTEMD / unit)
    assert score <= MAX_EXPOSURE, f"{unit}: exposure {score} > {MAX_EXPOSURE}"


def test_exposure_of_an_unhardened_unit_is_above_the_limit(tmp_path: Path) -> None:
    """The check can fail: the same ExecStart without the hardening scores far worse."""
    bare = tmp_path / "bare.service"
    bare.write_text(f"[Service]\nType=notify\nExecStart={BINARY} run -c /etc/x.toml\n")
    assert exposure(bare) > MAX_EXPOSURE


def test_both_services_share_one_hardening_block() -> None:
    def block(unit: str) -> str:
        text = (SYSTEMD / unit).read_text()
        start = text.index("# ---- Hardening")
        end = text.find("[Install]")  # the oneshot has no [Install]: the timer starts it
        return text[start : end if end >= 0 else len(text)].strip()

    assert block(SERVICES[0]) == block(SERVICES[1])


def test_daemon_unit_promises() -> None:
    unit = parse_unit(SYSTEMD / "mimecast-collector.service")
    service, section = unit["Service"], unit["Unit"]

    def value(key: str) -> str:
        (single,) = service[key]
        return single

    assert value("Type") == "notify"
    assert value("NotifyAccess") == "main"
    assert value("WatchdogSec")
    assert value("Restart") == "on-failure"
    assert value("RestartPreventExitStatus") == "2"  # config errors do not fix themselves
    assert section["StartLimitIntervalSec"] and section["StartLimitBurst"]
    assert value("DynamicUser") == "yes"
    assert value("StateDirectory") == "mimecast-collector"
    assert value("LogsDirectory") == "mimecast-collector"
    assert value("ConfigurationDirectory") == "mimecast-collector"
    assert value("LoadCredential") == "client_secret:/etc/mimecast-collector/client_secret"
    assert value("CapabilityBoundingSet") == ""
    assert value("AmbientCapabilities") == ""
    assert value("ProtectSystem") == "strict"
    assert value("UMask") == "0077"
    assert value("RestrictAddressFamilies").split() == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert service["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    for flag in (
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "NoNewPrivileges",
        "MemoryDenyWriteExecute",
        "LockPersonality",
        "RestrictRealtime",
        "RestrictNamespaces",
        "RestrictSUIDSGID",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
    ):
        assert value(flag) == "yes", flag
    assert value("ProtectProc") == "invisible"
    assert value("ProcSubset") == "pid"
    # An IP allow-list would break HTTPS to Mimecast's changing cloud addresses (see unit).
    assert "IPAddressDeny" not in service
    # Stop within the collector's 10 s drain plus margin.
    assert value("TimeoutStopSec").endswith("s") and int(value("TimeoutStopSec")[:-1]) >= 10


def test_timer_runs_the_oneshot() -> None:
    timer = parse_unit(SYSTEMD / "mimecast-collector-once.timer")["Timer"]
    assert timer["Unit"] == ["mimecast-collector-once.service"]
    assert timer["OnCalendar"] and timer["Persistent"] == ["true"]
    once = parse_unit(SYSTEMD / "mimecast-collector-once.service")["Service"]
    assert once["Type"] == ["oneshot"]
    # The same dynamic user as the daemon, so both own /var/lib/mimecast-collector.
    daemon = parse_unit(SYSTEMD / "mimecast-collector.service")["Service"]
    assert once["User"] == daemon["User"] == ["mimecast-collector"]
    assert once["StateDirectory"] == daemon["StateDirectory"]


@pytest.mark.parametrize(("unit", "command"), [(SERVICES[0], "run"), (SERVICES[1], "once")])
def test_execstart_is_a_valid_command_line(unit: str, command: str) -> None:
    (exec_start,) = parse_unit(SYSTEMD / unit)["Service"]["ExecStart"]
    args = build_parser().parse_args(shlex.split(exec_start)[1:])
    assert args.command == command
    assert str(args.config) == "/etc/mimecast-collector/collector.toml"


def test_installer_is_idempotent(wheelhouse: Path, tmp_path: Path) -> None:
    (wheel,) = wheelhouse.glob("mimecast_collector-*.whl")
    root = tmp_path / "root"
    env = dict(os.environ, DESTDIR=str(root), PIP_ARGS=f"--no-index --find-links {wheelhouse}")
    env.pop("PYTHONPATH", None)
    script = str(SYSTEMD / "install.sh")

    first = run([script, str(wheel)], env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    etc = root / "etc" / "mimecast-collector"
    assert "created" in first.stdout
    for unit in UNITS:
        assert (root / "etc/systemd/system" / unit).read_bytes() == (SYSTEMD / unit).read_bytes()
    assert (etc / "collector.toml").read_bytes() == (SYSTEMD / "collector.toml").read_bytes()
    assert stat.S_IMODE((etc / "client_secret").stat().st_mode) == 0o600

    # A second run keeps what the operator wrote and still leaves a working install.
    (etc / "collector.toml").write_text("# edited by the operator\n")
    (etc / "client_secret").write_text("s3cret")
    second = run([script, str(wheel)], env=env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (etc / "collector.toml").read_text() == "# edited by the operator\n"
    assert (etc / "client_secret").read_text() == "s3cret"
    assert "kept" in second.stdout
    binary = root / BINARY.lstrip("/")
    version = run([str(binary), "--version"])
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("mimecast-collector ")


def test_installer_refuses_a_second_argument(tmp_path: Path) -> None:
    result = run(
        [str(SYSTEMD / "install.sh"), "a", "b"], env=dict(os.environ, DESTDIR=str(tmp_path))
    )
    assert result.returncode == 2
    assert "usage" in result.stderr
