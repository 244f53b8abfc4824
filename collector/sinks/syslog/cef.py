"""The ``cef`` payload: ArcSight Common Event Format, as read by ArcSight and Sentinel (AMA).

``CEF:0|Mimecast|URL Protect|1.0|<signature>|<name>|<severity>|<extension>``

Header fields escape ``\\`` and ``|``; a header cannot hold a line break, so CR and LF
become spaces there. Extension values escape ``\\``, ``=``, CR (``\\r``) and LF
(``\\n``), so a message never contains a raw line break, even in LF framing (Vector
leaves CR/LF raw). The mapping to ArcSight's keys is in docs/syslog.md.
"""

from __future__ import annotations

from collector.events import Event
from collector.sinks.syslog.fields import as_text, sending_ip
from collector.sinks.syslog.severity import LEVELS, Risk

VENDOR = "Mimecast"
PRODUCT = "URL Protect"
VERSION = "1.0"

# (CEF key, click field), in the order they are written. The email's recipient is the
# user who clicked, so it is the destination user (ArcSight's mail convention).
STANDARD_KEYS: tuple[tuple[str, str], ...] = (
    ("act", "action"),
    ("cat", "category"),
    ("request", "url"),
    ("duser", "userEmailAddress"),
    ("suser", "fromUserEmailAddress"),
    ("msg", "subject"),
)
# Custom string fields: (CEF key, label, click field).
CUSTOM_KEYS: tuple[tuple[str, str, str], ...] = (
    ("cs1", "ttpDefinition", "ttpDefinition"),
    ("cs2", "route", "route"),
    ("cs3", "scanResult", "scanResult"),
    ("cs4", "messageId", "messageId"),
    ("cs5", "userAwarenessAction", "userAwarenessAction"),
)


def escape_header(value: str) -> str:
    """Escape one CEF header field."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def escape_value(value: str) -> str:
    """Escape one CEF extension value."""
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


class CefFormatter:
    """Turns one event into its CEF payload (UTF-8 bytes)."""

    __slots__ = ("_prefix",)

    def __init__(self) -> None:
        # Each risk class has a fixed header: built once, not per event.
        head = "|".join(escape_header(part) for part in (VENDOR, PRODUCT, VERSION))
        self._prefix = {
            risk: f"CEF:0|{head}|{escape_header(level.signature)}|"
            f"{escape_header(level.name)}|{level.cef}|"
            for risk, level in LEVELS.items()
        }

    def __call__(self, event: Event, risk: Risk) -> bytes:
        """Return the CEF payload of ``event``, whose risk class is ``risk``."""
        data = event.data
        esc = escape_value
        parts = [
            self._prefix[risk],
            f"rt={event.time * 1000} externalId={esc(event.event_id)}",
        ]
        for key, field in STANDARD_KEYS:
            text = as_text(data.get(field))
            if text is not None:
                parts.append(f" {key}={esc(text)}")
        src = sending_ip(data)
        if src is not None:
            parts.append(f" src={src}")
        for key, label, field in CUSTOM_KEYS:
            text = as_text(data.get(field))
            if text is not None:
                parts.append(f" {key}Label={label} {key}={esc(text)}")
        parts.append(f" cs6Label=collectorSource cs6={esc(event.source)}")
        return "".join(parts).encode()
