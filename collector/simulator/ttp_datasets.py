"""The attachment and impersonation endpoints' stores, and how their filters match.

* :class:`AttachmentDataset`: ``/api/ttp/attachment/get-logs``, date ``date``,
  facet ``(route, result)``, filters ``route`` and ``result``.
* :class:`ImpersonationDataset`: ``/api/ttp/impersonation/get-logs``, date
  ``eventTime``, filters ``taggedMalicious``, ``searchField`` + ``query``,
  ``identifiers[]`` and ``actions[]`` (the query's ``filters`` tuple).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from collector.simulator.logstore import LogDataset, Matcher, PairFacetDataset
from collector.simulator.ttp_generator import (
    AttachmentFactory,
    ImpersonationFacet,
    ImpersonationFactory,
    impersonation_facet,
)

if TYPE_CHECKING:
    from collector.simulator.query import Query

SEARCH_FIELDS = ("senderAddress", "recipientAddress", "subject", "policy", "all")
"""The impersonation endpoint's ``searchField`` values (``policy`` is ``definition``)."""
# Where each searchField's text sits in an ImpersonationFacet.
_SEARCHED: dict[str, tuple[int, ...]] = {
    "senderAddress": (3,),
    "recipientAddress": (4,),
    "subject": (5,),
    "policy": (6,),
    "all": (3, 4, 5, 6),
}


class AttachmentDataset(PairFacetDataset):
    """Attachment Protection logs; facet ``(route, result)``."""

    kind: ClassVar[str] = "attachment"
    verdict_field: ClassVar[str] = "result"
    seed_namespace: ClassVar[str] = "attachment-dataset"

    def _make_records(
        self, dates: list[int], *, seed: int, rich: bool
    ) -> tuple[list[bytes], list[Any]]:
        return AttachmentFactory(seed).make_many(dates)


class ImpersonationDataset(LogDataset):
    """Impersonation Protection logs, dated by ``eventTime``."""

    kind: ClassVar[str] = "impersonation"
    date_field: ClassVar[str] = "eventTime"
    seed_namespace: ClassVar[str] = "impersonation-dataset"

    def _make_records(
        self, dates: list[int], *, seed: int, rich: bool
    ) -> tuple[list[bytes], list[Any]]:
        return ImpersonationFactory(seed).make_many(dates)

    def facet_of(self, record: dict[str, Any]) -> Any:
        """Return the filtered values (see ``ttp_generator.impersonation_facet``)."""
        return impersonation_facet(record)

    def matcher(self, query: Query) -> Matcher | None:
        """Test ``taggedMalicious``, ``searchField``/``query``, ``identifiers``, ``actions``."""
        return impersonation_matcher(query.filters)


def impersonation_matcher(filters: tuple[Any, ...]) -> Matcher | None:
    """Return the test of ``(taggedMalicious, searchField, query, identifiers, actions)``.

    ``taggedMalicious`` None means no filter; ``query`` matches as a case-insensitive
    substring of the searched field(s); a record matches ``identifiers`` when it has
    any of them, and ``actions`` when its action is one of them; empty = no filter.
    """
    if not filters:
        return None
    tagged, search_field, text, identifiers, actions = filters
    needle = str(text).casefold()
    positions = _SEARCHED.get(search_field, _SEARCHED["all"])
    wanted_ids, wanted_actions = frozenset(identifiers), frozenset(actions)
    if tagged is None and not needle and not wanted_ids and not wanted_actions:
        return None

    def match(facet: ImpersonationFacet) -> bool:
        return (
            (tagged is None or facet[0] == tagged)
            and (not wanted_actions or facet[1] in wanted_actions)
            and (not wanted_ids or not wanted_ids.isdisjoint(facet[2]))
            and (not needle or any(needle in str(facet[i]).casefold() for i in positions))
        )

    return match
