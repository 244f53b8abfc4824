"""The ``json`` syslog payload: the record as Mimecast returned it, plus its kind."""

from __future__ import annotations

import orjson

from collector.events import Event
from collector.sinks.syslog.severity import Risk

_KIND_SUFFIX: dict[str, bytes] = {}


def json_with_kind(event: Event, _risk: Risk) -> bytes:
    """The ``json`` payload: the record as Mimecast returned it, plus ``mimecast.kind``.

    ``{...Mimecast's keys..., "mimecast": {"kind": "url"}}``: one key more, at the end,
    named as Elastic's integration names what is not ECS (``mimecast.*``). The record
    is serialized once and the key spliced in; a record that already has a
    ``mimecast`` key (none of Mimecast's do) gets the kind added inside it.
    """
    record = event.data
    if not record or "mimecast" in record:
        given = record.get("mimecast")
        inner = {**given, "kind": event.kind} if isinstance(given, dict) else {"kind": event.kind}
        return orjson.dumps({**record, "mimecast": inner})
    suffix = _KIND_SUFFIX.get(event.kind)
    if suffix is None:
        suffix = _KIND_SUFFIX[event.kind] = (
            b',"mimecast":' + orjson.dumps({"kind": event.kind}) + b"}"
        )
    return orjson.dumps(record)[:-1] + suffix
