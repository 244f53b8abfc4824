"""RFC 5424 headers: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD SP``.

TIMESTAMP is the click's own time in UTC. HOSTNAME, APP-NAME, PROCID and MSGID are
printable US-ASCII (33..126) within their length limits (255, 48, 128, 32); the
config validates what the user gives, :func:`printable` repairs what the machine
gives (its host name). The one SD element carries the stable event id::

    [mimecast@32473 eventId="<event id>" source="<source name>"]

with ``"``, ``\\`` and ``]`` escaped in the values (section 6.3.3). Neither value can
hold a line break (event ids are hex digits, source names are validated by the
config), so the header is safe in LF framing too.
"""

from __future__ import annotations

from collector.events import Event, utc_seconds

NILVALUE = "-"
BOM = b"\xef\xbb\xbf"
HOSTNAME_MAX = 255
PROCID_MAX = 128
SD_NAME = "mimecast"


def printable(text: str, longest: int) -> str:
    """Return ``text`` as a header field: other characters become ``_``, cut to ``longest``.

    An empty result is the NILVALUE ``-``.
    """
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text[:longest])
    return cleaned or NILVALUE


def escape_param(value: str) -> str:
    """Escape an SD-PARAM value: ``\\``, ``"`` and ``]`` get a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def timestamp(epoch: int) -> str:
    """Format epoch seconds as an RFC 5424 TIMESTAMP in UTC (``2024-11-17T17:02:30Z``)."""
    return f"{utc_seconds(epoch)}Z"


class Rfc5424Header:
    """Builds the header of each message; everything but the event's own parts is fixed.

    Args:
        facility: facility code (0..23).
        hostname: HOSTNAME; repaired by :func:`printable` if needed.
        app_name: APP-NAME (validated by the config).
        procid: PROCID, usually the process id.
        msg_id: MSGID (validated by the config).
        enterprise_number: the private enterprise number of the SD-ID.
    """

    __slots__ = ("_middle", "_pri", "_sources")

    def __init__(
        self,
        *,
        facility: int,
        hostname: str,
        app_name: str,
        procid: str,
        msg_id: str,
        enterprise_number: int,
    ) -> None:
        self._pri = [f"<{facility * 8 + severity}>1 " for severity in range(8)]
        host = printable(hostname, HOSTNAME_MAX)
        fields = f"{host} {app_name} {printable(procid, PROCID_MAX)} {msg_id}"
        self._middle = f' {fields} [{SD_NAME}@{enterprise_number} eventId="'
        # A handful of source names, each escaped once.
        self._sources: dict[str, str] = {}

    def __call__(self, event: Event, severity: int) -> str:
        """Return the header of ``event``, up to and including the space before MSG."""
        source = self._sources.get(event.source)
        if source is None:
            source = self._sources[event.source] = escape_param(event.source)
        return (
            f"{self._pri[severity]}{timestamp(event.time)}{self._middle}"
            f'{escape_param(event.event_id)}" source="{source}"] '
        )
