"""Fixtures for the simulator tests: real simulators on 127.0.0.1, no global state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from collector.simulator import ClickDataset, FaultPlan, Simulator, SimulatorConfig

from .helpers import MakeSim


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    """Start simulators on demand; stop them, and check they had no internal error."""
    started: list[Simulator] = []

    async def make(
        config: SimulatorConfig | None = None,
        dataset: ClickDataset | None = None,
        faults: FaultPlan | None = None,
        **others: Any,
    ) -> Simulator:
        sim = Simulator(config, dataset, faults, **others)
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()
    for sim in started:
        assert sim.stats.internal_errors == 0, repr(sim.last_error)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with a timeout short enough to fail fast."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        yield http
