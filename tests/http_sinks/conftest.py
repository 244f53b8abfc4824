"""Fixtures: the receiver emulators on 127.0.0.1 and sinks built from config dicts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.delivery import SinkHandle, deliver
from collector.events import Batch
from collector.retry import RetryPolicy
from collector.sinks import SinkContext
from collector.sinks.http.base import HttpSinkBase
from collector.sinks.registry import sink_config_class

from .bulk_emulator import BulkEmulator
from .hec_emulator import HecEmulator
from .helpers import VirtualTime
from .local_server import LocalServer
from .receiver import Receiver


@pytest.fixture
async def servers() -> AsyncIterator[list[LocalServer]]:
    """Servers started by a test; stopped after it, failing it on any handler error."""
    started: list[LocalServer] = []
    yield started
    for server in started:
        await server.stop()
    for server in started:
        assert not server.errors, server.errors


@pytest.fixture
async def hec(servers: list[LocalServer]) -> Callable[..., Any]:
    """``await hec(**options)`` starts a HEC emulator."""

    async def make(**options: Any) -> HecEmulator:
        emulator = HecEmulator(**options)
        await emulator.server.start()
        servers.append(emulator.server)
        return emulator

    return make


@pytest.fixture
async def bulk(servers: list[LocalServer]) -> Callable[..., Any]:
    """``await bulk(**options)`` starts an Elasticsearch emulator."""

    async def make(**options: Any) -> BulkEmulator:
        emulator = BulkEmulator(**options)
        await emulator.server.start()
        servers.append(emulator.server)
        return emulator

    return make


@pytest.fixture
async def receiver(servers: list[LocalServer]) -> Callable[..., Any]:
    """``await receiver(status=200)`` starts a generic HTTP receiver."""

    async def make(**options: Any) -> Receiver:
        made = Receiver(**options)
        await made.server.start()
        servers.append(made.server)
        return made

    return make


@pytest.fixture
def vtime() -> VirtualTime:
    """Virtual time for retry policies: waits are recorded, not waited."""
    return VirtualTime()


class Delivered:
    """A started sink as the pipeline drives it: ``send`` goes through
    :func:`collector.delivery.deliver`, the one owner of its retries (with the same
    policy the sink's gate uses). Every other attribute is the sink's own."""

    def __init__(self, handle: SinkHandle) -> None:
        self.handle = handle

    async def send(self, events: Batch) -> None:
        await deliver([self.handle], events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle.sink, name)


@pytest.fixture
async def make_sink(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await make_sink(config_dict, retry=..., transport=...)``: a started sink (see
    :class:`Delivered`), closed after the test."""
    made: list[HttpSinkBase] = []

    async def make(
        options: dict[str, Any],
        *,
        name: str = "out",
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Any:
        config = sink_config_class(options["type"], key=f"sinks.{name}").model_validate(options)
        context = SinkContext(state_dir=tmp_path / "state")
        policy = retry or config.retry_policy()
        sink_class = type(config.build(name, context))
        sink = sink_class(name, config, context, retry=policy, transport=transport)
        await sink.start()
        made.append(sink)
        return Delivered(SinkHandle(name, sink, policy, context.stats))

    yield make
    for sink in made:
        await sink.aclose()
