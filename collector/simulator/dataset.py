"""The URL endpoint's click store (:class:`ClickDataset`), a :class:`LogDataset`.

Clicks are kept sorted by ``(date, insertion order)``, pre-serialized, with publish
times for late clicks; logstore.py has the mechanics shared by every endpoint.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar

from collector.simulator.generator import ClickFactory
from collector.simulator.logstore import ALL, LogDataset, Matcher, interned, pair_matcher

if TYPE_CHECKING:
    from collector.simulator.query import Query

__all__ = ["ALL", "ClickDataset", "LogDataset"]


class ClickDataset(LogDataset):
    """URL Protection click logs (``/api/ttp/url/get-logs``); facet ``(route, scanResult)``."""

    kind: ClassVar[str] = "url"

    def __init__(self) -> None:
        super().__init__()
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}

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
        pairs: dict[tuple[str, str], tuple[str, str]] = {}

        def make(dates: list[int]) -> tuple[list[bytes], list[Any]]:
            made = ClickFactory(seed, rich=rich).make_many(dates)
            intern = pairs.setdefault
            facets = [intern(pair, pair) for pair in zip(made.routes, made.scans, strict=True)]
            return made.blobs, facets

        dataset = cls._generated(
            count,
            start=start,
            end=end,
            rng=random.Random(f"dataset:{seed}"),
            duplicate_fraction=duplicate_fraction,
            burst_fraction=burst_fraction,
            make=make,
        )
        dataset._pairs = pairs
        return dataset

    def facet_of(self, record: dict[str, Any]) -> Any:
        """Return ``(route, scanResult)``."""
        route, scan = str(record.get("route", "")), str(record.get("scanResult", ""))
        return interned(self._pairs, route, scan)

    def matcher(self, query: Query) -> Matcher | None:
        """Test ``route`` and ``scanResult``."""
        return pair_matcher(query.route, query.scan_result)

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
        facet = interned(self._pairs, route, scan_result)
        self.insert_serialized(blob, date=date, facet=facet, published_at=published_at)

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

        Returns:
            A new list the caller may keep or reorder.
        """
        return self.select_matching(
            start=start, stop=stop, snapshot=snapshot, match=pair_matcher(route, scan_result)
        )
