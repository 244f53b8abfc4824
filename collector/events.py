"""The event that travels from a source to every sink, and its helpers.

An :class:`Event` is one Mimecast click log, exactly as Mimecast returned it
(``data``), plus three facts the collector derived once so that no sink has to
derive them again: the source it came from, its stable event id, and its time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

LATEST_EPOCH = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second a date can be written in."""

ClickLog = dict[str, Any]
"""One click log object as Mimecast returned it (parsed JSON)."""


class Event(NamedTuple):
    """One click, ready for the sinks (immutable; a NamedTuple because it is made once
    per click on the hot path, at half the cost of a frozen dataclass).

    Attributes:
        source: the name of the ``[sources.<name>]`` it was collected by.
        event_id: stable id, ``<content hash>-<occurrence>``. The same click gets the
            same id every time it is read; byte-identical clicks get different ids
            because their occurrence numbers differ. Sinks use it as an idempotency
            key (Elasticsearch ``_id``, syslog structured data, HEC ``fields``).
        time: the click's ``date`` as epoch seconds (UTC).
        data: the click log exactly as Mimecast returned it: same keys, same values.
        kind: the kind of record: ``url`` (a click), ``attachment`` or ``impersonation``;
            sinks choose their mapping (sourcetype, ECS, CEF/LEEF fields) by it.
    """

    source: str
    event_id: str
    time: int
    data: ClickLog
    kind: str = "url"


Batch = Sequence[Event]
"""What a sink's ``send`` receives: the new events of one page, in Mimecast's order."""


def content_hash(click: ClickLog) -> str:
    """Return the hash that identifies a click's content (128 bits, hex).

    Keys are sorted first, so the hash does not depend on the order in which
    Mimecast happened to serialize the object.
    """
    canonical = orjson.dumps(click, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]


def parse_mimecast_date(value: str) -> int:
    """Parse a Mimecast ``date`` (``2024-11-17T17:02:30+0000``) into epoch seconds.

    Accepts ``+HHMM``, ``+HH:MM`` and ``Z`` offsets. Raises ValueError for anything
    else, including a date whose offset carries it outside the years 1970 to 9999
    (it could not be written back as a date).
    """
    if len(value) == 24 and value[19:] == "+0000":
        # Mimecast's own form, on the hot path: the hour from a cache, and "MM:SS" from
        # a table whose keys are exactly the valid ASCII ones (so no other check).
        hour = _HOURS.get(value[:14])
        if hour is not None:
            within = _SECONDS_IN_HOUR.get(value[14:19])
            if within is not None:
                return hour + within
    epoch = _parse_any_offset(value)
    if len(value) == 24 and value.endswith("+0000") and len(_HOURS) < _HOUR_CACHE:
        _HOURS[value[:14]] = epoch - epoch % 3600
    return epoch


def _parse_any_offset(value: str) -> int:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"date without a UTC offset: {value!r}")
    epoch = int(parsed.timestamp())
    if not 0 <= epoch <= LATEST_EPOCH:
        raise ValueError(f"date out of range: {value!r}")
    return epoch


# "2024-11-17T17:" -> epoch of that hour (UTC). A cache per minute held 50,000
# entries (5 MiB) and missed every fifth click of a month-long backlog; per hour, a
# month is 720 entries. Bounded at over a year of hours.
_HOURS: dict[str, int] = {}
_HOUR_CACHE = 10_000


def format_mimecast_date(epoch: int) -> str:
    """Format epoch seconds the way Mimecast writes dates: ``2024-11-17T17:02:30+0000``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def utc_seconds(epoch: int) -> str:
    """``2024-11-17T17:02:30`` (UTC, no zone): the time every sink stamps on a click.

    Per click on the hot path: the hour's text is cached and the ``MM:SS`` looked up,
    0.18 µs where strftime and gmtime take 0.85. Same text as
    ``time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))``.
    """
    hour, within = divmod(epoch, 3600)
    prefix = _HOUR_TEXTS.get(hour)
    if prefix is None:
        prefix = time.strftime("%Y-%m-%dT%H:", time.gmtime(hour * 3600))
        if len(_HOUR_TEXTS) < _HOUR_CACHE:
            _HOUR_TEXTS[hour] = prefix
    return prefix + _MINUTES_SECONDS[within]


_HOUR_TEXTS: dict[int, str] = {}
_MINUTES_SECONDS = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_SECONDS_IN_HOUR = {text: seconds for seconds, text in enumerate(_MINUTES_SECONDS)}


def format_iso(epoch: float) -> str:
    """Format epoch seconds as RFC 3339 UTC with a ``Z``, for humans and checkpoints."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_iso_or_none(epoch: int | None) -> str | None:
    """:func:`format_iso`, passing None through."""
    return None if epoch is None else format_iso(epoch)


def parse_iso(value: str) -> int:
    """Parse an ISO 8601 / RFC 3339 time given by a user. A naive time is taken as UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())
