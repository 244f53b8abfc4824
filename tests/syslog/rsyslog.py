"""A real rsyslogd for the tests: its own config, ports and work dir, stopped by PID.

Each daemon writes every message it receives as one JSON line, with the raw message
and rsyslog's own parsed properties, into ``<out>/<programname>.jsonl``: a test picks
an ``app_name`` nobody else uses and reads back exactly its own messages.

Readiness is checked without disturbing rsyslog: the plain TCP port is probed by
connecting (as receivers.md does); a TLS port is never probed (a probe that does not
finish a handshake makes rsyslog log errors), its LISTEN state is read from
/proc/net/tcp instead, and a UDP port's binding from /proc/net/udp.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT_SECS = 10.0

# Every property a test may check, as one JSON object per message.
RECORD_TEMPLATE = """
template(name="record" type="list" option.jsonf="on") {
  property(outname="raw" name="rawmsg" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="pri" name="pri" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="tag" name="syslogtag" format="jsonf")
  property(outname="programname" name="programname" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
}
template(name="rawline" type="string" string="%rawmsg%\n")
template(name="perapp" type="string" string="@OUT@/%programname%.jsonl")
ruleset(name="store") {
  action(type="omfile" dynaFile="perapp" template="@TEMPLATE@" dynaFileCacheSize="100")
}
"""


def rsyslogd_path() -> str | None:
    """Where rsyslogd is, or None."""
    return shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.path.exists(p)), None
    )


def gtls_available() -> bool:
    """Whether rsyslog's GnuTLS stream driver (Debian rsyslog-gnutls) is installed."""
    return any(Path("/usr/lib").rglob("lmnsd_gtls.so"))


def free_port(kind: socket.SocketKind) -> int:
    """A port free on 127.0.0.1 for ``kind`` right now."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a TLS listener."""

    ca: Path
    cert: Path
    key: Path


def _bound(proto: str, port: int, *, listening: bool) -> bool:
    # /proc/net/{tcp,udp}: "sl local_address rem_address st ..." with hex addresses.
    wanted = f"0100007F:{port:04X}"
    for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and (not listening or fields[3] == "0A"):
            return True
    return False


class Rsyslogd:
    """One rsyslogd: plain UDP + TCP listeners, or one TLS (gtls) listener.

    Args:
        root: its own directory (config, work dir, output, pid file, stderr).
        tls: the listener's PEM files for a TLS daemon; None for a plain one.
        raw_only: write only each raw message per line (a light relay, for benchmarks)
            instead of the JSON records the tests read.
    """

    def __init__(self, root: Path, tls: TlsFiles | None = None, *, raw_only: bool = False) -> None:
        self.root = root
        self.template = "rawline" if raw_only else "record"
        self.out = root / "out"
        self.tls = tls
        self.tcp_port = free_port(socket.SOCK_STREAM)
        self.udp_port = None if tls else free_port(socket.SOCK_DGRAM)
        self.config_path = root / "rsyslog.conf"
        self.pid_path = root / "rsyslogd.pid"
        self.stderr_path = root / "stderr.log"
        self._process: subprocess.Popen[bytes] | None = None
        (root / "work").mkdir(parents=True, exist_ok=True)
        self.out.mkdir(exist_ok=True)
        self.config_path.write_text(self._config())

    def _config(self) -> str:
        lines = [
            f'global(workDirectory="{self.root / "work"}" maxMessageSize="64k"',
            # Keep control characters as they are sent, to compare bytes exactly.
            '       net.enableDNS="off" parser.escapeControlCharactersOnReceive="off")',
            RECORD_TEMPLATE.replace("@OUT@", str(self.out)).replace("@TEMPLATE@", self.template),
        ]
        if self.tls is None:
            lines += [
                'module(load="imudp")',
                'module(load="imtcp" maxSessions="200")',
                f'input(type="imudp" address="127.0.0.1" port="{self.udp_port}" '
                'ruleset="store" rcvBufSize="16m")',
                f'input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="store")',
            ]
        else:
            lines += [
                'module(load="imtcp" maxSessions="200" StreamDriver.Name="gtls" '
                'StreamDriver.Mode="1" StreamDriver.AuthMode="anon")',
                f'input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="store"',
                f'      streamDriver.CAFile="{self.tls.ca}" streamDriver.CertFile="{self.tls.cert}"',
                f'      streamDriver.KeyFile="{self.tls.key}")',
            ]
        return "\n".join(lines) + "\n"

    @property
    def pid(self) -> int | None:
        """The running daemon's PID."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start rsyslogd and wait until its listeners are bound."""
        binary = rsyslogd_path()
        assert binary is not None
        stderr = self.stderr_path.open("ab")
        self._process = subprocess.Popen(
            [binary, "-n", "-f", str(self.config_path), "-i", str(self.pid_path)],
            stdout=stderr,
            stderr=stderr,
        )
        stderr.close()
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while not self._ready():
            if self._process.poll() is not None:
                raise RuntimeError(f"rsyslogd exited at start:\n{self.stderr_path.read_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rsyslogd not ready in time:\n{self.stderr_path.read_text()}")
            time.sleep(0.02)

    def _ready(self) -> bool:
        if self.tls is not None:
            return _bound("tcp", self.tcp_port, listening=True)
        if self.udp_port is not None and not _bound("udp", self.udp_port, listening=False):
            return False
        try:
            socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the daemon, by PID, and reap it."""
        process, self._process = self._process, None
        if process is not None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop(self) -> None:
        """SIGTERM the daemon by PID (SIGKILL after 5 s) and reap it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def records(self, app: str) -> list[dict[str, Any]]:
        """Everything received so far from ``app`` (its programname), oldest first."""
        path = self.out / f"{app}.jsonl"
        if not path.exists():
            return []
        with path.open("rb") as lines:
            # A line being written right now may be incomplete: only whole lines count.
            return [json.loads(line) for line in lines if line.endswith(b"\n")]

    def wait_for(
        self, app: str, count: int, *, timeout: float = 20.0, settle: float = 0.3
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages from ``app`` arrived, then ``settle``
        seconds more (so extra copies would show), and return them all."""
        deadline = time.monotonic() + timeout
        while len(records := self.records(app)) < count:
            if time.monotonic() > deadline:
                return records
            time.sleep(0.05)
        time.sleep(settle)
        return self.records(app)

    def stderr_text(self) -> str:
        """What rsyslogd wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
