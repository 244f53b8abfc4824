"""Deciding which clicks of a page are new, without ever merging distinct clicks.

Mimecast click logs have no id and their dates are to the second, so two real
clicks can be byte-identical. A *set* of hashes would merge them; we keep a
*multiset* instead: for each content hash, how many copies were delivered.

Each window is read as one *pass*, oldest first. Within a pass we count the
copies of each click seen so far. The k-th copy (from 0) of a click is new when
k >= the number of copies already delivered, and its event id is
``<hash>-<k>``. Re-reading the same data therefore gives every copy the same
id again, and only the copies beyond what was delivered are sent.

Because a pass is sorted by date, once it has moved past a second that second
is complete: pass counts are kept only for the newest second (the *frontier*),
and delivered counts only for seconds that a later pass may read again, i.e.
from ``min(frontier, end of window - overlap_secs)`` on. Memory is bounded by
the clicks of the overlap horizon, whatever the backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.checkpoint import Delivered, Window
from collector.events import ClickLog, Event, content_hash, parse_mimecast_date


@dataclass(slots=True)
class Admission:
    """The outcome of one page: the new events and what was skipped."""

    events: list[Event] = field(default_factory=list)
    duplicates: int = 0
    undated: int = 0
    """Clicks without a readable ``date``: delivered, timed at the frontier."""
    out_of_order: int = 0
    """Clicks dated before the frontier (Mimecast should return oldest first)."""
    malformed: int = 0
    """Entries of clickLogs that are not JSON objects, so not click logs: skipped."""


def admit_page(
    clicks: list[ClickLog], window: Window, delivered: Delivered, source: str
) -> Admission:
    """Admit one page of a pass: update ``window`` and ``delivered``, return new events.

    Mutates the pass state in place; the caller persists it only after every sink
    has acknowledged the returned events (and discards it otherwise).
    """
    result = Admission()
    dates: dict[str, int] = {}
    pass_counts = window.pass_counts
    for click in clicks:
        if not isinstance(click, dict):
            result.malformed += 1
            continue
        date = _date_of(click, dates)
        if date is None:
            result.undated += 1
            date = window.frontier
        if date > window.frontier:
            # The pass moved on: every earlier second is complete.
            window.frontier = date
            pass_counts.clear()
        elif date < window.frontier:
            result.out_of_order += 1
        digest = content_hash(click)
        seen = pass_counts.get(digest, 0)
        pass_counts[digest] = seen + 1
        bucket = delivered.get(date)
        if bucket is None:
            bucket = delivered[date] = {}
        if seen < bucket.get(digest, 0):
            result.duplicates += 1
            continue
        bucket[digest] = seen + 1
        result.events.append(Event(source, f"{digest}-{seen}", date, click))
    return result


def _date_of(click: ClickLog, cache: dict[str, int]) -> int | None:
    raw = click.get("date")
    if not isinstance(raw, str):
        return None
    date = cache.get(raw)
    if date is None:
        try:
            date = cache[raw] = parse_mimecast_date(raw)
        except ValueError:
            return None
    return date


def prune(delivered: Delivered, keep_from: int) -> None:
    """Forget delivered counts for seconds before ``keep_from``: no pass reads them again."""
    for date in [d for d in delivered if d < keep_from]:
        del delivered[date]
