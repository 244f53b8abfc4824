"""Attachment and impersonation logs -> Elastic Common Schema, as Elastic's integration does.

Field for field what the ``ttp_ap_logs`` and ``ttp_ip_logs`` ingest pipelines of the
``mimecast`` package in elastic/integrations produce (ECS 8.11; checked against the
values of their pipeline tests in ``tests/http_sinks/test_ecs_ttp.py``), so that
dashboards and rules written for those data streams work unchanged. URL clicks are
mapped by :mod:`collector.sinks.http.ecs`; :func:`ecs_document` picks by ``event.kind``.

Attachment logs (``mimecast.ttp_ap_logs``):

=====================  =================================================================
log field              ECS field
=====================  =================================================================
``date``               ``@timestamp`` (UTC, ms) and ``event.created`` (as sent)
``senderAddress``      ``email.from.address`` (a list, as sent: ``<>`` stays ``<>``)
``recipientAddress``   ``email.to.address``
``actionTriggered``    ``event.action``: commas removed, spaces -> ``_``
                       (``user release, none`` -> ``user_release_none``)
``subject``            ``email.subject``
``messageId``          ``email.message_id``
``route``              ``email.direction``, lowercased
``fileName``           ``email.attachments.file.name``; the text after its last ``.``
                       is ``email.attachments.file.extension``
``fileType``           ``email.attachments.file.mime_type``
``fileHash``           ``email.attachments.file.hash.sha256`` and ``related.hash`` when it
                       is 64 characters long; otherwise it stays ``mimecast.fileHash``
``definition``         ``rule.name``
everything else        ``mimecast.<name>`` (``result``, ``details``)
=====================  =================================================================

Impersonation logs (``mimecast.ttp_ip_logs``):

=====================  =================================================================
``eventTime``          ``@timestamp`` (UTC, ms) and ``event.created`` (as sent)
``id``                 ``event.id`` (the ``MTOKEN:...``)
``senderAddress``      ``email.from.address``
``recipientAddress``   ``email.to.address``
``senderIpAddress``    ``source.ip`` and ``related.ip`` when it is an IP address [1]
``subject``            ``email.subject``
``action``             ``event.action``
``definition``         ``rule.name``
``messageId``          ``email.message_id``
``similarDomain``      ``source.domain`` (when Mimecast sends it at the top level)
everything else        ``mimecast.<name>`` (``hits``, ``identifiers``,
                       ``impersonationResults``, ``taggedExternal``, ``taggedMalicious``)
=====================  =================================================================

[1] Elastic's pipeline moves any value to ``source.ip``, and a value that is not an
address then makes Elasticsearch refuse the whole document; it stays
``mimecast.senderIpAddress`` here instead, as ``sendingIp`` does for URL clicks.

Neither pipeline sets ``event.category``, so neither does this module. Both always have
``ecs.version`` 8.11.0, ``event.module`` mimecast and ``event.dataset``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from collector.events import Event
from collector.sinks.http.ecs import ECS_VERSION, is_ip, timestamp, to_ecs
from collector.sinks.kinds import names_of

Mapper = Callable[[dict[str, Any], dict[str, Any]], None]
"""Moves a record's fields into ECS: ``(doc, rest)``; what is left in ``rest`` is kept."""

# Renamed as they are, in the pipelines' order: log field -> ECS path.
_ATTACHMENT_RENAMES = {
    "subject": "email.subject",
    "messageId": "email.message_id",
    "route": "email.direction",
    "fileName": "email.attachments.file.name",
    "definition": "rule.name",
    "fileType": "email.attachments.file.mime_type",
}
_IMPERSONATION_RENAMES = {
    "subject": "email.subject",
    "action": "event.action",
    "definition": "rule.name",
    "id": "event.id",
    "messageId": "email.message_id",
    "similarDomain": "source.domain",
}
SHA256_HEX_LENGTH = 64


def ecs_document(
    event: Event, *, preserve_original: bool = False, data_stream: dict[str, str] | None = None
) -> dict[str, Any]:
    """Map one record of any kind to the ECS document Elastic's integration would index.

    Args: as :func:`collector.sinks.http.ecs.to_ecs`.
    """
    if event.kind == "url":
        return to_ecs(event, preserve_original=preserve_original, data_stream=data_stream)
    mapper, date_field = _MAPPERS.get(event.kind, (_keep, "date"))
    record = event.data
    doc: dict[str, Any] = {"@timestamp": timestamp(event.time), "ecs": {"version": ECS_VERSION}}
    doc["event"] = {"module": "mimecast", "dataset": names_of(event.kind).ecs_dataset}
    hidden = (date_field, "senderAddress", "recipientAddress")
    rest = {k: v for k, v in record.items() if v is not None and k not in hidden}
    _addresses(doc, record)
    if isinstance(record.get(date_field), str):
        doc["event"]["created"] = record[date_field]
    mapper(doc, rest)
    if rest:
        doc["mimecast"] = rest
    if data_stream is not None:
        doc["data_stream"] = dict(data_stream)
    if preserve_original:
        doc["event"]["original"] = orjson.dumps(record).decode()
        doc["tags"] = ["preserve_original_event"]
    return doc


def _attachment(doc: dict[str, Any], rest: dict[str, Any]) -> None:
    action = rest.pop("actionTriggered", None)
    if action is not None:
        _put(doc, "event.action", _action_words(action))
    _rename(doc, rest, _ATTACHMENT_RENAMES)
    digest = rest.get("fileHash")
    if isinstance(digest, str) and len(digest) == SHA256_HEX_LENGTH:
        del rest["fileHash"]
        _put(doc, "email.attachments.file.hash.sha256", digest)
        doc.setdefault("related", {})["hash"] = [digest]
    name = doc.get("email", {}).get("attachments", {}).get("file", {}).get("name")
    if isinstance(name, str):
        parts = _java_split(name, ".")
        if len(parts) > 1:
            _put(doc, "email.attachments.file.extension", parts[-1])
    direction = doc.get("email", {}).get("direction")
    if isinstance(direction, str):
        doc["email"]["direction"] = direction.lower()


def _impersonation(doc: dict[str, Any], rest: dict[str, Any]) -> None:
    ip = rest.get("senderIpAddress")
    if isinstance(ip, str) and is_ip(ip):
        del rest["senderIpAddress"]
        doc["source"] = {"ip": ip}
        doc.setdefault("related", {})["ip"] = [ip]
    _rename(doc, rest, _IMPERSONATION_RENAMES)


def _keep(doc: dict[str, Any], rest: dict[str, Any]) -> None:
    """A kind without its own mapping: everything stays under ``mimecast.*``."""


_MAPPERS: dict[str, tuple[Mapper, str]] = {
    "attachment": (_attachment, "date"),
    "impersonation": (_impersonation, "eventTime"),
}


def _addresses(doc: dict[str, Any], record: dict[str, Any]) -> None:
    # The pipelines `append` a rendered template: always a list of one string.
    for field, path in (
        ("senderAddress", "email.from.address"),
        ("recipientAddress", "email.to.address"),
    ):
        value = record.get(field)
        if value is not None:
            _put(doc, path, [str(value)])


def _action_words(action: Any) -> Any:
    # gsub "," -> "" then " " -> "_": "user release, none" -> "user_release_none".
    return action.replace(",", "").replace(" ", "_") if isinstance(action, str) else action


def _rename(doc: dict[str, Any], rest: dict[str, Any], renames: dict[str, str]) -> None:
    for field, path in renames.items():
        value = rest.pop(field, None)
        if value is not None:
            _put(doc, path, value)


def _put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *groups, leaf = dotted.split(".")
    node = doc
    for group in groups:
        node = node.setdefault(group, {})
    node[leaf] = value


def _java_split(text: str, separator: str) -> list[str]:
    """``String.split`` as the ``split`` processor calls it: trailing empty parts dropped."""
    parts = text.split(separator)
    while parts and not parts[-1]:
        parts.pop()
    return parts
