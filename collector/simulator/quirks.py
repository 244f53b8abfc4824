"""The quirk matrix: answers that differ from our assumptions, on the wire only.

Each quirk is a :class:`SimulatorConfig` field (and a ``simulate --quirk``), off by
default; docs/simulator.md describes them. A quirk never changes the dataset: the
clicks a pass can read, and so the ground truth, stay the same; only ``next``,
``totalCount``, the empty page's shape and the ``X-RateLimit-*`` headers change.

The CLI's ``--quirk NAME[=VALUE]`` names are in :data:`QUIRKS`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.simulator.config import SimulatorConfig
from collector.simulator.faults import HUGE_RESET_MS, QuotaConfig
from collector.simulator.paging import PageToken
from collector.simulator.query import Query

HeaderList = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class PageShape:
    """How one page goes on the wire.

    Attributes:
        pagination: ``meta.pagination``.
        bare_empty: an empty page is ``"data": []`` (Elastic's mock) rather than
            ``"data": [{"clickLogs": []}]``.
    """

    pagination: dict[str, Any]
    bare_empty: bool


@dataclass(frozen=True, slots=True)
class PagePosition:
    """Where a page stands in its pass.

    Attributes:
        query: the pass's query.
        offset: the page's first click in the pass's results.
        size: the pass's page size.
        count: clicks on this page.
        total: clicks in the pass's results.
        now: wall-clock seconds (tokens' issue time).
        sent_token: the pageToken the request carried, if any.
    """

    query: Query
    offset: int
    size: int
    count: int
    total: int
    now: float
    sent_token: str | None


class Pager:
    """Decides each page's ``meta.pagination``, quirks included.

    Args:
        config: the simulator's settings (the quirk fields).
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._nonces = itertools.count(1)

    def shape(self, at: PagePosition) -> PageShape:
        """Return the pagination of the page at ``at``."""
        config = self._config
        pagination: dict[str, Any] = {
            "pageSize": at.count,
            "totalCount": _shown_total(config.total_count, at.total),
        }
        following = self._next(at)
        if following is not None:
            pagination["next"] = following
        if at.offset > 0:
            previous = max(0, at.offset - at.size)
            pagination["previous"] = self._token(at.query, previous, at.size, at.now)
        return PageShape(pagination, bare_empty=config.empty_page == "fresh_token")

    def _next(self, at: PagePosition) -> str | None:
        config = self._config
        query, offset, size, count, now = at.query, at.offset, at.size, at.count, at.now
        end = offset + count
        last = count > 0 and end >= at.total
        if last and config.page_cycle != "none":
            back = 0 if config.page_cycle == "first" else max(0, offset - size)
            return self._token(query, back, size, now)
        if count > 0 and self._repeats(offset, size, last):
            return self._token(query, offset, size, now, fresh=True)
        if end < at.total:
            return self._token(query, end, size, now)
        if config.empty_page == "none":
            return None
        if count == 0 and config.empty_page == "same_token" and at.sent_token is not None:
            return at.sent_token
        return self._token(query, end, size, now, fresh=True)

    def _repeats(self, offset: int, size: int, last: bool) -> bool:
        start_page = self._config.endless_from_page
        if start_page is None:
            return False
        return last or (start_page > 0 and offset // size + 1 >= start_page)

    def _token(
        self, query: Query, offset: int, size: int, now: float, *, fresh: bool = False
    ) -> str:
        # A cycle must hand out the very strings the client saw before, so its tokens
        # do not depend on when they were issued.
        stable = self._config.page_cycle != "none"
        issued = query.snapshot if stable else now
        nonce = next(self._nonces) if fresh else 0
        return PageToken(query, offset, size, issued, nonce).encode()


def _shown_total(mode: str, total: int) -> int:
    return {"exact": total, "zero": 0, "double": 2 * total, "half": total // 2}[mode]


class HeaderDropper:
    """The ``ratelimit_headers_missing_*`` quirks: which answers lose ``X-RateLimit-*``.

    Args:
        config: the simulator's settings.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self._rate = config.ratelimit_headers_missing_rate
        self._every = config.ratelimit_headers_missing_every
        self._rng = random.Random(f"headers:{config.seed}")
        self._answers = 0

    def apply(self, status: int, headers: HeaderList) -> HeaderList:
        """Return the headers to send with an answer of ``status``."""
        if status == 429 or (self._rate <= 0 and self._every <= 0):
            return headers
        self._answers += 1
        every = self._every > 0 and self._answers % self._every == 0
        if every or (self._rate > 0 and self._rng.random() < self._rate):
            return [(n, v) for n, v in headers if not n.lower().startswith("x-ratelimit-")]
        return headers


def exhausted_headers(quota: QuotaConfig | None) -> HeaderList:
    """The headers of ``quota_exhausted_huge_reset``: nothing left for 27.8 hours."""
    limit = quota.limit if quota is not None else 10_000
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", str(HUGE_RESET_MS)),
    ]


def _choice(field: str, choices: tuple[str, ...], bare: str | None = None) -> QuirkParser:
    def parse(value: str | None) -> tuple[str, Any]:
        chosen = bare if value is None else value
        if chosen not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return field, chosen

    return parse


def _number(field: str, kind: Callable[[str], Any]) -> QuirkParser:
    def parse(value: str | None) -> tuple[str, Any]:
        if value is None:
            raise ValueError("needs a value")
        return field, kind(value)

    return parse


def _endless(value: str | None) -> tuple[str, Any]:
    if value in (None, "last"):
        return "endless_from_page", -1
    return "endless_from_page", int(value)


QuirkParser = Callable[[str | None], tuple[str, Any]]

QUIRKS: dict[str, tuple[QuirkParser, str]] = {
    "empty_page": (
        _choice("empty_page", ("none", "same_token", "fresh_token", "size0_next")),
        "=same_token|fresh_token|size0_next: the pass ends with an empty page carrying next",
    ),
    "token_ttl": (
        _number("page_token_ttl_secs", float),
        "=SECS: page tokens older than this are refused",
    ),
    "total_count": (
        _choice("total_count", ("exact", "zero", "double", "half")),
        "=zero|double|half: totalCount disagrees with the data",
    ),
    "to": (
        _choice("to_inclusive", ("inclusive", "exclusive")),
        "=inclusive|exclusive: whether the 'to' second is included",
    ),
    "cycle": (
        _choice("page_cycle", ("none", "previous", "first"), bare="previous"),
        "[=previous|first]: the last page's next points back to an earlier page's token",
    ),
    "endless": (
        _endless,
        "[=last|N]: from page N (or the last page) on, the same clicks repeat "
        "forever with fresh tokens",
    ),
    "headers_missing": (
        _number("ratelimit_headers_missing_rate", float),
        "=RATE: share of answers without X-RateLimit-* headers",
    ),
    "headers_missing_every": (
        _number("ratelimit_headers_missing_every", int),
        "=K: every k-th answer has no X-RateLimit-* headers",
    ),
}
"""``--quirk`` name -> (parser of its value into a config field, help text)."""


def parse_quirk(text: str) -> tuple[str, Any]:
    """Turn ``NAME[=VALUE]`` into ``(SimulatorConfig field, value)``.

    Raises:
        ValueError: unknown name or bad value; the message names the quirk.
    """
    name, sep, value = text.partition("=")
    entry = QUIRKS.get(name)
    if entry is None:
        raise ValueError(f"unknown quirk {name!r}; known: {', '.join(QUIRKS)}")
    try:
        field, parsed = entry[0](value if sep else None)
    except ValueError as error:
        raise ValueError(f"quirk {name}: {error} (got {text!r})") from None
    if field == "to_inclusive":
        parsed = parsed == "inclusive"
    return field, parsed
