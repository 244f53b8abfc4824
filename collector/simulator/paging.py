"""Queries, their snapshots and the opaque page tokens that walk them.

The first request of a query fixes a snapshot time: only clicks published by then
belong to the query, so every later page of the same pass sees the same stable
sequence even while late clicks keep arriving. A page token is base64url of
compact JSON carrying everything needed to continue (filter, snapshot, offset,
page size, issue time), so a client may omit ``data`` on later pages, as
Elastic's integration does.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from collector.simulator.logstore import LogDataset
from collector.simulator.query import Query

ROUTES = frozenset({"inbound", "outbound", "internal", "all"})
SCAN_RESULTS = frozenset({"clean", "malicious", "all"})
ATTACHMENT_RESULTS = frozenset({"safe", "malicious", "timeout", "error", "unsafe", "all"})
"""The attachment endpoint's ``result`` filter (kept in :attr:`Query.scan_result`)."""


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where a pass continues: its query, the offset, the page size, when issued.

    ``nonce`` makes a token a new string although it leads to the same place (the
    quirks that hand out a fresh token for the same page); 0 is left out of the text.
    """

    query: Query
    offset: int
    page_size: int
    issued_at: float
    nonce: int = 0

    def encode(self) -> str:
        """Return the opaque token string (base64url, no padding)."""
        q = self.query
        payload = {
            "v": 1,
            "q": [q.start, q.stop, q.route, q.scan_result, q.oldest_first, q.snapshot],
            "o": self.offset,
            "n": self.page_size,
            "i": self.issued_at,
        }
        if self.nonce:
            payload["s"] = self.nonce
        if q.kind != "url" or q.filters:
            # URL tokens keep their original text; the other endpoints' carry their kind.
            payload["k"] = q.kind
            payload["f"] = q.filters
        return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: Any) -> PageToken | None:
        """Return the token ``text`` stands for, or None if it is not one of ours."""
        if not isinstance(text, str) or not text:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            payload = orjson.loads(raw)
            start, stop, route, scan, oldest, snapshot = payload["q"]
            kind, filters = payload.get("k", "url"), _tupled(payload.get("f", ()))
            token = cls(
                Query(start, stop, route, scan, oldest, snapshot, kind, filters),
                payload["o"],
                payload["n"],
                payload["i"],
                payload.get("s", 0),
            )
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return token if payload.get("v") == 1 and _well_typed(token) else None


def _tupled(value: Any) -> Any:
    """JSON arrays back into the tuples a :class:`Query` hashes."""
    if isinstance(value, list | tuple):
        return tuple(_tupled(item) for item in value)
    return value


def _well_typed(token: PageToken) -> bool:
    q = token.query
    ints = (q.start, q.stop, token.offset, token.page_size, token.nonce)
    return (
        all(type(v) is int for v in ints)
        and token.offset >= 0
        and token.page_size >= 1
        and q.route in ROUTES
        and (q.scan_result in SCAN_RESULTS or q.scan_result in ATTACHMENT_RESULTS)
        and isinstance(q.kind, str)
        and isinstance(q.filters, tuple)
        and type(q.oldest_first) is bool
        and all(isinstance(v, int | float) for v in (q.snapshot, token.issued_at))
    )


class SnapshotCache:
    """The ordered results of the most recent queries, so each page is O(page size).

    A query evicted from the cache is rebuilt from the dataset; the result is the
    same because records published after the snapshot never count.

    Args:
        dataset: where records come from (one endpoint's).
        retention_secs: records older than this, relative to the snapshot, are gone
            (Mimecast keeps 30 days); None keeps everything.
        capacity: how many queries to keep.

    Attributes:
        capacity: how many queries are kept.
        rebuilds: how many times a query's results were computed (a cache miss).
    """

    def __init__(
        self, dataset: LogDataset, retention_secs: float | None = None, capacity: int = 16
    ) -> None:
        self._dataset = dataset
        self._retention = retention_secs
        self.capacity = capacity
        self._results: OrderedDict[Query, list[bytes]] = OrderedDict()
        self.rebuilds = 0

    def results(self, query: Query) -> list[bytes]:
        """Return the query's records, serialized, in the order they are served."""
        cached = self._results.get(query)
        if cached is not None:
            self._results.move_to_end(query)
            return cached
        self.rebuilds += 1
        start = query.start
        if self._retention is not None:
            start = max(start, int(query.snapshot - self._retention) + 1)
        ordered = self._dataset.select_matching(
            start=start,
            stop=query.stop,
            snapshot=query.snapshot,
            match=self._dataset.matcher(query),
        )
        if not query.oldest_first:
            ordered.reverse()
        self._results[query] = ordered
        if len(self._results) > self.capacity:
            self._results.popitem(last=False)
        return ordered
