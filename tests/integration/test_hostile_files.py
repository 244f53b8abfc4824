"""Hostile files: devices, FIFOs and huge files as config or secret (D16), an unusable
state_dir (D14), and a file sink whose path is a symbolic link (the doubtful item).

The real CLI runs as a subprocess; each case must end in one line naming the key and
the right exit code, never a traceback, a hang or a MemoryError.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.simulator import ClickDataset, SimulatorConfig, SimulatorThread

from .conftest import read_lines, settings, write_toml

NOW = int(time.time())
EXIT_FAILED, EXIT_USAGE = 1, 2


def _limit_memory() -> None:
    # Should a regression read /dev/zero again, it fails fast instead of eating the host.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The real command, with bounded memory and time (a FIFO must not hang it)."""
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=_limit_memory,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    [line] = done.stderr.splitlines()
    return line


def _config(tmp_path: Path, secret_file: Path | None = None) -> Path:
    document = settings(tmp_path, "http://127.0.0.1:1")
    if secret_file is not None:
        source = document["sources"]["clicks"]
        del source["client_secret"]
        source["client_secret_file"] = str(secret_file)
    return write_toml(document, tmp_path / "collector.toml")


# D16: config and secret files


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_a_device_as_config_file_is_a_config_error() -> None:
    done = run_cli("checkpoint", "show", "-c", "/dev/zero")
    assert done.returncode == EXIT_USAGE
    assert (
        _one_line(done) == "config error: config file '/dev/zero' is a device, not a regular file"
    )


def test_a_fifo_or_directory_as_config_file_is_a_config_error(fifo: Path, tmp_path: Path) -> None:
    for path, kind in ((fifo, "a FIFO"), (tmp_path, "a directory")):
        done = run_cli("checkpoint", "show", "-c", str(path))
        assert done.returncode == EXIT_USAGE
        assert (
            _one_line(done) == f"config error: config file '{path}' is {kind}, not a regular file"
        )


def test_a_config_file_over_1_mib_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with config.open("a") as padding:
        padding.write("# padding\n" * 110_000)
    done = run_cli("checkpoint", "show", "-c", str(config))
    assert done.returncode == EXIT_USAGE
    assert _one_line(done).endswith("is larger than the limit of 1 MiB")


@pytest.mark.parametrize("kind", ["device", "FIFO", "directory", "huge"])
def test_a_secret_file_that_is_not_a_small_regular_file_is_a_config_error(
    tmp_path: Path, fifo: Path, kind: str
) -> None:
    huge = tmp_path / "huge"
    huge.write_bytes(b"x" * (64 * 1024 + 1))
    path, reason = {
        "device": (Path("/dev/zero"), "is a device, not a regular file"),
        "FIFO": (fifo, "is a FIFO, not a regular file"),
        "directory": (tmp_path, "is a directory, not a regular file"),
        "huge": (huge, "is larger than the limit of 64 KiB"),
    }[kind]
    config = _config(tmp_path, secret_file=path)
    done = run_cli("checkpoint", "show", "-c", str(config))
    assert done.returncode == EXIT_USAGE
    assert _one_line(done) == (
        f"config error: sources.clicks.client_secret_file: cannot read secret file "
        f"'{path}': {reason}"
    )


def test_a_secret_file_reached_through_symlinks_is_read(tmp_path: Path) -> None:
    # The Kubernetes layout: secret -> ..data/secret, ..data -> ..2024_01_01/
    version = tmp_path / "mount" / "..2024_01_01"
    version.mkdir(parents=True)
    (version / "client_secret").write_text("sim-client-secret\n")
    (tmp_path / "mount" / "..data").symlink_to(version.name)
    (tmp_path / "mount" / "client_secret").symlink_to("..data/client_secret")
    config = _config(tmp_path, secret_file=tmp_path / "mount" / "client_secret")
    done = run_cli("checkpoint", "show", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "no checkpoint yet" in done.stdout


# D14: state_dir


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """An existing directory nobody, root included, can create files in."""
    directory = tmp_path / "state"
    directory.mkdir()
    # A lock file left by an earlier run can still be opened: only a real write tells.
    (directory / "clicks.lock").write_bytes(b"")
    if os.geteuid() != 0:
        directory.chmod(0o500)
        yield directory
        directory.chmod(0o700)
        return
    done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {done.stderr!r}")
    try:
        yield directory
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_an_unwritable_state_dir_is_one_line_naming_it(
    tmp_path: Path, unwritable_dir: Path
) -> None:
    done = run_cli("once", "-c", str(_config(tmp_path)))
    assert done.returncode == EXIT_USAGE
    line = _one_line(done)
    assert line.startswith(f"config error: state_dir: cannot write in '{unwritable_dir}': ")
    assert not list(unwritable_dir.glob(".*probe*"))


def test_a_state_dir_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    document = settings(tmp_path, "http://127.0.0.1:1")
    document["state_dir"] = str(blocker / "state")
    done = run_cli("once", "-c", str(write_toml(document, tmp_path / "c.toml")))
    assert done.returncode == EXIT_USAGE
    assert _one_line(done) == (
        f"config error: state_dir: cannot create '{blocker / 'state'}': Not a directory"
    )


# The file sink's path as a symbolic link


FOREIGN = b'{"someone else\'s": "file"}\n{"partial last line'


def _symlinked_sink(tmp_path: Path, base_url: str, **sink: Any) -> tuple[Path, Path]:
    foreign = tmp_path / "elsewhere" / "foreign.log"
    foreign.parent.mkdir()
    foreign.write_bytes(FOREIGN)
    out = tmp_path / "out"
    out.mkdir()
    (out / "clicks.ndjson").symlink_to(foreign)
    document = settings(tmp_path, base_url)
    document["sinks"]["out"].update(sink)
    return write_toml(document, tmp_path / "c.toml"), foreign


def test_a_symlinked_output_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(200, start=NOW - 3600, end=NOW - 60, seed=5)
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        config, foreign = _symlinked_sink(tmp_path, sim.base_url)
        done = run_cli("once", "-c", str(config), timeout=60)
    assert done.returncode == EXIT_USAGE
    assert _one_line(done) == (
        f"config error: sinks.out.path: '{tmp_path / 'out' / 'clicks.ndjson'}' is a symbolic "
        f"link (to '{foreign}'); the file sink does not write through links unless "
        "follow_symlinks = true"
    )
    assert foreign.read_bytes() == FOREIGN  # not a byte cut or added


def test_follow_symlinks_writes_through_the_link(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(200, start=NOW - 3600, end=NOW - 60, seed=5)
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        config, foreign = _symlinked_sink(tmp_path, sim.base_url, follow_symlinks=True)
        foreign.write_bytes(b'{"kept": 1}\n')
        done = run_cli("once", "-c", str(config), timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = read_lines(foreign)
    assert lines[0] == {"kept": 1}
    assert len(lines) == 201
