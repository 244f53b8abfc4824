"""The simulator's click store: what Mimecast "has", and when each click became visible.

Clicks are kept sorted by ``(date, insertion order)`` in parallel lists, each
already serialized as orjson bytes, so a page is a list slice and a ``join``.
Every click also has a publish time: a click is visible to queries only from then
on, which is how late-arriving clicks (published after their own ``date``) are
simulated. :meth:`ClickDataset.truth` is the ground truth tests compare against.
"""

from __future__ import annotations

import heapq
import random
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any

import orjson

from collector.events import parse_mimecast_date
from collector.simulator.generator import ClickFactory, compact_bytes, spread_dates

ALL = "all"
"""The ``route`` / ``scanResult`` filter value that matches everything."""


class ClickDataset:
    """Click logs sorted by (date, insertion order), pre-serialized for serving.

    Not thread-safe: a running simulator owns it from its event loop (use
    ``SimulatorThread.call`` from other threads).
    """

    def __init__(self) -> None:
        self._dates: list[int] = []
        self._blobs: list[bytes] = []
        self._routes: list[str] = []
        self._scans: list[str] = []
        self._published: list[float] = []
        self._max_published = float("-inf")
        # Publish times still in the future, as a heap, so pending_count stays cheap.
        self._future: list[float] = []

    @classmethod
    def generate(
        cls,
        count: int,
        *,
        start: int,
        end: int,
        seed: int = 0,
        duplicate_fraction: float = 0.02,
        burst_fraction: float = 0.1,
        rich: bool = True,
    ) -> ClickDataset:
        """Make exactly ``count`` realistic clicks, all already visible.

        Args:
            count: number of clicks, duplicates included.
            start: earliest ``date`` (epoch seconds, inclusive).
            end: latest ``date`` (epoch seconds, inclusive).
            seed: the same seed gives byte-identical clicks.
            duplicate_fraction: share of clicks that are byte-identical copies of
                another click (same date, same everything).
            burst_fraction: share of distinct clicks that come in same-second bursts
                of 2 to 20.
            rich: include the fields seen in API 2.0 data, not only the 12 documented.

        Returns:
            The new dataset.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        if not 0.0 <= duplicate_fraction < 1.0 or not 0.0 <= burst_fraction <= 1.0:
            raise ValueError("duplicate_fraction must be in [0, 1), burst_fraction in [0, 1]")
        rng = random.Random(f"dataset:{seed}")
        # At least one original whenever there is anything to copy.
        duplicates = min(round(count * duplicate_fraction), max(count - 1, 0))
        distinct = count - duplicates
        dates = spread_dates(rng, distinct, int(start), int(end), burst_fraction)
        made = ClickFactory(seed, rich=rich).make_many(dates)
        blobs, routes, scans = made.blobs, made.routes, made.scans
        if duplicates and distinct:
            # Each copy goes right after its original: same date, so order stays sorted.
            originals = sorted(rng.randrange(distinct) for _ in range(duplicates))
            dates, blobs, routes, scans = (
                _with_copies(values, originals) for values in (dates, blobs, routes, scans)
            )
        dataset = cls()
        dataset._dates, dataset._blobs = dates, blobs
        dataset._routes, dataset._scans = routes, scans
        # One shared float: generated clicks were published "long ago".
        published = 0.0
        dataset._published = [published] * len(dates)
        dataset._max_published = published
        return dataset

    def add(self, click: dict[str, Any], *, published_at: float | None = None) -> None:
        """Insert one click.

        Args:
            click: a click log; its ``date`` must parse as a Mimecast date.
            published_at: wall-clock time (``time.time()``) from which queries see
                it; None means now.
        """
        self.add_serialized(
            compact_bytes(orjson.dumps(click)),
            date=parse_mimecast_date(click["date"]),
            route=str(click.get("route", "")),
            scan_result=str(click.get("scanResult", "")),
            published_at=published_at,
        )

    def extend(
        self, clicks: Iterable[dict[str, Any]], *, published_at: float | None = None
    ) -> None:
        """Insert many clicks, all published at ``published_at`` (None = now)."""
        when = time.time() if published_at is None else published_at
        for click in clicks:
            self.add(click, published_at=when)

    def add_serialized(
        self,
        blob: bytes,
        *,
        date: int,
        route: str,
        scan_result: str,
        published_at: float | None = None,
    ) -> None:
        """Insert one click already serialized as JSON bytes (the fast path of :meth:`add`)."""
        when = time.time() if published_at is None else published_at
        # bisect_right keeps insertion order among clicks of the same second. New
        # clicks land at or near the end, so the list inserts move little.
        index = bisect_right(self._dates, date)
        self._dates.insert(index, date)
        self._blobs.insert(index, blob)
        self._routes.insert(index, route)
        self._scans.insert(index, scan_result)
        self._published.insert(index, when)
        self._max_published = max(self._max_published, when)
        if when > time.time():
            heapq.heappush(self._future, when)

    def select(
        self, *, start: int, stop: int, route: str, scan_result: str, snapshot: float
    ) -> list[bytes]:
        """Return the matching clicks, oldest first, as serialized bytes.

        Args:
            start: first epoch second included.
            stop: first epoch second excluded.
            route: a route, or ``"all"``.
            scan_result: a scanResult, or ``"all"``.
            snapshot: only clicks published at or before this wall-clock time count.
                Clicks added later are never visible at an earlier snapshot, so the
                result for a given snapshot never changes.

        Returns:
            A new list the caller may keep or reorder.
        """
        lo = bisect_left(self._dates, start)
        hi = bisect_left(self._dates, stop, lo)
        blobs = self._blobs[lo:hi]
        if route == ALL and scan_result == ALL and self._max_published <= snapshot:
            return blobs  # the common case: a slice, no per-click Python work
        return [
            blob
            for blob, r, s, p in zip(
                blobs, self._routes[lo:hi], self._scans[lo:hi], self._published[lo:hi], strict=True
            )
            if p <= snapshot
            and (route == ALL or r == route)
            and (scan_result == ALL or s == scan_result)
        ]

    def truth(self, *, published_only: bool = True) -> list[dict[str, Any]]:
        """Return the clicks (parsed), oldest first.

        Args:
            published_only: only clicks visible now; False includes pending ones.
        """
        return [click for _, click in self.timeline(published_only=published_only)]

    def timeline(self, *, published_only: bool = True) -> list[tuple[float, dict[str, Any]]]:
        """Return ``(published_at, click)`` pairs, oldest ``date`` first."""
        now = time.time()
        return [
            (published, orjson.loads(blob))
            for blob, published in zip(self._blobs, self._published, strict=True)
            if not published_only or published <= now
        ]

    def pending_count(self) -> int:
        """Return how many clicks are not visible yet (published in the future)."""
        now = time.time()
        while self._future and self._future[0] <= now:
            heapq.heappop(self._future)
        return len(self._future)

    def __len__(self) -> int:
        """Return the number of clicks, visible or not."""
        return len(self._dates)


def _with_copies(values: list[Any], originals: list[int]) -> list[Any]:
    """Return ``values`` with ``values[i]`` repeated once more for each ``i`` in ``originals``."""
    result: list[Any] = []
    previous = 0
    for index in originals:
        result.extend(values[previous : index + 1])
        result.append(values[index])
        previous = index + 1
    result.extend(values[previous:])
    return result
