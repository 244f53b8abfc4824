r"""The per-source checkpoint, and every transition it can make.

A checkpoint records how far a source has delivered:

- ``cursor``: where the next pass starts (the end of the last finished pass);
  None before the first pass ever finished;
- the pass in progress, if any: ``pass_start``, ``target`` (its end) and its
  ``windows`` (slices), each with its page token and frontier, so a restart
  resumes mid-window instead of re-reading it;
- ``delivered``: the multiset of records already delivered over the overlap
  horizon (see :mod:`collector.dedup`);
- ``not_before``: no window ever starts earlier.

Only four transitions change it, all below, and the reader (:mod:`collector.passes`)
saves it (:mod:`collector.store`) after each one::

    (idle) --begin_pass--> (pass) --record_page--> (pass) ... --finish_pass--> (idle)
                              \--restart_window--/

A crash between any two leaves the last saved state, which is consistent: at worst
the page being delivered is delivered again, with the same event ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from collector.events import format_iso, format_iso_or_none, parse_iso

SCHEMA_VERSION = 1

Delivered = dict[int, dict[str, int]]
"""Click date (epoch seconds) -> content hash -> copies delivered."""


@dataclass(slots=True)
class Window:
    """A window [start, end] (epoch seconds) being read page by page, oldest first.

    During a catch-up a pass is cut into several windows (slices) read at once;
    each slice delivers only the clicks dated before its ``keep_until`` (the next
    slice's start), so the slices share no click whatever Mimecast's ``to`` means.
    """

    start: int
    end: int
    page_token: str | None = None
    frontier: int = 0
    """The latest click date delivered in this window; every earlier second is complete."""
    pass_counts: dict[str, int] = field(default_factory=dict)
    """Copies of each click at ``frontier`` seen so far in this pass."""
    keep_until: int | None = None
    """Clicks dated at or after this belong to the next slice; None: keep up to ``end``."""

    def __post_init__(self) -> None:
        self.frontier = max(self.frontier, self.start)

    @property
    def last_second(self) -> int:
        """The last second whose clicks this window delivers."""
        return self.end if self.keep_until is None else self.keep_until - 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, dates as RFC 3339."""
        return {
            "from": format_iso(self.start),
            "to": format_iso(self.end),
            "page_token": self.page_token,
            "frontier": format_iso(self.frontier),
            "pass_counts": self.pass_counts,
            "keep_until": None if self.keep_until is None else format_iso(self.keep_until),
        }

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> Window:
        """Inverse of :meth:`to_dict`."""
        token, keep_until = item["page_token"], item["keep_until"]
        return cls(
            start=parse_iso(item["from"]),
            end=parse_iso(item["to"]),
            page_token=str(token) if token is not None else None,
            frontier=parse_iso(item["frontier"]),
            pass_counts={str(k): int(v) for k, v in item["pass_counts"].items()},
            keep_until=None if keep_until is None else parse_iso(keep_until),
        )


@dataclass(slots=True)
class PageProgress:
    """What one page does to its window once every sink acknowledged it.

    Made by :func:`collector.dedup.admit_page`, applied by :meth:`Checkpoint.record_page`.
    """

    frontier: int
    pass_counts: dict[str, int]
    updates: dict[tuple[int, str], int] = field(default_factory=dict)
    """(date, hash) -> copies delivered once this page is acknowledged."""


def _epoch_or_none(text: str | None) -> int | None:
    return None if text is None else parse_iso(text)


@dataclass(slots=True)
class Checkpoint:
    """Everything a source needs to continue exactly where it left off.

    A *pass* reads [``pass_start``, ``target``] as one or more windows; windows
    are removed as they finish, and when none is left ``cursor`` becomes
    ``target``.
    """

    source: str
    cursor: int | None = None
    target: int | None = None
    pass_start: int | None = None
    windows: list[Window] = field(default_factory=list)
    delivered: Delivered = field(default_factory=dict)
    not_before: int | None = None
    """No window starts earlier: the first start, or `checkpoint reset --from`."""

    def to_json(self) -> bytes:
        """Serialize (dates as RFC 3339 for humans; dedup buckets keyed by epoch)."""
        document = {
            "schema": SCHEMA_VERSION,
            "source": self.source,
            "cursor": format_iso_or_none(self.cursor),
            "not_before": format_iso_or_none(self.not_before),
            "pass": None
            if self.target is None
            else {
                "from": format_iso_or_none(self.pass_start),
                "to": format_iso(self.target),
                "windows": [window.to_dict() for window in self.windows],
            },
            "delivered": {str(date): counts for date, counts in self.delivered.items()},
        }
        return orjson.dumps(document)

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> Checkpoint:
        """Parse a checkpoint; raises ValueError/KeyError/TypeError when malformed."""
        document: dict[str, Any] = orjson.loads(raw)
        schema = document["schema"]
        if schema != SCHEMA_VERSION:
            raise ValueError(
                f"schema version {schema} is not supported by this version "
                f"(expects {SCHEMA_VERSION})"
            )
        if document["source"] != source:
            raise ValueError(f"it belongs to source {document['source']!r}")
        current = document["pass"]
        delivered = {
            int(date): {str(h): int(n) for h, n in counts.items()}
            for date, counts in document["delivered"].items()
        }
        return cls(
            source=source,
            cursor=_epoch_or_none(document["cursor"]),
            not_before=_epoch_or_none(document["not_before"]),
            target=None if current is None else parse_iso(current["to"]),
            pass_start=None if current is None else _epoch_or_none(current["from"]),
            windows=[] if current is None else [Window.from_dict(w) for w in current["windows"]],
            delivered=delivered,
        )

    def progress(self) -> float:
        """How much of the pass in progress is delivered, from 0 to 1."""
        if self.target is None or self.pass_start is None:
            return 1.0
        span = max(self.target - self.pass_start, 1)
        left = sum(max(w.last_second - w.frontier, 0) for w in self.windows)
        return min(max(1.0 - left / span, 0.0), 1.0)

    # --- the transitions: the only code that changes a checkpoint -------------------

    def begin_pass(self, windows: list[Window], start: int, end: int) -> None:
        """Start reading [start, end] as ``windows``; the first pass fixes ``not_before``."""
        if self.target is not None:
            raise ValueError("a pass is already in progress")
        if self.not_before is None:
            self.not_before = start
        self.windows, self.pass_start, self.target = windows, start, end

    def record_page(
        self,
        window: Window,
        progress: PageProgress,
        next_token: str | None,
        overlap_secs: int,
    ) -> None:
        """Every sink acknowledged a page of ``window``; None for ``next_token``: it was
        the window's last page."""
        window.frontier = progress.frontier
        window.pass_counts = progress.pass_counts
        for (date, digest), count in progress.updates.items():
            bucket = self.delivered.get(date)
            if bucket is None:
                bucket = self.delivered[date] = {}
            bucket[digest] = count
        # Seconds of this window before its frontier are complete, and no later pass
        # reads them unless they are inside the next overlap.
        keep_from = (self.target if self.target is not None else window.end) - overlap_secs
        prune(self.delivered, min(window.frontier, keep_from), window.start)
        if next_token is None:
            self.windows.remove(window)
        else:
            window.page_token = next_token

    def restart_window(self, window: Window) -> None:
        """Mimecast refused the window's page token: read it again from its frontier.

        Every second before the frontier is complete; the frontier second itself is
        read again and its delivered copies are recognised by dedup. The frontier never
        passes the window's end (dates outside the window are not trusted), so the
        re-read always covers the rest of the window.
        """
        window.start = min(window.frontier, window.end)
        window.page_token = None
        window.pass_counts = {}

    def finish_pass(self, overlap_secs: int) -> None:
        """Every window is read: the cursor moves to the pass's end."""
        if self.target is None or self.windows:
            raise ValueError("no finished pass to close")
        self.cursor = self.target
        prune(self.delivered, self.target - overlap_secs)
        self.target = self.pass_start = None
        self.windows = []


def prune(delivered: Delivered, stop: int, start: int | None = None) -> None:
    """Forget delivered counts for seconds in [start, stop): no pass reads them again."""
    for date in [d for d in delivered if d < stop and (start is None or d >= start)]:
        del delivered[date]
