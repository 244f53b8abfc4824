"""The simulator's record stores: what Mimecast "has", and when each record became visible.

One :class:`LogDataset` holds the records of one endpoint (URL clicks, attachment
scans, impersonation hits), kept sorted by ``(date, insertion order)`` in parallel
lists, each already serialized as orjson bytes, so a page is a list slice and a
``join``. Every record also has a publish time: a record is visible to queries only
from then on, which is how late-arriving records (published after their own date)
are simulated. Each record carries a small *facet*, the values its endpoint's
filters look at, so filtering never parses JSON. :meth:`LogDataset.truth` is the
ground truth tests compare against.

``dataset.py`` has the URL store (:class:`ClickDataset`), ``ttp_datasets.py`` the
attachment and impersonation stores.
"""

from __future__ import annotations

import heapq
import random
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Self

import orjson

from collector.events import parse_mimecast_date
from collector.simulator.generator import compact_bytes, spread_dates

if TYPE_CHECKING:
    from collector.simulator.query import Query

ALL = "all"
"""The filter value that matches everything (``route``, ``scanResult``, ``result``)."""

Matcher = Callable[[Any], bool]
"""A test on a record's facet; None stands for "matches everything"."""


class LogDataset:
    """Records of one endpoint sorted by (date, insertion order), pre-serialized for serving.

    Subclasses say which field holds the date (:attr:`date_field`), what a record's
    facet is (:meth:`facet_of`) and how a query filters facets (:meth:`matcher`).

    Not thread-safe: a running simulator owns it from its event loop (use
    ``SimulatorThread.call`` from other threads).
    """

    kind: ClassVar[str] = ""
    """The endpoint kind (``url``, ``attachment``, ``impersonation``)."""
    date_field: ClassVar[str] = "date"
    """The record field that holds its Mimecast date."""
    seed_namespace: ClassVar[str] = ""
    """Seeds :meth:`generate`'s random choices, so each endpoint's data differs."""

    def __init__(self) -> None:
        self._dates: list[int] = []
        self._blobs: list[bytes] = []
        self._facets: list[Any] = []
        self._published: list[float] = []
        self._max_published = float("-inf")
        # Publish times still in the future, as a heap, so pending_count stays cheap.
        self._future: list[float] = []

    def facet_of(self, record: dict[str, Any]) -> Any:
        """Return the values of ``record`` that this endpoint's filters look at."""
        raise NotImplementedError

    def matcher(self, query: Query) -> Matcher | None:
        """Return the facet test of ``query``; None when it keeps every record."""
        raise NotImplementedError

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
    ) -> Self:
        """Make exactly ``count`` realistic records, all already visible.

        Args:
            count: number of records, copies included.
            start: earliest date (epoch seconds, inclusive).
            end: latest date (epoch seconds, inclusive).
            seed: the same seed gives byte-identical records.
            duplicate_fraction: share of records that are byte-identical copies of
                another record (same date, same everything).
            burst_fraction: share of distinct records that come in same-second bursts
                of 2 to 20.
            rich: include the fields seen in API 2.0 data, not only those Mimecast
                documents (URL clicks: 12); endpoints without the difference ignore it.

        Returns:
            The new dataset.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        if not 0.0 <= duplicate_fraction < 1.0 or not 0.0 <= burst_fraction <= 1.0:
            raise ValueError("duplicate_fraction must be in [0, 1), burst_fraction in [0, 1]")
        rng = random.Random(f"{cls.seed_namespace}:{seed}")
        # At least one original whenever there is anything to copy.
        duplicates = min(round(count * duplicate_fraction), max(count - 1, 0))
        distinct = count - duplicates
        dates = spread_dates(rng, distinct, int(start), int(end), burst_fraction)
        dataset = cls()
        blobs, facets = dataset._make_records(dates, seed=seed, rich=rich)
        if duplicates and distinct:
            # Each copy goes right after its original: same date, so order stays sorted.
            originals = sorted(rng.randrange(distinct) for _ in range(duplicates))
            dates, blobs, facets = (
                _with_copies(values, originals) for values in (dates, blobs, facets)
            )
        dataset._dates, dataset._blobs, dataset._facets = dates, blobs, facets
        # One shared float: generated records were published "long ago".
        published = 0.0
        dataset._published = [published] * len(dates)
        dataset._max_published = published
        return dataset

    def _make_records(
        self, dates: list[int], *, seed: int, rich: bool
    ) -> tuple[list[bytes], list[Any]]:
        """Make one serialized record and its facet per date, for :meth:`generate`."""
        raise NotImplementedError

    def add(self, record: dict[str, Any], *, published_at: float | None = None) -> None:
        """Insert one record.

        Args:
            record: a log record; its date field must parse as a Mimecast date.
            published_at: wall-clock time (``time.time()``) from which queries see
                it; None means now.
        """
        self.insert_serialized(
            compact_bytes(orjson.dumps(record)),
            date=parse_mimecast_date(record[self.date_field]),
            facet=self.facet_of(record),
            published_at=published_at,
        )

    def extend(
        self, records: Iterable[dict[str, Any]], *, published_at: float | None = None
    ) -> None:
        """Insert many records, all published at ``published_at`` (None = now)."""
        when = time.time() if published_at is None else published_at
        for record in records:
            self.add(record, published_at=when)

    def insert_serialized(
        self, blob: bytes, *, date: int, facet: Any, published_at: float | None = None
    ) -> None:
        """Insert one record already serialized as JSON bytes, with its facet."""
        when = time.time() if published_at is None else published_at
        # bisect_right keeps insertion order among records of the same second. New
        # records land at or near the end, so the list inserts move little.
        index = bisect_right(self._dates, date)
        self._dates.insert(index, date)
        self._blobs.insert(index, blob)
        self._facets.insert(index, facet)
        self._published.insert(index, when)
        self._max_published = max(self._max_published, when)
        if when > time.time():
            heapq.heappush(self._future, when)

    def select_matching(
        self, *, start: int, stop: int, snapshot: float, match: Matcher | None
    ) -> list[bytes]:
        """Return the matching records, oldest first, as serialized bytes.

        Args:
            start: first epoch second included.
            stop: first epoch second excluded.
            snapshot: only records published at or before this wall-clock time count.
                Records added later are never visible at an earlier snapshot, so the
                result for a given snapshot never changes.
            match: the facet test, or None for every record.

        Returns:
            A new list the caller may keep or reorder.
        """
        lo = bisect_left(self._dates, start)
        hi = bisect_left(self._dates, stop, lo)
        blobs = self._blobs[lo:hi]
        if match is None and self._max_published <= snapshot:
            return blobs  # the common case: a slice, no per-record Python work
        return [
            blob
            for blob, facet, published in zip(
                blobs, self._facets[lo:hi], self._published[lo:hi], strict=True
            )
            if published <= snapshot and (match is None or match(facet))
        ]

    def truth(self, *, published_only: bool = True) -> list[dict[str, Any]]:
        """Return the records (parsed), oldest first.

        Args:
            published_only: only records visible now; False includes pending ones.
        """
        return [record for _, record in self.timeline(published_only=published_only)]

    def timeline(self, *, published_only: bool = True) -> list[tuple[float, dict[str, Any]]]:
        """Return ``(published_at, record)`` pairs, oldest date first."""
        now = time.time()
        return [
            (published, orjson.loads(blob))
            for blob, published in zip(self._blobs, self._published, strict=True)
            if not published_only or published <= now
        ]

    def pending_count(self) -> int:
        """Return how many records are not visible yet (published in the future)."""
        now = time.time()
        while self._future and self._future[0] <= now:
            heapq.heappop(self._future)
        return len(self._future)

    def __len__(self) -> int:
        """Return the number of records, visible or not."""
        return len(self._dates)


class PairFacetDataset(LogDataset):
    """A store whose filters are ``route`` and one verdict field; facet ``(route, verdict)``."""

    verdict_field: ClassVar[str] = ""
    """The record field beside ``route`` that the endpoint filters on."""

    def __init__(self) -> None:
        super().__init__()
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}

    def facet_of(self, record: dict[str, Any]) -> Any:
        """Return ``(route, verdict)``."""
        route, verdict = str(record.get("route", "")), str(record.get(self.verdict_field, ""))
        return interned(self._pairs, route, verdict)

    def matcher(self, query: Query) -> Matcher | None:
        """Test ``route`` and the verdict (kept in ``query.scan_result``)."""
        return pair_matcher(query.route, query.scan_result)


def interned(cache: dict[tuple[str, str], tuple[str, str]], a: str, b: str) -> tuple[str, str]:
    """Return one shared ``(a, b)`` tuple per distinct pair, so a million facets cost pointers."""
    pair = (a, b)
    return cache.setdefault(pair, pair)


def pair_matcher(first: str, second: str) -> Matcher | None:
    """Return the test of a ``(route, verdict)`` facet against two filters (``all`` = any)."""
    if first == ALL and second == ALL:
        return None
    if first == ALL:
        return lambda facet: bool(facet[1] == second)
    if second == ALL:
        return lambda facet: bool(facet[0] == first)
    return lambda facet: bool(facet[0] == first and facet[1] == second)


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
