"""Live mode: new clicks keep arriving while a collector reads, some of them late.

Real URL Protection logs are not visible the instant they happen; peers query
minutes behind "now" for that reason (mimecast-api.md section 6). A late click
here has a ``date`` in the past but is published now, so a collector whose cursor
already passed that date must look back to find it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

from collector.simulator.dataset import ClickDataset
from collector.simulator.generator import ClickFactory

TICK_SECS = 0.05


class LiveFeeder:
    """Adds clicks to a dataset at a steady rate until cancelled.

    Args:
        dataset: where the clicks go.
        factory: makes the clicks.
        rng: decides which clicks are late or duplicated, and by how much.
        rate_per_sec: clicks per second.
        late_fraction: share of clicks published late (``date = now - delay``).
        max_delay_secs: a late click's delay is uniform in ``[1, max_delay_secs]``.
        duplicate_fraction: share of clicks that are byte-identical copies of a
            recent click.
    """

    def __init__(
        self,
        dataset: ClickDataset,
        factory: ClickFactory,
        rng: random.Random,
        *,
        rate_per_sec: float,
        late_fraction: float = 0.2,
        max_delay_secs: float = 120.0,
        duplicate_fraction: float = 0.02,
    ) -> None:
        if rate_per_sec <= 0:
            raise ValueError("rate_per_sec must be > 0")
        if max_delay_secs < 1:
            raise ValueError("max_delay_secs must be >= 1")
        self._dataset = dataset
        self._factory = factory
        self._rng = rng
        self._rate = rate_per_sec
        self._late = late_fraction
        self._max_delay = max_delay_secs
        self._duplicates = duplicate_fraction
        self._recent: deque[tuple[bytes, int, str, str]] = deque(maxlen=64)
        self.added = 0

    async def run(self) -> None:
        """Add clicks forever, keeping to the rate on average."""
        started = time.monotonic()
        while True:
            await asyncio.sleep(min(TICK_SECS, 1.0 / self._rate))
            due = int((time.monotonic() - started) * self._rate) - self.added
            for _ in range(due):
                self._add_one()

    def _add_one(self) -> None:
        now = time.time()
        rng = self._rng
        if self._recent and rng.random() < self._duplicates:
            blob, date, route, scan = rng.choice(self._recent)
        else:
            date = int(now)
            if rng.random() < self._late:
                date = int(now - rng.uniform(1.0, self._max_delay))
            blob, route, scan = self._factory.make(date)
            self._recent.append((blob, date, route, scan))
        self._dataset.add_serialized(
            blob, date=date, route=route, scan_result=scan, published_at=now
        )
        self.added += 1
