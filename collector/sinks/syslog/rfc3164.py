"""RFC 3164 headers, for legacy receivers: ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[pid]: ``.

RFC 3164 has no year, no time zone, no MSGID and no structured data. The timestamp is
the click's time in UTC; month names are English whatever the locale. Without
structured data the event id is not in the header: the ``cef`` and ``leef`` payloads
still carry it (``externalId``), the ``json`` payload does not (docs/syslog.md).
"""

from __future__ import annotations

import time
from functools import lru_cache

from collector.events import Event
from collector.sinks.syslog.rfc5424 import HOSTNAME_MAX, printable

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@lru_cache(maxsize=4096)
def timestamp(epoch: int) -> str:
    """Format epoch seconds as an RFC 3164 TIMESTAMP in UTC (``Nov  7 17:02:30``)."""
    t = time.gmtime(epoch)
    return f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


class Rfc3164Header:
    """Builds the header of each message.

    Args:
        facility: facility code (0..23).
        hostname: HOSTNAME; repaired by :func:`~collector.sinks.syslog.rfc5424.printable`.
        tag: the TAG, i.e. ``app_name`` (validated by the config: at most 32
            characters, no ``:``, ``[`` or ``]``).
        procid: the process id written in brackets after the TAG.
    """

    __slots__ = ("_pri", "_tail")

    def __init__(self, *, facility: int, hostname: str, tag: str, procid: str) -> None:
        self._pri = [f"<{facility * 8 + severity}>" for severity in range(8)]
        self._tail = f" {printable(hostname, HOSTNAME_MAX)} {tag}[{printable(procid, 16)}]: "

    def __call__(self, event: Event, severity: int) -> str:
        """Return the header of ``event``, up to and including the space before MSG."""
        return f"{self._pri[severity]}{timestamp(event.time)}{self._tail}"
