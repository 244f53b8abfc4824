"""sd_notify: READY=1 once running, WATCHDOG=1 while alive, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from collector.simulator import ClickDataset, SimulatorConfig, SimulatorThread

from .conftest import settings, write_toml


def test_run_speaks_sd_notify(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(20)
        with SimulatorThread(SimulatorConfig(), ClickDataset()) as sim:
            config = write_toml(settings(tmp_path, sim.base_url), tmp_path / "c.toml")
            env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
            process = subprocess.Popen(
                [sys.executable, "-m", "collector", "run", "-c", str(config)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                messages = []
                deadline = time.monotonic() + 20
                while messages.count("WATCHDOG=1") < 3 and time.monotonic() < deadline:
                    messages.append(listener.recv(256).decode())
                assert messages[0] == "READY=1"
                assert messages.count("WATCHDOG=1") >= 3
                process.send_signal(signal.SIGTERM)
                while (message := listener.recv(256).decode()) == "WATCHDOG=1":
                    pass
                assert message == "STOPPING=1"
                assert process.wait(timeout=10) == 0
            finally:
                if process.poll() is None:
                    process.kill()
