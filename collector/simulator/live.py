"""Live mode: new records keep arriving while a collector reads, some of them late.

Real TTP logs are not visible the instant they happen; peers query minutes behind
"now" for that reason (mimecast-api.md section 6). A late record here has a date
in the past but is published now, so a collector whose cursor already passed that
date must look back to find it. One feeder runs per endpoint kind.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from collector.simulator.logstore import LogDataset

MakeOne = Callable[[int], tuple[bytes, Any]]
"""Makes one serialized record dated at the given epoch second, with its facet."""

TICK_SECS = 0.05


class LiveFeeder:
    """Adds records to a dataset at a steady rate until cancelled.

    Args:
        dataset: where the records go.
        make: makes one record (and its facet) for a date.
        rng: decides which records are late or duplicated, and by how much.
        rate_per_sec: records per second.
        late_fraction: share of records published late (``date = now - delay``).
        max_delay_secs: a late record's delay is uniform in ``[1, max_delay_secs]``.
        duplicate_fraction: share of records that are byte-identical copies of a
            recent record.
    """

    def __init__(
        self,
        dataset: LogDataset,
        make: MakeOne,
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
        self._make = make
        self._rng = rng
        self._rate = rate_per_sec
        self._late = late_fraction
        self._max_delay = max_delay_secs
        self._duplicates = duplicate_fraction
        self._recent: deque[tuple[bytes, int, Any]] = deque(maxlen=64)
        self.added = 0

    async def run(self) -> None:
        """Add records forever, keeping to the rate on average."""
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
            blob, date, facet = rng.choice(self._recent)
        else:
            date = int(now)
            if rng.random() < self._late:
                date = int(now - rng.uniform(1.0, self._max_delay))
            blob, facet = self._make(date)
            self._recent.append((blob, date, facet))
        self._dataset.insert_serialized(blob, date=date, facet=facet, published_at=now)
        self.added += 1
