"""From a page of events to syslog messages: header + payload, each serialized once.

This is the hot path. Per event: one risk classification, one header (everything
constant in it is pre-built), one payload serialization (orjson for JSON), one
concatenation, and a length check. Nothing is logged per event: the caller logs the
page's truncation count once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collector.events import Batch, Event
from collector.sinks.syslog.framing import truncate
from collector.sinks.syslog.severity import LEVELS, Risk
from collector.sinks.syslog.ttp_fields import classify_event

HeaderFormatter = Callable[[Event, int], str]
"""Returns the header of an event, given its syslog severity."""
PayloadFormatter = Callable[[Event, Risk], bytes]
"""Returns the MSG of an event, given its risk class."""


@dataclass(frozen=True, slots=True)
class EncodedPage:
    """The messages of one page, unframed, in the page's order.

    Attributes:
        messages: one syslog message per event.
        truncated: how many of them were cut to the size limit.
    """

    messages: list[bytes]
    truncated: int


class PageEncoder:
    """Encodes pages for one sink's settings.

    Args:
        header: builds each message's header.
        payload: builds each message's MSG.
        limit: the largest message, in bytes.
        bom: bytes between header and MSG (the UTF-8 BOM, or nothing).
    """

    __slots__ = ("_bom", "_header", "_limit", "_payload", "_severity")

    def __init__(
        self, header: HeaderFormatter, payload: PayloadFormatter, limit: int, bom: bytes = b""
    ) -> None:
        self._header = header
        self._payload = payload
        self._limit = limit
        self._bom = bom
        self._severity = {risk: level.syslog for risk, level in LEVELS.items()}

    def encode(self, events: Batch) -> EncodedPage:
        """Return the messages of ``events``.

        Raises:
            orjson.JSONEncodeError: a click holds a value JSON cannot represent.
        """
        header, payload, severity = self._header, self._payload, self._severity
        bom, limit = self._bom, self._limit
        messages: list[bytes] = []
        truncated = 0
        for event in events:
            risk = classify_event(event)
            head = header(event, severity[risk]).encode() + bom
            message = head + payload(event, risk)
            if len(message) > limit:
                message = truncate(message, limit, len(head))
                truncated += 1
            messages.append(message)
        return EncodedPage(messages, truncated)
