"""Run a :class:`Simulator` in its own thread and event loop, for synchronous callers.

Tests whose collector runs as a separate process (or in synchronous code) use
this: the simulator keeps serving on its own loop while the caller blocks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from collector.simulator.config import SimulatorConfig
from collector.simulator.dataset import ClickDataset
from collector.simulator.faults import FaultPlan
from collector.simulator.server import Simulator

T = TypeVar("T")


class SimulatorThread:
    """A :class:`Simulator` served from a background thread.

    Args:
        config: settings, as for :class:`Simulator`.
        dataset: clicks, as for :class:`Simulator`.
        faults: fault plan, as for :class:`Simulator`.
        simulator: a simulator built already (for example with attachment and
            impersonation logs); then ``config``, ``dataset`` and ``faults`` must be None.
        timeout_secs: how long :meth:`start`, :meth:`stop` and :meth:`call` wait.

    Attributes:
        simulator: the simulator. Its dataset and faults belong to the simulator's
            loop: touch them through :meth:`call`.

    Use as ``with SimulatorThread(...) as sim:``.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        dataset: ClickDataset | None = None,
        faults: FaultPlan | None = None,
        *,
        simulator: Simulator | None = None,
        timeout_secs: float = 30.0,
    ) -> None:
        if simulator is not None and any(part is not None for part in (config, dataset, faults)):
            raise ValueError("give either a simulator or its config, dataset and faults")
        self.simulator = simulator if simulator is not None else Simulator(config, dataset, faults)
        self._timeout = timeout_secs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The simulator's base URL."""
        return self.simulator.base_url

    def start(self) -> SimulatorThread:
        """Start the thread and wait until the simulator listens."""
        if self._thread is not None:
            raise RuntimeError("already started")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="mimecast-simulator", daemon=True
        )
        self._thread.start()
        started.result(self._timeout)
        return self

    def stop(self) -> None:
        """Stop the simulator and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), loop).result(self._timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self._timeout)
        self._loop = self._thread = None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the simulator's loop and return its result.

        Example: ``sim.call(sim.simulator.dataset.truth)``.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("the simulator thread is not running")
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
                done.set_exception(error)

        loop.call_soon_threadsafe(invoke)
        return done.result(self._timeout)

    def start_live(self, rate_per_sec: float, **options: Any) -> None:
        """Start live mode (options as for ``Simulator.start_live``)."""
        self.call(functools.partial(self.simulator.start_live, rate_per_sec, **options))

    def stop_live(self) -> None:
        """Stop live mode."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the simulator thread is not running")
        asyncio.run_coroutine_threadsafe(self.simulator.stop_live(), loop).result(self._timeout)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.simulator.start())
            except BaseException as error:  # noqa: BLE001 - start() re-raises it
                started.set_exception(error)
                return
            self._loop = loop
            started.set_result(None)
            loop.run_forever()
        finally:
            loop.close()
