"""rsyslog killed (SIGKILL) and restarted in the middle of a run: nothing is missing after.

The kill comes between two pages, once rsyslog has written everything it was sent:
a receiver that dies with messages still in its own buffers loses them whatever the
sender does (syslog has no application-level acknowledgement; docs/syslog.md), so
that window is not what is tested here. What is tested is the sender's side: the next
page must not be acknowledged into the dead connection, the sink must notice, back
off through the retry policy, reconnect once rsyslog is back, and re-send the page.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collector.events import Batch
from collector.simulator import Simulator
from collector.sinks import Sink

from .conftest import MakeRsyslogd, Pki
from .helpers import SINK, dataset, payloads, run_pipeline, sink_options
from .rsyslog import Rsyslogd

# Real daemons and sockets: a hang must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(60)

CLICKS = 3000
PAGE_SIZE = 100
KILL_AFTER_PAGE = 10
DOWN_SECS = 1.0


class KillBetweenPages:
    """A sink wrapper that SIGKILLs rsyslog after page ``KILL_AFTER_PAGE`` and restarts it
    ``DOWN_SECS`` later, while the pipeline keeps sending."""

    def __init__(self, inner: Sink, daemon: Rsyslogd, app: str) -> None:
        self.inner = inner
        self.name = inner.name
        self.daemon = daemon
        self.app = app
        self.pages = 0
        self.events = 0
        self.killed_pid: int | None = None
        self.restarted: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.inner.start()

    async def healthcheck(self) -> None:
        await self.inner.healthcheck()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def send(self, events: Batch) -> None:
        await self.inner.send(events)
        self.pages += 1
        self.events += len(events)
        if self.pages == KILL_AFTER_PAGE:
            # Everything acknowledged so far is on rsyslog's disk: the kill loses nothing
            # rsyslog had, so any loss after it would be the sink's.
            written = await asyncio.to_thread(self.daemon.wait_for, self.app, self.events)
            assert len(written) == self.events
            self.killed_pid = self.daemon.pid
            self.daemon.kill()
            self.restarted = asyncio.create_task(self._restart())

    async def _restart(self) -> None:
        await asyncio.sleep(DOWN_SECS)
        await asyncio.to_thread(self.daemon.start)


@pytest.mark.parametrize("mode", ["tcp", "tls"])
async def test_nothing_is_missing_after_rsyslog_is_killed_and_restarted(
    mode: str, make_rsyslogd: MakeRsyslogd, pki: Pki, app: str, tmp_path: Path
) -> None:
    daemon = make_rsyslogd(tls=mode == "tls")
    clicks = dataset(CLICKS, seed=11)
    truth = clicks.truth()
    options: dict[str, Any] = {"ca_file": str(pki.server.ca)} if mode == "tls" else {}
    wrapper: KillBetweenPages | None = None

    def wrap(sink: Sink) -> Sink:
        nonlocal wrapper
        wrapper = KillBetweenPages(sink, daemon, app)
        return wrapper

    async with Simulator(dataset=clicks) as sim:
        sinks = {SINK: sink_options(daemon.tcp_port, mode, app, **options)}
        run = await run_pipeline(sim, sinks, tmp_path / "state", page_size=PAGE_SIZE, wrap=wrap)

    assert wrapper is not None and wrapper.restarted is not None
    await wrapper.restarted
    assert run.error is None, run.error
    assert wrapper.killed_pid is not None and daemon.pid not in (None, wrapper.killed_pid)
    assert run.sink.retries >= 1, "the outage must have been noticed and retried"
    assert run.sink.events == CLICKS
    received = Counter(r["msg"].encode() for r in daemon.wait_for(app, CLICKS))
    missing = payloads(truth) - received
    duplicates = sum((received - payloads(truth)).values())
    print(f"{mode}: retries={run.sink.retries} duplicates={duplicates}")
    assert not missing, f"{sum(missing.values())} clicks missing after the restart"
    assert duplicates <= PAGE_SIZE, "at most the page in flight may be sent twice"
