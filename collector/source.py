"""The Source seam: what the engine needs from an endpoint, and nothing more.

The engine (windows, paging rules, dedup, delivery, checkpoint) reads any endpoint
that pages through time windows with opaque page tokens. A source fetches one page
of a window and states a few facts about its endpoint; everything specific to an
API (authentication, request bodies, error envelopes, quotas) stays behind it, in
its own package (``collector.sources.mimecast``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from collector.gate import BackpressureGate
from collector.polling import PollBudget
from collector.stats import SourceStats

Record = dict[str, Any]
"""One log record as the endpoint returned it (parsed JSON)."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records as the endpoint returned it, oldest first."""

    records: list[Record]
    next_token: str | None
    request_id: str


@dataclass(frozen=True, slots=True)
class EndpointFacts:
    """What the engine must know about an endpoint.

    Attributes:
        kind: the kind of record (``url``), for logs, metrics and sinks.
        retention_secs: how far back records can still be read.
        date_field: the record field that dates it (``date``, or ``eventTime``).
    """

    kind: str
    retention_secs: int
    date_field: str


class PollingSettings(Protocol):
    """The engine's settings, which every source's config model carries."""

    @property
    def interval_secs(self) -> int | None: ...
    @property
    def lag_secs(self) -> int: ...
    @property
    def poll_overlap_secs(self) -> int: ...
    @property
    def overlap_secs(self) -> int: ...
    @property
    def late_sweep_secs(self) -> int: ...
    @property
    def initial_lookback_secs(self) -> int: ...
    @property
    def catchup_slice_secs(self) -> int: ...
    @property
    def catchup_parallel(self) -> int: ...
    @property
    def checkpoint_interval_secs(self) -> float: ...


class Source(Protocol):
    """An endpoint the engine can read (see the module doc)."""

    name: str
    stats: SourceStats
    facts: EndpointFacts
    gate: BackpressureGate
    """The endpoint's backpressure gate (shared by every source of one credential)."""
    poll_budget: PollBudget
    """The live polling budget (shared by every source of one credential)."""

    async def fetch(self, window_from: int, window_to: int, page_token: str | None) -> Page:
        """One page of [window_from, window_to] (epoch seconds); retried inside."""
        ...

    async def check(self) -> str:
        """Authenticate and read a little; what was verified, for ``check``. Raises the
        error a cycle would meet."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
