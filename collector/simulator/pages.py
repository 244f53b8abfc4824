"""One endpoint's pages on the wire: its records' snapshot cache and envelope bytes.

A page body is a single ``b",".join`` of pre-serialized records, with the envelope
folded into the first and last one: the simulator must stay cheap next to the
collector it measures (performance.md section 4). Only the key of ``data[0]``
(``clickLogs``, ``attachmentLogs``, ``impersonationLogs``) and the impersonation
endpoint's ``resultCount`` differ between endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from collector.simulator.config import SimulatorStats
from collector.simulator.httpserver import Response
from collector.simulator.kinds import URL, LogKind
from collector.simulator.logstore import LogDataset
from collector.simulator.paging import SnapshotCache
from collector.simulator.query import Query
from collector.simulator.quirks import PagePosition, Pager

_PAGE_HEAD = b'{"meta":{"status":200,"pagination":'
_LOGS_CLOSE = b']}],"fail":[]}'
_EMPTY_TAIL = b'},"data":[],"fail":[]}'


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint's kind, its records' snapshot cache and its page envelope bytes."""

    kind: LogKind
    cache: SnapshotCache
    logs_open: bytes

    @classmethod
    def of(cls, kind: LogKind, dataset: LogDataset, retention_secs: float | None) -> Endpoint:
        """Return the endpoint serving ``dataset`` as ``kind``."""
        logs_open = b'},"data":[{"' + kind.data_key.encode() + b'":['
        return cls(kind, SnapshotCache(dataset, retention_secs), logs_open)

    def logs_close(self, total: int) -> bytes:
        """The bytes after the last record: ``resultCount`` where the endpoint has one."""
        if self.kind.result_count:
            return b'],"resultCount":%d}],"fail":[]}' % total
        return _LOGS_CLOSE

    def page(
        self,
        query: Query,
        *,
        offset: int,
        size: int,
        now: float,
        headers: list[tuple[str, str]],
        sent_token: str | None,
        pager: Pager,
        stats: SimulatorStats,
    ) -> Response:
        """Return the page of ``size`` records at ``offset`` of ``query``'s results."""
        results = self.cache.results(query)
        page = results[offset : offset + size]
        shape = pager.shape(
            PagePosition(query, offset, size, len(page), len(results), now, sent_token)
        )
        head = _PAGE_HEAD + orjson.dumps(shape.pagination)
        logs_open, logs_close = self.logs_open, self.logs_close(len(results))
        if not page:
            # Elastic's mock answers the empty page of its quirk with a bare "data": [].
            tail = _EMPTY_TAIL if shape.bare_empty else logs_open + logs_close
            body = head + tail
        elif len(page) == 1:
            body = b"".join((head, logs_open, page[0], logs_close))
        else:
            # Fold the envelope into the first and last record so the page is copied
            # once, by a single join.
            page[0] = head + logs_open + page[0]
            page[-1] = page[-1] + logs_close
            body = b",".join(page)
        stats.pages_served += 1
        stats.records_served[self.kind.name] += len(page)
        if self.kind is URL:
            stats.clicks_served += len(page)
        return Response(200, body, headers=headers)
