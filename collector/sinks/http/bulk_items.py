"""Reading the items of an Elasticsearch ``_bulk`` answer, whatever shape they come in."""

from __future__ import annotations

import re
from typing import Any

from collector.secrets import scrub

# With the sink's filter_path, Elasticsearch answers ``{"errors":false,"items":[...]}``.
_CLEAN = re.compile(rb'\s*\{\s*"errors"\s*:\s*false\s*[,}]')


def is_clean(body: bytes) -> bool:
    """True when a bulk answer starts with ``"errors": false``: every item was stored.

    Saves parsing 500 items per page (about 0.3 ms of the collector's CPU each, 2% of
    bench S4). An answer that starts any other way (``took`` first, when no filter_path
    applied) returns False and is parsed and judged item by item.
    """
    return _CLEAN.match(body) is not None


def item_outcome(entry: Any) -> dict[str, Any]:
    """The ``{"status", "error"}`` of one bulk item ``{"create": {...}}``."""
    outcome: Any = next(iter(entry.values()), {}) if isinstance(entry, dict) else {}
    return outcome if isinstance(outcome, dict) else {}


def item_status(entry: Any) -> int:
    """The HTTP status of one bulk item; 0 when it has none."""
    status = item_outcome(entry).get("status", 0)
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def error_words(error: Any) -> tuple[str, str]:
    """(type, reason) of one item's error, any secret it quotes scrubbed."""
    # Reasons may quote what was sent (a user name, a document): scrub any secret.
    if isinstance(error, dict):
        return str(error.get("type", "unknown")), scrub(str(error.get("reason", "")))
    return "unknown", scrub(str(error or ""))
