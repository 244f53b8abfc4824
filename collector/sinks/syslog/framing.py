"""Message size limits and RFC 6587 framing.

On TCP a receiver must find where each message ends:

- octet counting, ``LEN SP MSG`` (RFC 6587 3.4.1, mandatory on TLS per RFC 5425),
  survives any byte in the message;
- LF framing, ``MSG LF`` (3.4.2), splits a message at any raw newline, so every
  payload we build escapes newlines (JSON, CEF and LEEF all do).

A message longer than the limit is cut at a UTF-8 character boundary and ends with
:data:`TRUNCATION_MARKER`, so a reader can tell a cut message from a whole one.
"""

from __future__ import annotations

from collections.abc import Sequence

TRUNCATION_MARKER = b"...[truncated]"


def truncate(message: bytes, limit: int, keep: int) -> bytes:
    """Cut ``message`` to at most ``limit`` bytes, marker included.

    Args:
        message: header and payload, UTF-8.
        limit: the largest message allowed.
        keep: how many leading bytes (the header) must stay whole.

    Returns:
        ``message`` itself when it fits; otherwise its longest prefix that ends on a
        character boundary, not inside a backslash escape, and not before ``keep``,
        followed by the marker.
    """
    if len(message) <= limit:
        return message
    end = max(limit - len(TRUNCATION_MARKER), keep)
    # Step back over UTF-8 continuation bytes (10xxxxxx) to the start of a character.
    while end > keep and message[end] & 0xC0 == 0x80:
        end -= 1
    # An odd run of backslashes at the cut would escape the marker's first character.
    run = 0
    while end - run > keep and message[end - run - 1] == 0x5C:
        run += 1
    if run % 2:
        end -= 1
    return message[:end] + TRUNCATION_MARKER


def octet_counted(messages: Sequence[bytes]) -> bytes:
    """Frame messages as ``LEN SP MSG`` each, back to back, in one buffer."""
    parts: list[bytes] = []
    append = parts.append
    for message in messages:
        append(b"%d " % len(message))
        append(message)
    return b"".join(parts)


def lf_terminated(messages: Sequence[bytes]) -> bytes:
    """Frame messages as ``MSG LF`` each, in one buffer.

    Raises:
        ValueError: a message contains a raw LF, which would split it in two.
    """
    page = b"\n".join(messages) + b"\n" if messages else b""
    if page.count(b"\n") != len(messages):
        raise ValueError("a message contains a raw newline, which LF framing cannot carry")
    return page
