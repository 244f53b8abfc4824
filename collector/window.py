"""Choosing the next pass to read, and cutting a long one into slices.

A pass reads [start, end] in whole seconds. ``end = now - lag_secs``, frozen
while paging. The first pass starts ``initial_lookback_secs`` ago; every later
one starts a little before the end of the previous one (``reread_secs``, chosen
by the caller: ``poll_overlap_secs`` for a poll, the whole late-click horizon for
a late sweep), so clicks that Mimecast published late are read again and caught
(dedup drops the rest).
The endpoint keeps records for a limited time (Mimecast: 30 days), so no pass
starts earlier than that.

A pass longer than ``catchup_slice_secs`` (a collector that was down, a new
tenant) is cut into up to ``catchup_parallel`` slices read at the same time;
once caught up, passes are short and read as a single window again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from collector.checkpoint import Checkpoint, Window
from collector.errors import CheckpointError
from collector.events import format_iso
from collector.source import PollingSettings

# Stay clear of the retention edge: clicks there may vanish while we page.
RETENTION_MARGIN_SECS = 600
# A checkpoint this far ahead of the clock was written by a clock that ran ahead.
CLOCK_SLACK_SECS = 300


@dataclass(frozen=True, slots=True)
class Plan:
    """The next pass, and what could not be read any more, if anything."""

    windows: list[Window]
    """Empty: nothing new to read yet (the end has not moved past the cursor)."""
    start: int = 0
    end: int = 0
    gap: tuple[int, int] | None = None
    """[from, to) of clicks lost to retention because the checkpoint is too old."""
    clamped_lookback: bool = False


def slice_range(start: int, end: int, count: int) -> list[Window]:
    """Cut [start, end] into ``count`` windows that share no click.

    Each slice but the last asks Mimecast for ``to = <next slice's start>`` and
    keeps only clicks dated before it, so the boundary second is read whether
    Mimecast's ``to`` is inclusive or not, and delivered by exactly one slice.
    """
    count = max(1, min(count, end - start + 1))
    bounds = [start + (end - start) * i // count for i in range(count)] + [end]
    windows = []
    for i in range(count):
        last = i == count - 1
        windows.append(Window(bounds[i], bounds[i + 1], keep_until=None if last else bounds[i + 1]))
    return windows


def catchup_slices(start: int, end: int, config: PollingSettings) -> list[Window]:
    """One window, or several when the pass is longer than ``catchup_slice_secs``."""
    span = end - start
    if config.catchup_parallel <= 1 or span <= config.catchup_slice_secs:
        return [Window(start, end)]
    count = min(config.catchup_parallel, math.ceil(span / config.catchup_slice_secs))
    return slice_range(start, end, count)


def check_clock(checkpoint: Checkpoint, now: float) -> None:
    """Refuse a checkpoint that is ahead of the clock, instead of idling silently.

    A clock that ran ahead and was corrected leaves a cursor in the future: trusting
    it would read nothing until the clock catches up, and the clicks of the time the
    clock skipped were never read at all. Only the operator knows where to resume.
    """
    ahead = max((t for t in (checkpoint.cursor, checkpoint.target) if t is not None), default=None)
    if ahead is not None and ahead > now + CLOCK_SLACK_SECS:
        raise CheckpointError(
            f"source {checkpoint.source}: the checkpoint reaches {format_iso(ahead)}, which is "
            f"ahead of this machine's clock ({format_iso(now)}); was the clock ahead when it was "
            "written? Nothing is collected until it is reset: run `mimecast-collector checkpoint "
            f"reset -c CONFIG --source {checkpoint.source} --from <the last time you trust>`"
        )


def plan_next_pass(
    checkpoint: Checkpoint,
    config: PollingSettings,
    now: float,
    retention_secs: int,
    reread_secs: int | None = None,
) -> Plan:
    """Plan the pass a cycle should read next, when none is in progress. Pure: the
    caller begins it (:meth:`Checkpoint.begin_pass`) when it has windows.

    The pass starts ``reread_secs`` (default ``overlap_secs``) before the cursor.
    """
    end = int(now) - config.lag_secs
    oldest_readable = int(now) - retention_secs + RETENTION_MARGIN_SECS
    gap = None
    clamped = False
    if checkpoint.cursor is None:
        start = checkpoint.not_before
        if start is None:
            start = end - config.initial_lookback_secs
        clamped = start < oldest_readable
        start = max(start, oldest_readable)
        if end < start:
            return Plan([], clamped_lookback=clamped)
    else:
        if end <= checkpoint.cursor:
            return Plan([])
        if checkpoint.cursor < oldest_readable:
            gap = (checkpoint.cursor, oldest_readable)
        reread = config.overlap_secs if reread_secs is None else reread_secs
        start = checkpoint.cursor - reread
        start = max(start, oldest_readable, checkpoint.not_before or start)
    windows = catchup_slices(start, end, config)
    return Plan(windows, start, end, gap=gap, clamped_lookback=clamped)


@dataclass(slots=True)
class LateSweeps:
    """When a pass re-reads the whole late-click horizon, and what dedup must remember.

    A poll re-reads only ``poll_overlap_secs`` before the cursor: cheap, and it catches
    clicks published up to ``lag_secs + poll_overlap_secs`` late. Every
    ``late_sweep_secs`` a pass (the *late sweep*) re-reads from ``overlap_secs`` before
    the end of the previous sweep, so a click published up to ``overlap_secs`` late is
    caught however the polls fell. The delivered multiset must then reach back that far:
    :meth:`keep_secs` is the pruning horizon the checkpoint is given. Kept in memory: a
    fresh process starts with a sweep from the cursor, which the checkpoint's multiset
    (pruned to at least ``overlap_secs``) covers.
    """

    base: int | None = None
    """The end of the last sweep; None: none yet in this process."""
    swept_at: float = 0.0
    """When the last sweep was planned (the cycle's clock)."""

    def due(self, config: PollingSettings, now: float) -> bool:
        """Whether the next pass should be a sweep."""
        return self.base is None or now - self.swept_at >= config.late_sweep_secs

    def reread_secs(self, config: PollingSettings, cursor: int | None, sweep: bool) -> int:
        """How far before the cursor the next pass starts."""
        if not sweep:
            return min(config.poll_overlap_secs, config.overlap_secs)
        if cursor is None or self.base is None:
            return config.overlap_secs
        return config.overlap_secs + max(cursor - self.base, 0)

    def keep_secs(self, config: PollingSettings, target: int | None) -> int:
        """How far before a pass's end dedup must remember deliveries (the next sweep's
        start)."""
        if target is None or self.base is None:
            return config.overlap_secs
        return config.overlap_secs + max(target - self.base, 0)

    def swept(self, end: int, now: float) -> None:
        """A sweep ending at ``end``, planned at ``now``, is finished."""
        self.base, self.swept_at = end, now
