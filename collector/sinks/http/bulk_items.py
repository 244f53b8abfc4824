"""Reading the items of an Elasticsearch ``_bulk`` answer, whatever shape they come in."""

from __future__ import annotations

from typing import Any

from collector.secrets import scrub


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
