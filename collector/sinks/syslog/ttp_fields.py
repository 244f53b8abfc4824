"""Syslog payloads per kind of record: the CEF and LEEF fields of attachment and
impersonation logs, and their risk classes.

URL clicks keep their own mapping (:mod:`.cef`, :mod:`.leef`, :mod:`.severity`);
:func:`by_kind` hands any other kind to :class:`KindCef` or :class:`KindLeef`. The tables
below are the documented ones (docs/syslog.md, "Attachment and impersonation logs").
The JSON payload's kind is added by :mod:`.kind_json`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.events import Event
from collector.sinks.kinds import names_of
from collector.sinks.syslog.cef import VERSION, escape_header, escape_value
from collector.sinks.syslog.fields import as_text, ip_address_or_none
from collector.sinks.syslog.leef import DEV_TIME_FORMAT, LeefFormatter, dev_time, header_delimiter
from collector.sinks.syslog.severity import LEVELS, Risk, classify

Classifier = Callable[[dict[str, Any]], Risk]

# Actions that stop a message or file from reaching the user (any word of them).
_STOPPING = ("block", "hold", "reject", "bounce", "quarantine", "delete")


@dataclass(frozen=True, slots=True)
class KindFields:
    """The syslog mapping of one kind.

    Attributes:
        classify: the record's risk class.
        events: per risk class, the CEF Device Event Class ID / LEEF EventID and the
            CEF name.
        cef: ``(CEF key, record field, label)``; a label makes it a custom field
            written as ``<key>Label=<label> <key>=<value>``.
        leef: ``(LEEF key, record field)``.
        src: the field holding the sender's IP address (``src`` when it is one).
    """

    classify: Classifier
    events: dict[Risk, tuple[str, str]]
    cef: tuple[tuple[str, str, str | None], ...]
    leef: tuple[tuple[str, str], ...]
    src: str | None = None


def _stopping(action: Any) -> bool:
    return isinstance(action, str) and any(word in action.lower() for word in _STOPPING)


def classify_attachment(record: dict[str, Any]) -> Risk:
    """``result`` malicious: blocked when ``actionTriggered`` stopped the file."""
    result = record.get("result")
    if not isinstance(result, str):
        return Risk.UNKNOWN
    if result.lower() == "malicious":
        blocked = _stopping(record.get("actionTriggered"))
        return Risk.MALICIOUS_BLOCKED if blocked else Risk.MALICIOUS_ALLOWED
    return Risk.CLEAN if result.lower() in ("safe", "clean") else Risk.UNKNOWN


def classify_impersonation(record: dict[str, Any]) -> Risk:
    """``taggedMalicious``: blocked when ``action`` held, bounced or rejected the message."""
    tagged = record.get("taggedMalicious")
    if tagged is True:
        blocked = _stopping(record.get("action"))
        return Risk.MALICIOUS_BLOCKED if blocked else Risk.MALICIOUS_ALLOWED
    return Risk.CLEAN if tagged is False else Risk.UNKNOWN


ATTACHMENT = KindFields(
    classify=classify_attachment,
    events={
        Risk.MALICIOUS_ALLOWED: (
            "attachment-malicious-allowed",
            "Malicious attachment not blocked",
        ),
        Risk.MALICIOUS_BLOCKED: ("attachment-malicious-blocked", "Malicious attachment blocked"),
        Risk.UNKNOWN: ("attachment-unknown", "Attachment sandboxed, result unknown"),
        Risk.CLEAN: ("attachment-safe", "Safe attachment"),
    },
    cef=(
        ("act", "actionTriggered", None),
        ("fname", "fileName", None),
        ("fileType", "fileType", None),
        ("fileHash", "fileHash", None),
        ("duser", "recipientAddress", None),
        ("suser", "senderAddress", None),
        ("msg", "subject", None),
        ("cs1", "definition", "definition"),
        ("cs2", "route", "route"),
        ("cs3", "result", "result"),
        ("cs4", "messageId", "messageId"),
        ("cs5", "details", "details"),
    ),
    leef=(
        ("usrName", "recipientAddress"),
        ("sender", "senderAddress"),
        ("subject", "subject"),
        ("fileName", "fileName"),
        ("fileType", "fileType"),
        ("fileHash", "fileHash"),
        ("result", "result"),
        ("action", "actionTriggered"),
        ("route", "route"),
        ("definition", "definition"),
        ("messageId", "messageId"),
        ("details", "details"),
    ),
)
IMPERSONATION = KindFields(
    classify=classify_impersonation,
    events={
        Risk.MALICIOUS_ALLOWED: (
            "impersonation-malicious-allowed",
            "Impersonation attempt delivered",
        ),
        Risk.MALICIOUS_BLOCKED: ("impersonation-malicious-blocked", "Impersonation attempt held"),
        Risk.UNKNOWN: ("impersonation-unknown", "Impersonation check, verdict unknown"),
        Risk.CLEAN: ("impersonation-not-malicious", "Impersonation check below threshold"),
    },
    cef=(
        ("act", "action", None),
        ("duser", "recipientAddress", None),
        ("suser", "senderAddress", None),
        ("msg", "subject", None),
        ("cs1", "definition", "definition"),
        ("cs2", "identifiers", "identifiers"),
        ("cs3", "taggedMalicious", "taggedMalicious"),
        ("cs4", "messageId", "messageId"),
        ("cs5", "id", "mimecastId"),
        ("cn1", "hits", "hits"),
        ("flexString1", "taggedExternal", "taggedExternal"),
    ),
    leef=(
        ("usrName", "recipientAddress"),
        ("sender", "senderAddress"),
        ("subject", "subject"),
        ("action", "action"),
        ("definition", "definition"),
        ("hits", "hits"),
        ("identifiers", "identifiers"),
        ("taggedMalicious", "taggedMalicious"),
        ("taggedExternal", "taggedExternal"),
        ("mimecastId", "id"),
        ("messageId", "messageId"),
    ),
    src="senderIpAddress",
)
OTHER = KindFields(
    classify=lambda _record: Risk.UNKNOWN,
    events={risk: (f"{{kind}}-{risk.name.lower()}", "{kind} log") for risk in Risk},
    cef=(
        ("act", "action", None),
        ("duser", "recipientAddress", None),
        ("suser", "senderAddress", None),
        ("msg", "subject", None),
    ),
    leef=(
        ("usrName", "recipientAddress"),
        ("sender", "senderAddress"),
        ("subject", "subject"),
        ("action", "action"),
    ),
)
"""A kind without a mapping of its own (an endpoint added later)."""

KIND_FIELDS: dict[str, KindFields] = {"attachment": ATTACHMENT, "impersonation": IMPERSONATION}


def fields_of(kind: str) -> KindFields:
    """The syslog mapping of ``kind`` (not ``url``, whose mapping is :mod:`.cef`)."""
    return KIND_FIELDS.get(kind, OTHER)


def classify_event(event: Event) -> Risk:
    """The risk class of any record, by its kind."""
    if event.kind == "url":
        return classify(event.data)
    return fields_of(event.kind).classify(event.data)


def _source_ip(mapping: KindFields, record: dict[str, Any]) -> str | None:
    value = record.get(mapping.src) if mapping.src else None
    return ip_address_or_none(value) if isinstance(value, str) else None


class KindCef:
    """CEF payloads of every kind but ``url``; headers built once per kind and risk."""

    __slots__ = ("_prefixes",)

    def __init__(self) -> None:
        self._prefixes: dict[str, dict[Risk, str]] = {}

    def _prefix(self, kind: str, mapping: KindFields) -> dict[Risk, str]:
        prefix = self._prefixes.get(kind)
        if prefix is None:
            head = "|".join(escape_header(p) for p in ("Mimecast", names_of(kind).product, VERSION))
            prefix = self._prefixes[kind] = {
                risk: f"CEF:0|{head}|{escape_header(sig.format(kind=kind))}|"
                f"{escape_header(name.format(kind=kind))}|{LEVELS[risk].cef}|"
                for risk, (sig, name) in mapping.events.items()
            }
        return prefix

    def __call__(self, event: Event, risk: Risk) -> bytes:
        """Return the CEF payload of ``event``, whose risk class is ``risk``."""
        mapping, record = fields_of(event.kind), event.data
        parts = [
            self._prefix(event.kind, mapping)[risk],
            f"rt={event.time * 1000} externalId={escape_value(event.event_id)}",
        ]
        src = _source_ip(mapping, record)
        if src is not None:
            parts.append(f" src={src}")
        for key, field, label in mapping.cef:
            text = as_text(record.get(field))
            if text is None:
                continue
            named = f" {key}Label={label}" if label else ""
            parts.append(f"{named} {key}={escape_value(text)}")
        parts.append(f" cs6Label=collectorSource cs6={escape_value(event.source)}")
        return "".join(parts).encode()


class KindLeef:
    """LEEF 2.0 payloads of every kind but ``url``; same header and escaping as :mod:`.leef`.

    Args:
        delimiter: the attribute delimiter, one character (validated by the config).
    """

    __slots__ = ("_delimiter", "_escape", "_prefixes")

    def __init__(self, delimiter: str = "^") -> None:
        self._delimiter = delimiter
        self._escape = LeefFormatter(delimiter).escape_value
        self._prefixes: dict[tuple[str, Risk], str] = {}

    def _prefix(self, kind: str, risk: Risk) -> str:
        prefix = self._prefixes.get((kind, risk))
        if prefix is None:
            signature = fields_of(kind).events[risk][0].format(kind=kind)
            d = self._delimiter
            prefix = self._prefixes[(kind, risk)] = (
                f"LEEF:2.0|Mimecast|{names_of(kind).product}|{VERSION}|{signature}|"
                f"{header_delimiter(d)}|devTimeFormat={DEV_TIME_FORMAT}{d}sev={LEVELS[risk].leef}"
            )
        return prefix

    def __call__(self, event: Event, risk: Risk) -> bytes:
        """Return the LEEF payload of ``event``, whose risk class is ``risk``."""
        mapping, record, d, esc = fields_of(event.kind), event.data, self._delimiter, self._escape
        parts = [self._prefix(event.kind, risk), f"{d}devTime={dev_time(event.time)}"]
        src = _source_ip(mapping, record)
        if src is not None:
            parts.append(f"{d}src={src}")
        for key, field in mapping.leef:
            text = as_text(record.get(field))
            if text is not None:
                parts.append(f"{d}{key}={esc(text)}")
        parts.append(f"{d}externalId={esc(event.event_id)}{d}collectorSource={esc(event.source)}")
        return "".join(parts).encode()


Payload = Callable[[Event, Risk], bytes]


def by_kind(url: Payload, other: Payload) -> Payload:
    """A payload formatter that gives URL clicks to ``url`` and every other kind to ``other``."""

    def payload(event: Event, risk: Risk) -> bytes:
        return url(event, risk) if event.kind == "url" else other(event, risk)

    return payload
