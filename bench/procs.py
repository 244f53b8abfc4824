"""Child processes of the benchmark: started pinned, watched with deadlines, stopped by PID.

Every process the harness starts goes through :class:`Child`:

- it is pinned to one CPU with ``taskset`` (performance.md section 4: the collector
  and the floor probe on CPU 0, the simulator and receivers on CPU 1);
- it gets its own session, so a Ctrl-C in the terminal reaches only the harness,
  which then stops each child by its PID (never by name);
- it is started through ``setpriv --pdeathsig TERM`` when available, so it gets
  SIGTERM if the harness dies without cleaning up (SIGKILL, a crash): no orphan
  simulator outlives a killed run;
- every wait has a deadline; a child that overruns it is killed;
- it is reaped with ``os.wait4``, which gives its own CPU time exactly;
- its peak RSS is ``VmHWM``, sampled every 10 ms while it runs. Not ``ru_maxrss``:
  Linux carries the high-water mark of the pre-exec image (the forked copy of the
  harness, which may hold 1M truth digests) into the child's ``ru_maxrss``, so it
  would report the harness's size. ``VmHWM`` starts fresh at exec and only grows,
  so the last sample is the peak, short of the final few milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

HWM_SAMPLE_SECS = 0.01
"""How often a child's ``VmHWM`` is read."""

_SETPRIV = shutil.which("setpriv")
"""util-linux ``setpriv``, for ``--pdeathsig``; None when not installed."""

_LIVE: dict[int, Child] = {}
"""Children not reaped yet, by PID, so :func:`stop_all` can end them on any exit path."""


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which CPU runs what.

    Attributes:
        collector_cpu: CPU of the collector and the floor probe (None: not pinned).
        helper_cpu: CPU of the simulator, the receivers and the harness itself.
        method: ``taskset``, ``sched_setaffinity`` or why nothing is pinned.
    """

    collector_cpu: int | None
    helper_cpu: int | None
    method: str

    @classmethod
    def plan(cls) -> Pinning:
        """Pin to the first two CPUs this process may use; no pinning with fewer than two."""
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(None, None, f"none (only {len(cpus)} CPU available)")
        method = "taskset" if shutil.which("taskset") else "sched_setaffinity"
        return cls(cpus[0], cpus[1], method)


@dataclass(frozen=True, slots=True)
class Exit:
    """How a child ended, from ``os.wait4``."""

    returncode: int
    wall_secs: float
    user_secs: float
    sys_secs: float
    peak_rss_kib: int | None
    """Last ``VmHWM`` sample; None when the child ended before the first sample."""
    ru_maxrss_kib: int
    """``ru_maxrss`` from wait4: polluted by the pre-exec image, kept for reference."""
    timed_out: bool = False

    @property
    def cpu_secs(self) -> float:
        """User plus system CPU seconds of the child itself."""
        return self.user_secs + self.sys_secs


class Child:
    """One child process, from start to reaping.

    Args:
        name: a label for messages.
        argv: the command; it is prefixed with ``taskset -c CPU`` when pinned.
        cpu: the CPU to pin it to, or None.
        pinning: how pinning is done (see :class:`Pinning`).
        stderr: file that receives the child's stderr (the collector's logs);
            None discards it.
        capture_stdout: read stdout line by line in a thread (see :meth:`read_until`).
        env: environment; None inherits the harness's.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cpu: int | None,
        pinning: Pinning,
        stderr: Path | None = None,
        capture_stdout: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.exit: Exit | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        if cpu is not None and pinning.method == "taskset":
            argv = ["taskset", "-c", str(cpu), *argv]
        if _SETPRIV is not None:
            # The death signal follows the thread that starts the child: always the
            # harness's main thread here.
            argv = [_SETPRIV, "--pdeathsig", "TERM", *argv]
        # The error file is opened here and handed over; the child keeps its own copy.
        err = open(stderr, "wb") if stderr is not None else subprocess.DEVNULL  # noqa: SIM115
        self.started = time.perf_counter()
        try:
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        finally:
            if stderr is not None and not isinstance(err, int):
                err.close()
        self.pid = self._popen.pid
        _LIVE[self.pid] = self
        if cpu is not None and pinning.method == "sched_setaffinity":
            # No taskset: pin right after the start (the first milliseconds run unpinned).
            os.sched_setaffinity(self.pid, {cpu})
        if capture_stdout:
            threading.Thread(target=self._pump, name=f"{name}-stdout", daemon=True).start()
        self.hwm_kib: int | None = None
        threading.Thread(target=self._sample_hwm, name=f"{name}-hwm", daemon=True).start()

    def _sample_hwm(self) -> None:
        path = f"/proc/{self.pid}/status"
        while self.exit is None:
            hwm = read_hwm_kib(path)
            if hwm is None:
                return  # gone (a zombie has no memory left to report)
            # The latest sample, not the largest: the first samples may still see the
            # image from before exec (taskset, or the harness's own copy under vfork).
            self.hwm_kib = hwm
            time.sleep(HWM_SAMPLE_SECS)

    def _pump(self) -> None:
        # Draining stdout all the time means the child never blocks on a full pipe.
        stream = self._popen.stdout
        assert stream is not None
        with stream:  # closed at EOF: nothing else reads it
            for raw in stream:
                self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def read_until(self, marker: str, timeout: float) -> list[str]:
        """Return stdout lines up to and including the first that starts with ``marker``.

        Raises:
            TimeoutError: the marker did not come within ``timeout`` seconds.
            RuntimeError: stdout ended (the child exited) first.
        """
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {marker!r} within {timeout:.0f}s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name} exited before printing {marker!r}: {seen[-5:]}")
            seen.append(line)
            if line.startswith(marker):
                return seen

    def cpu_secs(self) -> float:
        """CPU seconds (user + system) the running child has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def running(self) -> bool:
        """True until the child has been reaped."""
        return self.exit is None

    def poll(self) -> Exit | None:
        """Reap the child if it has exited; None while it still runs. Never blocks."""
        if self.exit is None and self._wait_for_exit(0.0):
            self._reap(timed_out=False)
        return self.exit

    def wait(self, timeout: float) -> Exit:
        """Wait for the child to exit and reap it; kill it when ``timeout`` runs out."""
        if self.exit is not None:
            return self.exit
        if self._wait_for_exit(timeout):
            return self._reap(timed_out=False)
        self._signal(signal.SIGKILL)
        self._wait_for_exit(10.0)
        return self._reap(timed_out=True)

    def stop(self, sig: signal.Signals = signal.SIGTERM, grace: float = 15.0) -> Exit:
        """Send ``sig`` by PID and wait up to ``grace`` seconds, then SIGKILL."""
        if self.exit is not None:
            return self.exit
        self._signal(sig)
        return self.wait(grace)

    def _signal(self, sig: signal.Signals) -> None:
        # Only a PID we have not reaped yet is still ours: it cannot have been reused.
        if self.exit is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def _wait_for_exit(self, timeout: float) -> bool:
        try:
            fd = os.pidfd_open(self.pid)
        except OSError:
            return self._poll_for_exit(timeout)
        try:
            # A pidfd becomes readable when the process exits: no polling delay.
            ready, _, _ = select.select([fd], [], [], max(timeout, 0.0))
            return bool(ready)
        finally:
            os.close(fd)

    def _poll_for_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE:
                return True
            time.sleep(0.01)
        return False

    def _reap(self, *, timed_out: bool) -> Exit:
        _, status, usage = os.wait4(self.pid, 0)
        wall = time.perf_counter() - self.started
        code = os.waitstatus_to_exitcode(status)
        # Popen must not try to reap this PID again.
        self._popen.returncode = code
        self.exit = Exit(
            code, wall, usage.ru_utime, usage.ru_stime, self.hwm_kib, usage.ru_maxrss, timed_out
        )
        _LIVE.pop(self.pid, None)
        return self.exit


def stop_all() -> None:
    """Stop every child still running (SIGTERM, then SIGKILL), by PID."""
    for child in list(_LIVE.values()):
        child.stop(signal.SIGTERM, grace=10.0)


def read_hwm_kib(path: str) -> int | None:
    """``VmHWM`` in KiB from a ``/proc/PID/status`` file, or None when it cannot be read."""
    try:
        with open(path, encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]
