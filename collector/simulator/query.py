"""A resolved get-logs query: what a pass reads, whatever the endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Query:
    """A resolved get-logs filter, in whole epoch seconds.

    Attributes:
        start: first second included (``from``, inclusive).
        stop: first second excluded (``to`` + 1 when ``to`` is inclusive).
        route: ``inbound``, ``outbound``, ``internal`` or ``all``.
        scan_result: the verdict filter: URL ``scanResult`` (``clean``,
            ``malicious``), attachment ``result`` (``safe``, ``malicious``, ...), or
            ``all``.
        oldest_first: ascending dates when true, newest first otherwise.
        snapshot: wall-clock time of the pass's first request.
        kind: the endpoint (``url``, ``attachment``, ``impersonation``); a token of
            one endpoint is refused by the others.
        filters: the endpoint's other filters as a hashable, JSON-able tuple (the
            impersonation endpoint's; empty for the others).
    """

    start: int
    stop: int
    route: str
    scan_result: str
    oldest_first: bool
    snapshot: float
    kind: str = "url"
    filters: tuple[Any, ...] = ()


__all__ = ["Query"]
