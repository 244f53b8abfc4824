"""The URL endpoint's click store (:class:`ClickDataset`), a :class:`LogDataset`.

Clicks are kept sorted by ``(date, insertion order)``, pre-serialized, with publish
times for late clicks; logstore.py has the mechanics shared by every endpoint.
"""

from __future__ import annotations

from typing import Any, ClassVar

from collector.simulator.generator import ClickFactory
from collector.simulator.logstore import ALL, LogDataset, PairFacetDataset, interned, pair_matcher

__all__ = ["ALL", "ClickDataset", "LogDataset"]


class ClickDataset(PairFacetDataset):
    """URL Protection click logs (``/api/ttp/url/get-logs``); facet ``(route, scanResult)``."""

    kind: ClassVar[str] = "url"
    verdict_field: ClassVar[str] = "scanResult"
    seed_namespace: ClassVar[str] = "dataset"

    def _make_records(
        self, dates: list[int], *, seed: int, rich: bool
    ) -> tuple[list[bytes], list[Any]]:
        made = ClickFactory(seed, rich=rich).make_many(dates)
        intern = self._pairs.setdefault
        facets = [intern(pair, pair) for pair in zip(made.routes, made.scans, strict=True)]
        return made.blobs, facets

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
