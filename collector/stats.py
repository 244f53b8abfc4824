"""Plain counters kept per source and per sink, read by logs and metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class SourceStats:
    """What one source has done since the process started."""

    requests: Counter[str] = field(default_factory=Counter)
    """Requests to Mimecast by outcome: ok, rate_limited, server_error, timeout, ..."""
    retries: int = 0
    rate_limited: int = 0
    rate_limited_wait_secs: float = 0.0
    token_fetches: int = 0
    pages: int = 0
    events: int = 0
    duplicates: int = 0
    cycles_ok: int = 0
    cycles_failed: int = 0
    last_success_at: float | None = None
    """Wall-clock time of the last cycle that finished caught up."""
    newest_delivered: int | None = None
    """Epoch seconds of the newest click every sink has acknowledged."""


@dataclass(slots=True)
class SinkStats:
    """What one sink has done since the process started."""

    events: int = 0
    batches: int = 0
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    dead_lettered: int = 0
