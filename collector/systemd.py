"""sd_notify without libsystemd: READY, WATCHDOG and STOPPING datagrams.

systemd passes ``NOTIFY_SOCKET`` (a path, or an abstract socket starting with
``@``) to ``Type=notify`` services and ``WATCHDOG_USEC`` when ``WatchdogSec=`` is
set. Outside systemd both are absent and every call here does nothing.
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send one sd_notify message (e.g. ``READY=1``); False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


def watchdog_interval_secs() -> float | None:
    """How often to send WATCHDOG=1 (half the configured timeout), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2
