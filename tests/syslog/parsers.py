"""Parsers written for the tests, independently of the sink's code, from the specs.

- RFC 5424 (section 6) with structured data, and RFC 6587 octet-counted frames;
- CEF: header fields split at unescaped ``|``, extension at unescaped ``=``;
- LEEF 2.0: attributes split at the unescaped delimiter.

They are strict: anything the specs do not allow raises ValueError, so a property
test fails on a malformed message instead of parsing it leniently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER_5424 = re.compile(
    rb"<(?P<pri>[0-9]{1,3})>1 (?P<timestamp>[!-~]+) (?P<hostname>[!-~]{1,255}) "
    rb"(?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
)
_SD_NAME = re.compile(r"[!-~]{1,32}")


@dataclass
class Syslog5424:
    """A parsed RFC 5424 message."""

    pri: int
    timestamp: str
    hostname: str
    app: str
    procid: str
    msgid: str
    sd: list[tuple[str, dict[str, str]]]
    msg: bytes


def _param_value(text: str, start: int) -> tuple[str, int]:
    """Read a quoted PARAM-VALUE whose opening quote is at ``start``; return it and the end."""
    if text[start] != '"':
        raise ValueError("PARAM-VALUE must be quoted")
    value = []
    j = start + 1
    while text[j] != '"':
        if text[j] == "\\" and text[j + 1] in '"\\]':
            value.append(text[j + 1])
            j += 2
            continue
        if text[j] == "]":
            raise ValueError("unescaped ']' in PARAM-VALUE")
        value.append(text[j])
        j += 1
    return "".join(value), j + 1


def _parse_sd(text: str) -> tuple[list[tuple[str, dict[str, str]]], int]:
    """Parse SD elements at the start of ``text``; return them and the length consumed."""
    if text.startswith("-"):
        return [], 1
    elements: list[tuple[str, dict[str, str]]] = []
    i = 0
    while i < len(text) and text[i] == "[":
        end = i + 1
        while end < len(text) and text[end] not in " ]":
            end += 1
        sd_id = text[i + 1 : end]
        if not _SD_NAME.fullmatch(sd_id) or any(c in sd_id for c in '="'):
            raise ValueError(f"bad SD-ID {sd_id!r}")
        params: dict[str, str] = {}
        i = end
        while text[i] == " ":
            eq = text.index("=", i)
            name = text[i + 1 : eq]
            if not _SD_NAME.fullmatch(name) or any(c in name for c in ' ]"'):
                raise ValueError(f"bad PARAM-NAME {name!r}")
            params[name], i = _param_value(text, eq + 1)
        if text[i] != "]":
            raise ValueError("SD-ELEMENT not closed")
        elements.append((sd_id, params))
        i += 1
    if not elements:
        raise ValueError("no STRUCTURED-DATA")
    return elements, i


def parse_5424(message: bytes) -> Syslog5424:
    """Parse one RFC 5424 message (without framing)."""
    match = _HEADER_5424.match(message)
    if match is None:
        raise ValueError(f"not an RFC 5424 header: {message[:120]!r}")
    # SD and MSG are UTF-8: find where SD ends by parsing it; MSG follows after one SP.
    rest = message[match.end() :].decode("utf-8")
    sd, used = _parse_sd(rest)
    tail = rest[used:].encode()
    if tail and not tail.startswith(b" "):
        raise ValueError("STRUCTURED-DATA not followed by SP")
    return Syslog5424(
        pri=int(match["pri"]),
        timestamp=match["timestamp"].decode(),
        hostname=match["hostname"].decode(),
        app=match["app"].decode(),
        procid=match["procid"].decode(),
        msgid=match["msgid"].decode(),
        sd=sd,
        msg=tail[1:],
    )


def parse_octet_frames(stream: bytes) -> list[bytes]:
    """Split an RFC 6587 octet-counted stream into its messages; it must end on a frame."""
    messages = []
    i = 0
    while i < len(stream):
        space = stream.index(b" ", i)
        digits = stream[i:space]
        if not digits.isdigit() or digits.startswith(b"0"):
            raise ValueError(f"bad MSG-LEN {digits[:20]!r}")
        end = space + 1 + int(digits)
        if end > len(stream):
            raise ValueError("frame runs past the end of the stream")
        messages.append(stream[space + 1 : end])
        i = end
    return messages


def _split_unescaped(text: str, separator: str, limit: int = -1) -> list[str]:
    """Split at ``separator`` where it is not escaped by a backslash (escapes are kept)."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if c == separator and (limit < 0 or len(parts) < limit):
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str, table: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            if i + 1 >= len(text) or text[i + 1] not in table:
                raise ValueError(f"bad escape in {text!r}")
            out.append(table[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@dataclass
class Cef:
    """A parsed CEF payload."""

    header: list[str]  # Version .. Severity, 7 fields, unescaped
    extension: dict[str, str]


def parse_cef(text: str) -> Cef:
    """Parse ``CEF:0|...|ext``; extension values are unescaped."""
    if not text.startswith("CEF:"):
        raise ValueError("not CEF")
    fields = _split_unescaped(text[4:], "|", limit=7)
    if len(fields) != 8:
        raise ValueError("CEF needs 7 header fields")
    header = [_unescape(f, {"\\": "\\", "|": "|"}) for f in fields[:7]]
    extension: dict[str, str] = {}
    segments = _split_unescaped(fields[7], "=")
    key = segments[0]
    for i, segment in enumerate(segments[1:], 1):
        if i < len(segments) - 1:
            value, _, next_key = segment.rpartition(" ")
        else:
            value, next_key = segment, ""
        if not re.fullmatch(r"[A-Za-z0-9]+", key):
            raise ValueError(f"bad CEF key {key!r}")
        if key in extension:
            raise ValueError(f"duplicate key {key}")
        extension[key] = _unescape(value, {"\\": "\\", "=": "=", "n": "\n", "r": "\r"})
        key = next_key
    return Cef(header, extension)


@dataclass
class Leef:
    """A parsed LEEF 2.0 payload."""

    header: list[str]  # LEEF:2.0, vendor, product, version, event id
    delimiter: str
    attributes: dict[str, str]


def parse_leef(text: str) -> Leef:
    """Parse ``LEEF:2.0|V|P|Ver|EventID|delim|attrs``; values are unescaped."""
    fields = text.split("|", 6)
    if len(fields) != 7 or fields[0] != "LEEF:2.0":
        raise ValueError("not LEEF 2.0")
    declared = fields[5]
    delimiter = "\t" if declared.lower() in ("x09", "0x09") else declared
    if len(delimiter) != 1:
        raise ValueError(f"bad delimiter {declared!r}")
    escape_table = {"\\": "\\", "n": "\n", "r": "\r", delimiter: delimiter}
    if delimiter == "\t":
        escape_table["t"] = "\t"
    attributes: dict[str, str] = {}
    for pair in _split_unescaped(fields[6], delimiter):
        key, eq, value = pair.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z0-9]+", key) or key in attributes:
            raise ValueError(f"bad attribute {pair!r}")
        attributes[key] = _unescape(value, escape_table)
    return Leef(fields[:5], delimiter, attributes)
