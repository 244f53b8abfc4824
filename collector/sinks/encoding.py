"""NDJSON encoding shared by the sinks that write lines: file, stdout, and later others.

One page becomes one ``bytes`` object, one JSON object per line, every line ending in
``\\n`` (the last one too). orjson escapes control characters, so a newline inside a
value is written as ``\\n`` and every event stays on exactly one line.
"""

from __future__ import annotations

from typing import Literal

import orjson

from collector.events import Batch, utc_seconds

Format = Literal["raw", "envelope"]
"""How each event is written.

``raw``: the record exactly as Mimecast returned it (same keys, same order, same
values). ``envelope``: ``{"event_id", "source", "kind", "time", "log"}`` with the record
under ``log`` and its kind (``url``, ``attachment``, ``impersonation``), so a downstream
reader can drop the duplicates of an at-least-once delivery by ``event_id``.
"""

_LINE = orjson.OPT_APPEND_NEWLINE


def encode_ndjson(events: Batch, fmt: Format) -> bytes:
    """Encode one page of events as NDJSON.

    Args:
        events: the page, in the order the lines are to be written.
        fmt: ``"raw"`` or ``"envelope"`` (see :data:`Format`).

    Returns:
        The lines joined into one buffer, ready for a single ``write``; ``b""`` for an
        empty page.

    Raises:
        orjson.JSONEncodeError: an event holds a value JSON cannot represent.
        ValueError: ``fmt`` is not a known format.
    """
    dumps = orjson.dumps
    # Each line is appended to one buffer and freed at once: a list of 500 lines, each a
    # separate allocation alive until a join, held 1.7 MiB more at peak with four
    # catch-up slices, and cost CPU (about 7% of a `once` in an A/B).
    page = bytearray()
    if fmt == "raw":
        for event in events:
            page += dumps(event.data, option=_LINE)
        return bytes(page)
    if fmt != "envelope":
        raise ValueError(f"unknown format {fmt!r}")
    for event in events:
        page += dumps(
            {
                "event_id": event.event_id,
                "source": event.source,
                "kind": event.kind,
                "time": f"{utc_seconds(event.time)}Z",
                "log": event.data,
            },
            option=_LINE,
        )
    return bytes(page)


__all__ = ["Format", "encode_ndjson"]
