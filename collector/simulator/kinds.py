"""The three TTP log endpoints, each described by one :class:`LogKind`.

A kind says where its endpoint lives, which key of ``data[0]`` holds its records,
which record field is the date, which filters its request takes and which role
permission Mimecast asks for (mimecast-api.md section 7). Everything else (auth,
the one quota per credential, faults, quirks, paging) is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.simulator.filters import InvalidRequestError, KindFilters, choice, flag, url_filters
from collector.simulator.paging import ATTACHMENT_RESULTS, ROUTES, SCAN_RESULTS
from collector.simulator.query import Query
from collector.simulator.ttp_datasets import SEARCH_FIELDS


@dataclass(frozen=True, slots=True)
class LogKind:
    """One get-logs endpoint.

    Attributes:
        name: ``url``, ``attachment`` or ``impersonation``.
        path: the endpoint's path.
        data_key: the key of ``data[0]`` that holds the records.
        date_field: the record field that holds its date.
        permission: the role permission Mimecast requires (what a 403 lacks).
        read_filters: reads the endpoint's filters from ``data[0]`` (raises
            InvalidRequestError).
        accepts: whether a decoded page token's query belongs to this endpoint.
        result_count: ``data[0]`` also carries ``resultCount`` (the impersonation
            endpoint), the number of records the query matched.
    """

    name: str
    path: str
    data_key: str
    date_field: str
    permission: str
    read_filters: Callable[[dict[str, Any]], KindFilters]
    accepts: Callable[[Query], bool]
    result_count: bool = False


def attachment_filters(item: dict[str, Any]) -> KindFilters:
    """``route`` and ``result`` (both ``all`` by default)."""
    route = choice(item.get("route", "all"), ROUTES, "route")
    return "attachment", route, choice(item.get("result", "all"), ATTACHMENT_RESULTS, "result"), ()


def impersonation_filters(item: dict[str, Any]) -> KindFilters:
    """``taggedMalicious`` (omitted: no filter), ``searchField`` + ``query``,
    ``identifiers[]`` and ``actions[]``; no filter at all gives an empty tuple."""
    raw_tagged = item.get("taggedMalicious")
    tagged = None if raw_tagged is None else flag(raw_tagged, "taggedMalicious")
    search_field = choice(item.get("searchField", "all"), frozenset(SEARCH_FIELDS), "searchField")
    text = item.get("query", "")
    if not isinstance(text, str):
        raise InvalidRequestError("err_validation_invalid_value", "query must be a string", "query")
    others = (
        tagged,
        search_field,
        text,
        _strings(item.get("identifiers", []), "identifiers"),
        _strings(item.get("actions", []), "actions"),
    )
    unfiltered = tagged is None and not text and not others[3] and not others[4]
    return "impersonation", "all", "all", () if unfiltered else others


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequestError(
            "err_validation_invalid_value", f"{field} must be a list of strings", field
        )
    return tuple(sorted(set(value)))


def _impersonation_query(query: Query) -> bool:
    if query.route != "all" or query.scan_result != "all":
        return False
    if not query.filters:
        return True
    if len(query.filters) != 5:
        return False
    tagged, search_field, text, identifiers, actions = query.filters
    return (
        tagged in (None, True, False)
        and search_field in SEARCH_FIELDS
        and isinstance(text, str)
        and all(isinstance(v, str) for v in (*identifiers, *actions))
    )


URL = LogKind(
    name="url",
    path="/api/ttp/url/get-logs",
    data_key="clickLogs",
    date_field="date",
    permission="Monitoring | URL Protection | Read",
    read_filters=url_filters,
    accepts=lambda q: q.kind == "url" and q.scan_result in SCAN_RESULTS and not q.filters,
)
ATTACHMENT = LogKind(
    name="attachment",
    path="/api/ttp/attachment/get-logs",
    data_key="attachmentLogs",
    date_field="date",
    permission="Monitoring | Attachment Protection | Read",
    read_filters=attachment_filters,
    accepts=lambda q: (
        q.kind == "attachment" and q.scan_result in ATTACHMENT_RESULTS and not q.filters
    ),
)
IMPERSONATION = LogKind(
    name="impersonation",
    path="/api/ttp/impersonation/get-logs",
    data_key="impersonationLogs",
    date_field="eventTime",
    permission="Monitoring | Impersonation Protection | Read",
    read_filters=impersonation_filters,
    accepts=lambda q: q.kind == "impersonation" and _impersonation_query(q),
    result_count=True,
)
KINDS: dict[str, LogKind] = {kind.name: kind for kind in (URL, ATTACHMENT, IMPERSONATION)}
"""Every endpoint the simulator serves, by kind name."""
