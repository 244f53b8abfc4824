"""One click as an OTLP ``LogRecord`` in OTLP's JSON encoding.

Attributes use OpenTelemetry's semantic conventions where one exists for the field
(``url.full`` for the clicked URL, ``user.email`` for the clicker) and ``mimecast.*``
for the rest, snake_cased. ``mimecast.event_id`` is the collector's stable event id
and ``mimecast.source`` the source's name. Severity follows Mimecast's ``action``: a
blocked or warned click is WARN, anything else INFO.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from collector.events import Event

# Click field -> attribute name, for the fields worth an attribute of their own.
ATTRIBUTES: dict[str, str] = {
    "url": "url.full",
    "userEmailAddress": "user.email",
    "fromUserEmailAddress": "mimecast.from_email",
    "action": "mimecast.action",
    "scanResult": "mimecast.scan_result",
    "category": "mimecast.category",
    "route": "mimecast.route",
    "sendingIp": "mimecast.sending_ip",
    "messageId": "mimecast.message_id",
    "subject": "mimecast.subject",
}
INFO, WARN = (9, "INFO"), (13, "WARN")
WARN_ACTIONS = frozenset({"block", "warn"})


def string_attribute(key: str, value: str) -> dict[str, Any]:
    """An OTLP ``KeyValue`` with a string value."""
    return {"key": key, "value": {"stringValue": value}}


def any_value(value: Any) -> dict[str, Any]:
    """A JSON value as an OTLP ``AnyValue`` (64-bit integers as strings, as OTLP/JSON says)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, dict):
        return {
            "kvlistValue": {"values": [{"key": k, "value": any_value(v)} for k, v in value.items()]}
        }
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {}  # null: an empty AnyValue


def log_record(event: Event, body: Literal["json", "map"], observed_ns: int) -> dict[str, Any]:
    """The ``LogRecord`` of one click."""
    data = event.data
    attributes = [
        string_attribute("mimecast.event_id", event.event_id),
        string_attribute("mimecast.source", event.source),
    ]
    for field, key in ATTRIBUTES.items():
        value = data.get(field)
        if isinstance(value, str) and value:
            attributes.append(string_attribute(key, value))
    number, text = WARN if str(data.get("action", "")).lower() in WARN_ACTIONS else INFO
    return {
        "timeUnixNano": str(event.time * 1_000_000_000),
        "observedTimeUnixNano": str(observed_ns),
        "severityNumber": number,
        "severityText": text,
        "body": {"stringValue": orjson.dumps(data).decode()} if body == "json" else any_value(data),
        "attributes": attributes,
    }
