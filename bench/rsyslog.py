"""S3's receiver: a real rsyslogd on loopback, started and stopped by PID.

rsyslog 8 from Debian is the reference syslog server here (receivers.md): it takes
RFC 6587 octet-counted frames over TCP. This module writes its config, waits for the
port, and reads back what it wrote.
"""

from __future__ import annotations

import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.procs import Child, Pinning
from bench.truth import read_lines


class RsyslogTarget:
    """A real rsyslogd on a free loopback port: TCP with RFC 6587 octet counting.

    It writes each message's MSG part (``%msg%``), one per line, so the click JSON the
    syslog sink puts there can be checked like any other delivery. ``maxMessageSize``
    is raised to 64k: at rsyslog's 8k default a long frame is split (receivers.md).

    Args:
        table: builds the sink table from ``(host, port)``.
    """

    def __init__(self, table: Callable[[str, int], dict[str, Any]]) -> None:
        self._table = table
        self.out = Path("received.msg")
        self.port = 0
        self._child: Child | None = None

    def start(self, rep_dir: Path, python: str, pinning: Pinning) -> None:
        """Write a config, start ``rsyslogd -n`` and wait until its port accepts."""
        work = rep_dir / "rsyslog"
        work.mkdir(parents=True, exist_ok=True)
        self.out = rep_dir / "out" / "received.msg"
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = work / "rsyslog.conf"
        config.write_text(_RSYSLOG_CONF.format(work=work, out=self.out, port=self.port))
        argv = ["rsyslogd", "-n", "-f", str(config), "-i", str(work / "rsyslogd.pid")]
        self._child = Child(
            "rsyslogd", argv, cpu=pinning.helper_cpu, pinning=pinning, stderr=work / "stderr.log"
        )
        wait_for_port(self.port, timeout=15.0)

    def sink_table(self) -> dict[str, Any]:
        """The syslog sink's table for this rsyslogd's port."""
        return self._table("127.0.0.1", self.port)

    def cpu_secs(self) -> float:
        """rsyslogd's CPU seconds so far."""
        return self._child.cpu_secs() if self._child and self._child.running() else 0.0

    def stop(self) -> None:
        """Let rsyslog drain its queue (the file stops growing), then SIGTERM by PID."""
        settle(self.out, quiet_secs=1.0, timeout=120.0)
        if self._child is not None:
            self._child.stop(signal.SIGTERM, grace=15.0)

    def lines(self) -> Iterator[bytes]:
        """Each MSG, without the optional UTF-8 BOM RFC 5424 allows before it, and
        without the ``"mimecast":{"kind":...}`` key the sink's ``json`` payload adds
        last, so what is left is the record exactly as the simulator served it."""
        for line in read_lines([self.out]):
            yield _KIND_KEY.sub(b"}", line.removeprefix(b"\xef\xbb\xbf"), count=1)


_KIND_KEY = re.compile(rb',"mimecast":\{"kind":"[a-z_]+"\}\}(?=\r?\n?$)')
"""The syslog ``json`` payload's added key (collector/sinks/syslog/kind_json.py)."""


_RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k" net.enableDNS="off")
module(load="imtcp")
template(name="msgonly" type="string" string="%msg%\\n")
ruleset(name="bench") {{ action(type="omfile" file="{out}" template="msgonly") }}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that cannot take port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    """Return once 127.0.0.1:``port`` accepts a connection; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listens on 127.0.0.1:{port} after {timeout}s"
                ) from None
            time.sleep(0.05)


def settle(path: Path, quiet_secs: float, timeout: float) -> None:
    """Wait until ``path`` has not grown for ``quiet_secs`` (at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = path.stat().st_size if path.exists() else 0
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet_secs:
            return
        time.sleep(0.1)
