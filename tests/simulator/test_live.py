"""Live mode: clicks keep arriving, some published after their own date."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import orjson
import pytest

from collector.events import format_mimecast_date, parse_mimecast_date

from .helpers import MakeSim, bearer, canon, fetch_all


async def test_live_mode_adds_clicks_some_of_them_late(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    started = time.time()
    sim.start_live(400, late_fraction=0.5, max_delay_secs=30, duplicate_fraction=0.2)
    await asyncio.sleep(0.6)
    await sim.stop_live()
    timeline = sim.dataset.timeline()
    assert 120 <= len(timeline) <= 300
    delays = [published - parse_mimecast_date(c["date"]) for published, c in timeline]
    late = [d for d in delays if d >= 1]
    on_time = [d for d in delays if d < 1]
    assert 0.3 * len(delays) <= len(late) <= 0.7 * len(delays)
    assert on_time and all(0 <= d < 1 for d in on_time)
    assert all(d <= 31 for d in late)
    assert all(started <= published <= time.time() for published, _ in timeline)
    assert max(Counter(orjson.dumps(c) for _, c in timeline).values()) >= 2
    # It stopped: nothing more arrives.
    count = len(sim.dataset)
    await asyncio.sleep(0.15)
    assert len(sim.dataset) == count
    # A query sees exactly what was published.
    auth = await bearer(client, sim)
    now = int(time.time())
    item = {"from": format_mimecast_date(now - 60), "to": format_mimecast_date(now + 1)}
    clicks, _ = await fetch_all(client, sim, auth, item, page_size=500)
    assert canon(clicks) == canon(sim.dataset.truth())


async def test_live_mode_runs_once_at_a_time(make_sim: MakeSim) -> None:
    sim = await make_sim()
    sim.start_live(10)
    with pytest.raises(RuntimeError, match="already running"):
        sim.start_live(10)
    await sim.stop_live()
    await sim.stop_live()  # stopping twice is harmless
    sim.start_live(10)  # and it can start again; stop() ends it too
