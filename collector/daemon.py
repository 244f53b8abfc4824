"""The long-running ``run`` command and the one-shot ``once``.

``run`` schedules one APScheduler job per source (``max_instances=1`` so cycles
of a source never overlap, ``coalesce`` so a late wake-up runs once, not once per
missed interval): every ``interval_secs`` when it is set; otherwise each cycle,
when it ends, moves its job's next run to the moment the credential's polling
budget allows (:mod:`collector.polling`). SIGTERM or SIGINT stops it
the way arq does: no new cycles, the page in flight may finish within a grace
period, then whatever still runs is cancelled. The checkpoint is consistent at
every instant, so cancelling loses nothing: the page is simply sent again.

SIGHUP does not reload anything (the config is read once, at start): ``run``
logs it and carries on; the one-shot commands stop as on SIGTERM, since a hangup
there means the terminal they ran in went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from collector.app import Collector
from collector.errors import CollectorError, first_leaf
from collector.health import snapshot, write_health_file
from collector.pipeline import SourceRunner
from collector.systemd import notify, watchdog_interval_secs

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

T = TypeVar("T")

log = structlog.get_logger("collector.daemon")

# SIGTERM must end the process within 10 s (systemd, Kubernetes): leave room for
# closing the sinks after the in-flight page has had its chance.
SHUTDOWN_GRACE_SECS = 7.0
# The trigger of a source polling on the budget; each cycle sets its next run sooner.
FALLBACK_INTERVAL_SECS = 3600


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Make SIGTERM, SIGINT and SIGHUP set ``stop``; returns a function that undoes it.

    ``run_daemon`` then makes SIGHUP a log line only (see :func:`ignore_hangups`).
    """
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if not stop.is_set():
            log.info("stopping", signal=signum.name, grace_secs=SHUTDOWN_GRACE_SECS)
        stop.set()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)

    def remove() -> None:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)

    return remove


def ignore_hangups() -> None:
    """Make SIGHUP a warning and nothing else (a daemon has no terminal to lose)."""

    def on_hangup() -> None:
        log.warning(
            "sighup_ignored",
            message="SIGHUP reloads nothing: the config is read once, at start; "
            "restart the service to apply a change",
        )

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_hangup)


async def _drain(tasks: set[asyncio.Task[Any]]) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECS)
    for task in pending:
        task.cancel()
    if pending:
        log.warning("cycles_cancelled", count=len(pending))
        await asyncio.wait(pending, timeout=2.0)


async def wait_for_healthy_sinks(collector: Collector, stop: asyncio.Event) -> bool:
    """Run every sink's healthcheck until all pass; False if asked to stop first.

    A receiver that is down at start is not a reason to exit: systemd would only
    restart us into the same situation. We wait (with backoff) and say why.
    """
    delay = 1.0
    while not stop.is_set():
        failures = []
        for name, handle in collector.sinks.items():
            try:
                await handle.sink.healthcheck()
            except CollectorError as exc:
                failures.append(f"{name}: {exc}")
        if not failures:
            return True
        log.error("sinks_unhealthy", problems=failures, retry_in_secs=delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 60.0)
    return False


async def _watchdog(interval: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def _add_job(
    scheduler: AsyncIOScheduler,
    runner: SourceRunner,
    job: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    # Unset interval_secs: the trigger's interval is only a fallback, every cycle
    # sets the next run itself (_reschedule).
    every = runner.config.interval_secs or FALLBACK_INTERVAL_SECS
    scheduler.add_job(
        job,
        "interval",
        seconds=every,
        next_run_time=datetime.now(UTC),
        id=runner.name,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=every,
    )


def _reschedule(scheduler: AsyncIOScheduler, runner: SourceRunner, stop: asyncio.Event) -> None:
    """A cycle ended: charge the polling budget, and move the next run to its moment."""
    if stop.is_set():
        return  # no next run: the scheduler is paused for good
    wait = runner.next_poll_secs()
    if runner.config.interval_secs is None:
        next_run = datetime.now(UTC) + timedelta(seconds=wait)
        scheduler.modify_job(runner.name, next_run_time=next_run)


async def run_daemon(collector: Collector, stop: asyncio.Event) -> None:
    """Run every source on its interval until ``stop`` is set.

    A failing cycle is logged and tried again on the next interval, never an exit.
    """
    ignore_hangups()
    running: set[asyncio.Task[Any]] = set()
    state_dir = collector.config.state_dir

    def record_health() -> None:
        try:
            write_health_file(state_dir, snapshot(collector))
        except OSError as exc:
            log.warning("health_file_not_written", error=str(exc))

    def job_for(runner: SourceRunner) -> Callable[[], Coroutine[Any, Any, None]]:
        async def job() -> None:
            task = asyncio.current_task()
            assert task is not None
            running.add(task)
            try:
                await runner.run_cycle(stop)
            except CollectorError:
                pass  # already logged with its cause; the next cycle tries again
            except asyncio.CancelledError:
                if not stop.is_set():
                    raise
                # _drain cancelled it after the grace period and said so: ending
                # normally keeps APScheduler from logging a stop as a job error.
            except Exception:
                log.exception("cycle_crashed", source=runner.name)
            finally:
                running.discard(task)
                _reschedule(scheduler, runner, stop)
                record_health()

        return job

    if not await wait_for_healthy_sinks(collector, stop):
        return

    # Only `run` schedules: `once`, `check` and `health` never load APScheduler.
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=UTC)
    for runner in collector.runners.values():
        _add_job(scheduler, runner, job_for(runner))
    scheduler.start()
    record_health()
    notify("READY=1")
    interval = watchdog_interval_secs()
    watchdog = asyncio.create_task(_watchdog(interval)) if interval else None
    log.info("started", sources=sorted(collector.runners), sinks=sorted(collector.sinks))
    try:
        await stop.wait()
    finally:
        notify("STOPPING=1")
        # No new cycle from now on, but the ones running keep going: shutdown()
        # would cancel them at once, page in flight included. They see ``stop``
        # after their current page and end; _drain cancels any that take too long.
        scheduler.pause()
        await _drain(running)
        scheduler.shutdown(wait=False)
        if watchdog is not None:
            watchdog.cancel()
    log.info("stopped")


async def run_once(collector: Collector, stop: asyncio.Event) -> dict[str, BaseException | None]:
    """One cycle of every source, until each is caught up; the error of each, if any.

    On ``stop`` the page in flight gets the same grace period as in ``run``, then
    is cancelled: a page stuck retrying a dead receiver must not hold up SIGTERM.
    """
    tasks = {
        name: asyncio.create_task(runner.run_cycle(stop))
        for name, runner in collector.runners.items()
    }
    stopping = asyncio.create_task(stop.wait())
    try:
        while not all(task.done() for task in tasks.values()):
            pending = {task for task in tasks.values() if not task.done()}
            await asyncio.wait(pending | {stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                await _drain({task for task in tasks.values() if not task.done()})
                break
    finally:
        stopping.cancel()
    outcome: dict[str, BaseException | None] = {}
    for name, task in tasks.items():
        if task.cancelled():
            outcome[name] = None  # interrupted on request; the checkpoint is consistent
        else:
            outcome[name] = _named_error(name, task.exception())
            if outcome[name] is None:
                # The summary of `once`: what each source delivered, and how fresh.
                log.info("once_summary", source=name, **task.result().summary())
    return outcome


def _named_error(source: str, error: BaseException | None) -> BaseException | None:
    """The error to report for a source: a cause, never "unhandled errors in a TaskGroup"."""
    if error is None:
        return None
    leaf = first_leaf(error)
    if isinstance(leaf, CollectorError):
        return leaf
    # A bug: keep its traceback in the log, and give the user one line naming it.
    log.error("cycle_crashed", source=source, exc_info=error)
    return CollectorError(
        f"internal error ({type(leaf).__name__}: {leaf}); please report it with the log above"
    )


async def with_stop_signals(work: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(stop)`` with SIGTERM/SIGINT/SIGHUP wired to ``stop``."""
    stop = asyncio.Event()
    remove = install_stop_signals(stop)
    try:
        return await work(stop)
    finally:
        with contextlib.suppress(Exception):
            remove()
