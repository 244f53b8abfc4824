"""What the collector's own JSON log lines say about a run.

The collector writes one ``page_delivered`` line per page, one ``cycle_finished`` per
cycle and one ``retrying`` line before each wait (with ``wait_secs`` and the
``error_type``), all on stderr. Those are enough to count pages, events, cycles and
the time spent waiting on 429s without touching the collector.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

RATE_LIMITED = "RateLimitedError"
"""``error_type`` of a ``retrying`` line caused by an HTTP 429."""


@dataclass(slots=True)
class LogSummary:
    """Counts taken from one collector log file.

    Attributes:
        pages: ``page_delivered`` lines.
        events: events the collector reports delivered (sum over ``cycle_finished``).
        cycles: ``cycle_finished`` lines.
        cycle_secs: their ``duration_secs``, in order.
        cycle_events: their ``events``, in order.
        caught_up: whether the last cycle ended caught up.
        rate_limited_retries: ``retrying`` lines caused by a 429.
        rate_limited_wait_secs: the waits those lines announced, summed.
        other_retries: ``retrying`` lines for any other error.
        other_wait_secs: their waits, summed.
        levels: lines per level (``warning``, ``error``, ...).
        events_by_name: lines per ``event`` name.
        first_error: the first error line, for the report.
        non_json: lines that were not JSON (a traceback, a CLI error line).
    """

    pages: int = 0
    events: int = 0
    cycles: int = 0
    cycle_secs: list[float] = field(default_factory=list)
    cycle_events: list[int] = field(default_factory=list)
    caught_up: bool = False
    rate_limited_retries: int = 0
    rate_limited_wait_secs: float = 0.0
    other_retries: int = 0
    other_wait_secs: float = 0.0
    levels: Counter[str] = field(default_factory=Counter)
    events_by_name: Counter[str] = field(default_factory=Counter)
    first_error: str | None = None
    non_json: list[str] = field(default_factory=list)

    def add(self, line: dict[str, Any]) -> None:
        """Account for one parsed log line."""
        name = str(line.get("event", ""))
        level = str(line.get("level", ""))
        self.levels[level] += 1
        self.events_by_name[name] += 1
        if level == "error" and self.first_error is None:
            self.first_error = f"{name}: {_error_text(line)}"
        if name == "page_delivered":
            self.pages += 1
        elif name == "cycle_finished":
            self.cycles += 1
            self.events += int(line.get("events", 0))
            self.cycle_events.append(int(line.get("events", 0)))
            self.cycle_secs.append(float(line.get("duration_secs", 0.0)))
            self.caught_up = bool(line.get("caught_up"))
        elif name == "retrying":
            wait = float(line.get("wait_secs") or 0.0)
            if line.get("error_type") == RATE_LIMITED:
                self.rate_limited_retries += 1
                self.rate_limited_wait_secs += wait
            else:
                self.other_retries += 1
                self.other_wait_secs += wait

    def busy_secs(self) -> float:
        """Seconds spent in cycles that delivered something (the drain time)."""
        return sum(s for s, n in zip(self.cycle_secs, self.cycle_events, strict=True) if n)


def _error_text(line: dict[str, Any]) -> str:
    """The error message of a log line: ``error``, or the exception's value."""
    if line.get("error"):
        return str(line["error"])
    exception = line.get("exception")
    if isinstance(exception, list) and exception and isinstance(exception[-1], dict):
        return f"{exception[-1].get('exc_type')}: {exception[-1].get('exc_value')}"
    return ""


def parse_log(path: Path) -> LogSummary:
    """Read a collector log file (JSON lines; anything else is kept as ``non_json``)."""
    summary = LogSummary()
    if not path.exists():
        return summary
    with open(path, "rb") as lines:
        for raw in lines:
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                if raw.strip() and len(summary.non_json) < 20:
                    summary.non_json.append(raw.decode(errors="replace").rstrip())
                continue
            if isinstance(line, dict):
                summary.add(line)
    return summary


def count_event(path: Path, name: str) -> int:
    """How many lines of ``path`` so far are the log event ``name`` (for live polling)."""
    if not path.exists():
        return 0
    needle = f'"event":"{name}"'.encode()
    with open(path, "rb") as lines:
        return sum(1 for raw in lines if needle in raw)
