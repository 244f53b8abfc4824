"""Where the collector delivers during a benchmark: the file sink, or a loopback receiver.

A :class:`Target` gives the ``[sinks.<name>]`` table for the collector's config and,
after the run, every click it received as one JSON line each (a raw click or an
envelope; :func:`bench.truth.digest` accepts both). Receivers are processes on the
helper CPU, started before the collector and stopped by PID after it.

**How S2 to S4 plug in.** A sink scenario runs once all of these hold, and is
reported "not available yet" with the missing part otherwise
(:func:`sink_bench_status`):

1. its sink type is registered (:func:`collector.sinks.registry.sink_types`) under one
   of the names in :data:`SINK_BENCHES`;
2. its receiver can start: a lean HEC or bulk receiver (:mod:`bench.fast_receiver`,
   the default) or the tests' strict emulators (``--strict-receivers``, wrapped as
   processes by :mod:`bench.emulate`), a real ``rsyslogd`` for syslog
   (:mod:`bench.rsyslog`);
3. :data:`SINK_BENCHES` has a table function giving the sink's options for that
   receiver. A new receiver only has to follow the process contract of
   :mod:`bench.emulate` (``port=N``, ``ready``, write what it accepted on SIGTERM).
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.emulate import EMULATORS
from bench.procs import Child, Pinning
from bench.rsyslog import RsyslogTarget
from bench.truth import output_files, read_lines
from collector.sinks.registry import sink_types


class Target(Protocol):
    """A place the collector delivers to, for one rep."""

    def start(self, rep_dir: Path, python: str, pinning: Pinning) -> None:
        """Start whatever must listen before the collector runs."""

    def sink_table(self) -> dict[str, Any]:
        """The ``[sinks.<name>]`` table that makes the collector deliver here."""

    def cpu_secs(self) -> float:
        """CPU seconds the receiver has used so far (0 when there is no process)."""

    def stop(self) -> None:
        """Stop the receiver by PID, once the collector has exited."""

    def lines(self) -> Iterator[bytes]:
        """Every delivered click, one JSON line each."""


class FileTarget:
    """The built-in ``file`` sink, writing NDJSON into the rep's ``out/`` directory."""

    def __init__(self) -> None:
        self.path = Path("clicks.ndjson")

    def start(self, rep_dir: Path, python: str, pinning: Pinning) -> None:
        """Choose the output path; the sink creates the file."""
        self.path = rep_dir / "out" / "clicks.ndjson"

    def sink_table(self) -> dict[str, Any]:
        """A file sink that never rotates within a run, so one file holds everything."""
        return {"type": "file", "path": str(self.path), "max_bytes": 1 << 40, "keep": 1000}

    def cpu_secs(self) -> float:
        """The file sink runs inside the collector: no receiver process."""
        return 0.0

    def stop(self) -> None:
        """Nothing to stop."""

    def lines(self) -> Iterator[bytes]:
        """The active file and any rotated ones."""
        return read_lines(output_files(self.path))


class EmulatorTarget:
    """An HTTP receiver as a process (``python -m MODULE KIND --out FILE``).

    Args:
        kind: ``hec`` or ``bulk``.
        table: builds the sink table from the receiver's base URL.
        module: :mod:`bench.fast_receiver`, or :mod:`bench.emulate` for the tests'
            strict emulators.
    """

    def __init__(
        self,
        kind: str,
        table: Callable[[str, int], dict[str, Any]],
        module: str,
    ) -> None:
        self.kind = kind
        self._table = table
        self._module = module
        self.out = Path("received.ndjson")
        self.port = 0
        self._child: Child | None = None

    def start(self, rep_dir: Path, python: str, pinning: Pinning) -> None:
        """Start the emulator on a free port and wait for ``ready``."""
        self.out = rep_dir / "out" / "received.ndjson"
        self.out.parent.mkdir(parents=True, exist_ok=True)
        argv = [python, "-m", self._module, self.kind, "--out", str(self.out)]
        self._child = Child(
            f"emulator-{self.kind}",
            argv,
            cpu=pinning.helper_cpu,
            pinning=pinning,
            stderr=rep_dir / f"emulator-{self.kind}.log",
            capture_stdout=True,
        )
        for line in self._child.read_until("ready", timeout=60.0):
            if line.startswith("port="):
                self.port = int(line.removeprefix("port="))

    def sink_table(self) -> dict[str, Any]:
        """The sink table for this emulator's port."""
        return self._table("127.0.0.1", self.port)

    def cpu_secs(self) -> float:
        """The emulator's CPU seconds so far."""
        return self._child.cpu_secs() if self._child and self._child.running() else 0.0

    def stop(self) -> None:
        """SIGTERM by PID; the emulator writes what it accepted, then exits."""
        if self._child is not None:
            self._child.stop(signal.SIGTERM, grace=120.0)

    def lines(self) -> Iterator[bytes]:
        """What the emulator accepted."""
        return read_lines([self.out])


def hec_table(host: str, port: int) -> dict[str, Any]:
    """``splunk_hec`` against the HEC emulator (its default token; no indexer acks)."""
    return {
        "type": "splunk_hec",
        "endpoint": f"http://{host}:{port}",
        "token": "hec-token-0123456789",
        "acknowledgements": False,
    }


def syslog_table(host: str, port: int) -> dict[str, Any]:
    """``syslog`` over plain TCP with octet counting, the click as JSON in MSG."""
    return {
        "type": "syslog",
        "address": f"{host}:{port}",
        "mode": "tcp",
        "framing": "octet_counting",
        "format": "json",
    }


def elasticsearch_table(host: str, port: int) -> dict[str, Any]:
    """``elasticsearch`` against the bulk emulator, mapped to ECS as users run it.

    ``preserve_original_event`` keeps each click in ``event.original``, so the documents
    can be checked against the truth (one more dump per click than ECS alone).
    """
    return {
        "type": "elasticsearch",
        "endpoint": f"http://{host}:{port}",
        "api_key": "ZW11bGF0b3I6c2VjcmV0LWtleS12YWx1ZQ==",
        "format": "ecs",
        "preserve_original_event": True,
    }


@dataclass(frozen=True, slots=True)
class SinkBench:
    """How to benchmark one network sink (S2 to S4).

    Attributes:
        scenario: ``S2``, ``S3`` or ``S4``.
        sink_names: the sink type names it may be registered under.
        receiver: an emulator kind of :mod:`bench.emulate`, or ``rsyslogd``.
        goal_ratio: the issue's goal as a share of the floor.
        table: builds the sink's ``[sinks.<name>]`` table from ``(host, port)``.
    """

    scenario: str
    sink_names: tuple[str, ...]
    receiver: str
    goal_ratio: float
    table: Callable[[str, int], dict[str, Any]]

    def target(self, *, strict: bool = False) -> Target:
        """The receiver for one rep (call only when :func:`sink_bench_status` is None).

        Args:
            strict: the tests' emulators instead of :mod:`bench.fast_receiver`.
        """
        if self.receiver == "rsyslogd":
            return RsyslogTarget(self.table)
        module = "bench.emulate" if strict else "bench.fast_receiver"
        return EmulatorTarget(self.receiver, self.table, module)


SINK_BENCHES: dict[str, SinkBench] = {
    "S2": SinkBench("S2", ("splunk_hec",), "hec", 0.25, hec_table),
    "S3": SinkBench("S3", ("syslog",), "rsyslogd", 0.30, syslog_table),
    "S4": SinkBench("S4", ("elasticsearch",), "bulk", 0.25, elasticsearch_table),
}
"""The sink scenarios, with the goal of issue 4 for each."""


def registered_sink(bench: SinkBench) -> str | None:
    """The name the sink is registered under, or None when it has not landed yet."""
    known = sink_types()
    return next((name for name in bench.sink_names if name in known), None)


def receiver_available(bench: SinkBench) -> bool:
    """True when the receiver can be started here."""
    if bench.receiver == "rsyslogd":
        return shutil.which("rsyslogd") is not None
    module = EMULATORS[bench.receiver][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def sink_bench_status(bench: SinkBench) -> str | None:
    """None when the scenario can run; otherwise why it cannot yet."""
    missing = []
    if registered_sink(bench) is None:
        missing.append(f"sink type {' or '.join(map(repr, bench.sink_names))} is not registered")
    if not receiver_available(bench):
        missing.append(f"receiver {bench.receiver!r} is not available")
    return "; ".join(missing) or None
