"""What each kind of record is called in each sink, when the user does not say.

Every :class:`~collector.events.Event` carries its ``kind`` (``url``, ``attachment``,
``impersonation``). A sink picks its defaults for a kind here, so that the names a
user sees in Splunk, Elasticsearch or a SIEM are written down in one place. A kind
without an entry (an endpoint added later, say ``dlp``) still gets usable names,
derived from the kind itself, until its own entry is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collector.events import Event


@dataclass(frozen=True, slots=True)
class KindNames:
    """The names one kind of record gets by default.

    Attributes:
        sourcetype: Splunk HEC ``sourcetype``.
        data_stream: Elasticsearch data stream (``logs-<dataset>-<namespace>``).
        ecs_dataset: ECS ``event.dataset``, as Elastic's mimecast integration names it.
        product: CEF Device Product and LEEF Product.
    """

    sourcetype: str
    data_stream: str
    ecs_dataset: str
    product: str


KIND_NAMES: dict[str, KindNames] = {
    "url": KindNames(
        "mimecast:ttp:url", "logs-mimecast.ttp_url-default", "mimecast.ttp_url_logs", "URL Protect"
    ),
    "attachment": KindNames(
        "mimecast:ttp:attachment",
        "logs-mimecast.ttp_ap-default",
        "mimecast.ttp_ap_logs",
        "Attachment Protect",
    ),
    "impersonation": KindNames(
        "mimecast:ttp:impersonation",
        "logs-mimecast.ttp_ip-default",
        "mimecast.ttp_ip_logs",
        "Impersonation Protect",
    ),
}
"""The kinds the collector knows, and their names."""

KINDS = tuple(KIND_NAMES)


def names_of(kind: str) -> KindNames:
    """The names of ``kind``; a kind without an entry gets names made from it."""
    known = KIND_NAMES.get(kind)
    if known is not None:
        return known
    return KindNames(
        f"mimecast:{kind}", f"logs-mimecast.{kind}-default", f"mimecast.{kind}_logs", kind.title()
    )


def check_kinds(per_kind: Mapping[str, str], key: str) -> Mapping[str, str]:
    """Refuse a per-kind table naming a kind the collector does not know (a typo)."""
    unknown = sorted(set(per_kind) - set(KINDS))
    if unknown:
        raise ValueError(f"{key}: unknown kind {unknown[0]!r}; the kinds are {', '.join(KINDS)}")
    return per_kind


class SourcetypeChooser:
    """Splunk's sourcetype of an event: per source, else the sink's one, else per kind.

    Args:
        per_source: ``sourcetypes``, by source name.
        fixed: ``sourcetype``, for every event; None: the kind's default.
    """

    __slots__ = ("_chosen", "_fixed", "_per_source")

    def __init__(self, per_source: Mapping[str, str], fixed: str | None) -> None:
        self._per_source = dict(per_source)
        self._fixed = fixed
        # (source, kind) -> sourcetype: a handful of pairs, looked up once per event.
        self._chosen: dict[tuple[str, str], str] = {}

    def __call__(self, event: Event) -> str:
        """The sourcetype of ``event``."""
        key = (event.source, event.kind)
        chosen = self._chosen.get(key)
        if chosen is None:
            chosen = self._per_source.get(event.source) or self._fixed
            chosen = self._chosen[key] = chosen or names_of(event.kind).sourcetype
        return chosen
