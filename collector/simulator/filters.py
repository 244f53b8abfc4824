"""Reading a get-logs request body: lenient like Mimecast, strict about values.

Mimecast accepts Python dict reprs (single quotes, ``True``/``False``) as well as
JSON, because its own sample code and several integrations send ``str(payload)``
(mimecast-api.md section 1). Values are validated strictly: a bad date, route,
scanResult or pageSize is a function-level failure (HTTP 200, ``fail[]``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from collector.simulator.paging import ROUTES, SCAN_RESULTS
from collector.simulator.query import Query


class InvalidRequestError(Exception):
    """A request value Mimecast would refuse with a ``fail[]`` entry."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class GetLogsBody:
    """The parts of a get-logs body the simulator uses.

    Attributes:
        item: ``data[0]``, the filter (empty when absent).
        page_token: ``meta.pagination.pageToken``, None when absent or empty.
        page_size: ``meta.pagination.pageSize`` as sent, None when absent.
    """

    item: dict[str, Any]
    page_token: Any
    page_size: Any


def parse_body(raw: bytes) -> dict[str, Any] | None:
    """Parse JSON, else a Python literal; None when it is neither (or not an object)."""
    if not raw.strip():
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            parsed = ast.literal_eval(raw.decode("utf-8"))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return parsed if isinstance(parsed, dict) else None


def split_body(body: dict[str, Any]) -> GetLogsBody:
    """Pick the filter, the page token and the page size out of a parsed body."""
    meta = body.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    if not isinstance(pagination, dict):
        pagination = {}
    data = body.get("data")
    item: Any = data[0] if isinstance(data, list) and data else data
    token = pagination.get("pageToken")
    return GetLogsBody(
        item=item if isinstance(item, dict) else {},
        page_token=token if token not in (None, "") else None,
        page_size=pagination.get("pageSize"),
    )


def page_size(value: Any, *, default: int, maximum: int) -> int:
    """Validate ``pageSize``; raises InvalidRequestError."""
    if value is None:
        return default
    if type(value) is not int:
        raise InvalidRequestError(
            "err_validation_invalid_value", "pageSize must be an integer", "pageSize"
        )
    if not 1 <= value <= maximum:
        raise InvalidRequestError(
            "err_validation_page_size", f"pageSize must be between 1 and {maximum}", "pageSize"
        )
    return value


KindFilters = tuple[str, str, str, tuple[Any, ...]]
"""An endpoint's filters: ``(kind, route, verdict, other filters)`` (see :class:`Query`)."""


def url_filters(item: dict[str, Any]) -> KindFilters:
    """The URL endpoint's filters: ``route`` and ``scanResult`` (both ``all`` by default)."""
    route = choice(item.get("route", "all"), ROUTES, "route")
    return "url", route, choice(item.get("scanResult", "all"), SCAN_RESULTS, "scanResult"), ()


def resolve_query(
    item: dict[str, Any],
    *,
    now: float,
    to_inclusive: bool,
    kind_filters: Callable[[dict[str, Any]], KindFilters] = url_filters,
) -> Query:
    """Turn a ``data[0]`` filter into a :class:`Query` snapshotted at ``now``.

    Defaults (mimecast-api.md section 1): ``from`` = start of the current UTC day,
    ``to`` = now, newest first; ``kind_filters`` reads the endpoint's own filters
    (the URL endpoint's by default).
    """
    raw_from, raw_to = item.get("from"), item.get("to")
    start = (
        math.ceil(_date(raw_from, "from")) if raw_from is not None else int(now // 86_400 * 86_400)
    )
    to = _date(raw_to, "to") if raw_to is not None else now
    stop = math.floor(to) + 1 if to_inclusive else math.ceil(to)
    kind, route, verdict, others = kind_filters(item)
    return Query(
        start=start,
        stop=stop,
        route=route,
        scan_result=verdict,
        oldest_first=flag(item.get("oldestFirst", False), "oldestFirst"),
        snapshot=now,
        kind=kind,
        filters=others,
    )


def _date(value: Any, field: str) -> float:
    """Parse ``+0000``, ``+00:00`` and ``Z`` dates; a date must carry its offset."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRequestError(
            "err_validation_invalid_date", f"{field} is not a valid date: {value!r}", field
        )
    return parsed.timestamp()


def choice(value: Any, allowed: frozenset[str], field: str) -> str:
    """Return ``value`` if it is one of ``allowed``; raises InvalidRequestError."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRequestError(
            "err_validation_invalid_value",
            f"{field} must be one of {', '.join(sorted(allowed))}",
            field,
        )
    return value


def flag(value: Any, field: str) -> bool:
    """Return a boolean filter value; raises InvalidRequestError."""
    # Python-repr bodies give real booleans; some clients send "true"/"false".
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequestError("err_validation_invalid_value", f"{field} must be a boolean", field)
