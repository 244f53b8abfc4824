"""Mimecast's log endpoints, each described by one small declarative object.

The engine is the same for every endpoint (windows, overlap, multiset dedup, sink
acknowledgements, checkpoint, pacing, backfill). What differs is written down here,
and nowhere else: the path, the key of the records in ``data[0]``, the field that
dates a record, the request's filters (from the source's config), the kind of record,
and the permission the API application needs. Adding an endpoint (``/api/dlp/get-logs``,
say) means adding one :class:`Endpoint` here plus its sink mappings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from collector.source import EndpointFacts

RETENTION_SECS = 30 * 86400
"""Mimecast keeps TTP logs for 30 days; older records cannot be read."""


class FilterSettings(Protocol):
    """The config keys the endpoints' filters read (the source's config model)."""

    @property
    def route(self) -> str: ...
    @property
    def scan_result(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def tagged_malicious(self) -> bool | None: ...


Filters = Callable[[FilterSettings], Mapping[str, Any]]
"""The endpoint's request filters, from the source's config (added to ``data[0]``)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Mimecast get-logs endpoint.

    Attributes:
        source_type: the ``type`` of ``[sources.<name>]`` that reads it.
        path: the API path, e.g. ``/api/ttp/url/get-logs``.
        data_key: where the records are in ``data[0]`` (``clickLogs``).
        facts: kind, retention and date field, as the engine needs them.
        filters: the request's filters from the config.
        permission: what the API application's role must allow, in the Admin
            Console's words (quoted when Mimecast refuses).
        noun: what one record is, for messages ("click log").
    """

    source_type: str
    path: str
    data_key: str
    facts: EndpointFacts
    filters: Filters
    permission: str
    noun: str


def _url_filters(config: FilterSettings) -> Mapping[str, Any]:
    return {"route": config.route, "scanResult": config.scan_result}


def _attachment_filters(config: FilterSettings) -> Mapping[str, Any]:
    return {"route": config.route, "result": config.result}


def _impersonation_filters(config: FilterSettings) -> Mapping[str, Any]:
    # Omitted means no filter: Mimecast reads a present `false` as "only untagged".
    if config.tagged_malicious is None:
        return {}
    return {"taggedMalicious": config.tagged_malicious}


URL_CLICKS = Endpoint(
    source_type="mimecast_ttp_url",
    path="/api/ttp/url/get-logs",
    data_key="clickLogs",
    facts=EndpointFacts(kind="url", retention_secs=RETENTION_SECS, date_field="date"),
    filters=_url_filters,
    permission="Monitoring | URL Protection | Read",
    noun="click log",
)
ATTACHMENTS = Endpoint(
    source_type="mimecast_ttp_attachment",
    path="/api/ttp/attachment/get-logs",
    data_key="attachmentLogs",
    facts=EndpointFacts(kind="attachment", retention_secs=RETENTION_SECS, date_field="date"),
    filters=_attachment_filters,
    permission="Monitoring | Attachment Protection | Read",
    noun="attachment log",
)
IMPERSONATION = Endpoint(
    source_type="mimecast_ttp_impersonation",
    path="/api/ttp/impersonation/get-logs",
    data_key="impersonationLogs",
    facts=EndpointFacts(
        kind="impersonation", retention_secs=RETENTION_SECS, date_field="eventTime"
    ),
    filters=_impersonation_filters,
    permission="Monitoring | Impersonation Protection | Read",
    noun="impersonation log",
)

ENDPOINTS: dict[str, Endpoint] = {
    e.source_type: e for e in (URL_CLICKS, ATTACHMENTS, IMPERSONATION)
}
"""Every endpoint by its source ``type``."""
