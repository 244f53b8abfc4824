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

Admission is pure: :func:`admit_page` decides, and
:meth:`~collector.checkpoint.Checkpoint.record_page` records the decision once
every sink acknowledged the page. A slice of a catch-up pass
(``Window.keep_until``) leaves the clicks of the next slice's seconds alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.checkpoint import Delivered, PageProgress, Window
from collector.events import ClickLog, Event, content_hash, parse_mimecast_date


@dataclass(slots=True)
class Admission:
    """What one page brings: the new events, and the dedup state once they are delivered."""

    events: list[Event] = field(default_factory=list)
    duplicates: int = 0
    undated: int = 0
    """Clicks without a readable ``date``: delivered, timed at the frontier."""
    out_of_order: int = 0
    """Clicks dated before the frontier (Mimecast should return oldest first)."""
    malformed: int = 0
    """Entries of clickLogs that are not JSON objects, so not click logs: skipped."""
    out_of_window: int = 0
    """Clicks dated outside the pass (before the window, after the pass's end, e.g. in
    2099): delivered, but timed at the frontier like undated ones; their date never
    moves the frontier, so one wrong date can never make the pass skip the rest."""
    foreign: int = 0
    """Clicks dated in a later slice's range: that slice delivers them."""
    progress: PageProgress = field(default_factory=lambda: PageProgress(0, {}))
    """The window's dedup state once these events are acknowledged."""

    @property
    def frontier(self) -> int:
        """The window's frontier once these events are acknowledged."""
        return self.progress.frontier


def admit_page(
    clicks: list[ClickLog],
    window: Window,
    delivered: Delivered,
    source: str,
    *,
    horizon: int | None = None,
    date_field: str = "date",
    kind: str = "url",
) -> Admission:
    """Decide which clicks of one page of ``window`` are new. Changes nothing.

    ``horizon`` is the end of the whole pass (default: the window's end); a click
    dated after it, or before the window's start, is out of the window.

    ``date_field`` names the record's date (``date``; ``eventTime`` for some
    endpoints). The returned admission carries the dedup state as it will be once
    its events are acknowledged (``progress``). Until then the window and the
    delivered multiset stay as the checkpoint has them, so a concurrent
    checkpoint write (another slice) can never record an unacknowledged page.
    """
    result = Admission(progress=PageProgress(window.frontier, dict(window.pass_counts)))
    dates: dict[str, int] = {}
    progress = result.progress
    pass_counts, updates, events = progress.pass_counts, progress.updates, result.events
    keep_until = window.keep_until
    frontier = window.frontier
    earliest = window.start
    latest = window.end if horizon is None else max(horizon, window.end)
    for click in clicks:
        if not isinstance(click, dict):
            result.malformed += 1
            continue
        # Inline cache lookup: one dict probe per click on the hot path.
        date = dates.get(click.get(date_field))  # type: ignore[arg-type]
        if date is None:
            date = _date_of(click.get(date_field), dates)
        if date is None:
            result.undated += 1
            date = frontier
        elif date > latest or date < earliest:
            result.out_of_window += 1
            date = frontier
        elif keep_until is not None and date >= keep_until:
            result.foreign += 1
            continue
        if date > frontier:
            # The pass moved on: every earlier second is complete.
            frontier = date
            pass_counts.clear()
        elif date < frontier:
            result.out_of_order += 1
        digest = content_hash(click)
        seen = pass_counts.get(digest, 0)
        pass_counts[digest] = seen + 1
        key = (date, digest)
        have = updates.get(key)
        if have is None:
            bucket = delivered.get(date)
            have = bucket.get(digest, 0) if bucket is not None else 0
        if seen < have:
            result.duplicates += 1
            continue
        updates[key] = seen + 1
        events.append(Event(source, f"{digest}-{seen}", date, click, kind))
    progress.frontier = frontier
    return result


def _date_of(raw: object, cache: dict[str, int]) -> int | None:
    if not isinstance(raw, str):
        return None
    date = cache.get(raw)
    if date is None:
        try:
            date = cache[raw] = parse_mimecast_date(raw)
        except (ValueError, OverflowError, OSError):
            return None
    return date
