"""The ``leef`` payload: IBM's Log Event Extended Format 2.0, as read by QRadar.

``LEEF:2.0|Mimecast|URL Protect|1.0|<EventID>|<delimiter>|key=value<delimiter>...``

LEEF defines no escaping: its guide only says values should not hold the delimiter.
To keep every value intact and every message on one line we use CEF's convention:
``\\`` becomes ``\\\\``, the delimiter ``\\<delimiter>`` (a tab ``\\t``), CR ``\\r`` and
LF ``\\n``. A value split on the delimiter therefore never breaks apart, except after
a backslash. ``=`` needs no escape: a value runs to the next delimiter.
"""

from __future__ import annotations

from collector.events import Event, utc_seconds
from collector.sinks.syslog.cef import PRODUCT, VENDOR, VERSION
from collector.sinks.syslog.fields import as_text, sending_ip
from collector.sinks.syslog.severity import LEVELS, Risk

DEV_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
"""Java SimpleDateFormat of ``devTime``, as in IBM's own LEEF examples."""

# (LEEF key, click field), in the order they are written. usrName, url, cat and src
# are LEEF's predefined keys; the others are custom keys (docs/syslog.md).
KEYS: tuple[tuple[str, str], ...] = (
    ("cat", "category"),
    ("usrName", "userEmailAddress"),
    ("url", "url"),
    ("action", "action"),
    ("sender", "fromUserEmailAddress"),
    ("subject", "subject"),
    ("scanResult", "scanResult"),
    ("route", "route"),
    ("ttpDefinition", "ttpDefinition"),
    ("messageId", "messageId"),
    ("userAwarenessAction", "userAwarenessAction"),
)


def dev_time(epoch: int) -> str:
    """Format epoch seconds as ``devTime`` (``2024-11-17T17:02:30.000+0000``)."""
    return f"{utc_seconds(epoch)}.000+0000"


def header_delimiter(delimiter: str) -> str:
    """The delimiter as written in the LEEF header: a tab is spelled ``x09``."""
    return "x09" if delimiter == "\t" else delimiter


class LeefFormatter:
    """Turns one event into its LEEF 2.0 payload (UTF-8 bytes).

    Args:
        delimiter: the attribute delimiter, one character (validated by the config).
    """

    __slots__ = ("_delimiter", "_delimiter_escape", "_prefix")

    def __init__(self, delimiter: str = "^") -> None:
        self._delimiter = delimiter
        self._delimiter_escape = "\\t" if delimiter == "\t" else "\\" + delimiter
        declared = header_delimiter(delimiter)
        self._prefix = {
            risk: f"LEEF:2.0|{VENDOR}|{PRODUCT}|{VERSION}|{level.signature}|{declared}|"
            f"devTimeFormat={DEV_TIME_FORMAT}{delimiter}sev={level.leef}"
            for risk, level in LEVELS.items()
        }

    def escape_value(self, value: str) -> str:
        """Escape one attribute value for this delimiter."""
        return (
            value.replace("\\", "\\\\")
            .replace("\r", "\\r")
            .replace("\n", "\\n")
            .replace(self._delimiter, self._delimiter_escape)
        )

    def __call__(self, event: Event, risk: Risk) -> bytes:
        """Return the LEEF payload of ``event``, whose risk class is ``risk``."""
        data = event.data
        d = self._delimiter
        esc = self.escape_value
        parts = [self._prefix[risk], f"{d}devTime={dev_time(event.time)}"]
        src = sending_ip(data)
        if src is not None:
            parts.append(f"{d}src={src}")
        for key, field in KEYS:
            text = as_text(data.get(field))
            if text is not None:
                parts.append(f"{d}{key}={esc(text)}")
        parts.append(f"{d}externalId={esc(event.event_id)}{d}collectorSource={esc(event.source)}")
        return "".join(parts).encode()
