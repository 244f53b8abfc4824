"""Choosing the next window to read.

A window is [start, end] in whole seconds. ``end = now - lag_secs``, frozen
while paging. The first window starts ``initial_lookback_secs`` ago; every later
one starts ``overlap_secs`` before the end of the previous one, so clicks that
Mimecast published late are read again and caught (dedup drops the rest).
Mimecast keeps URL logs for 30 days, so no window starts earlier than that.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.checkpoint import Checkpoint, Window
from collector.sources.mimecast.config import RETENTION_SECS, MimecastSourceConfig

# Stay clear of the retention edge: clicks there may vanish while we page.
RETENTION_MARGIN_SECS = 600


@dataclass(frozen=True, slots=True)
class Plan:
    """The next window, and what could not be read any more, if anything."""

    window: Window | None
    """None: nothing new to read yet (the end has not moved past the cursor)."""
    gap: tuple[int, int] | None = None
    """[from, to) of clicks lost to retention because the checkpoint is too old."""
    clamped_lookback: bool = False


def plan_next_window(checkpoint: Checkpoint, config: MimecastSourceConfig, now: float) -> Plan:
    """The window a cycle should read next, when no window is in progress.

    On the first window it also fixes ``checkpoint.not_before``, so that later
    overlaps never reach before the point collection started from.
    """
    end = int(now) - config.lag_secs
    oldest_readable = int(now) - RETENTION_SECS + RETENTION_MARGIN_SECS
    if checkpoint.cursor is None:
        start = checkpoint.not_before
        if start is None:
            start = end - config.initial_lookback_secs
        clamped = start < oldest_readable
        start = max(start, oldest_readable)
        checkpoint.not_before = start
        return Plan(Window(start, end) if end >= start else None, clamped_lookback=clamped)
    if end <= checkpoint.cursor:
        return Plan(None)
    gap = None
    if checkpoint.cursor < oldest_readable:
        gap = (checkpoint.cursor, oldest_readable)
    start = checkpoint.cursor - config.overlap_secs
    start = max(start, oldest_readable, checkpoint.not_before or start)
    return Plan(Window(start, end), gap=gap)
