"""Reading click fields as text, for the key=value formats (CEF and LEEF).

Mimecast's fields are strings, but a collector must not crash on the odd number,
list or null: each value becomes text here, once, the same way for every format.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

import orjson


def as_text(value: Any) -> str | None:
    """Return ``value`` as text, or None when it is missing or empty.

    Strings stay as they are, booleans become ``true``/``false``, numbers their
    decimal form, and lists or objects their compact JSON.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


@lru_cache(maxsize=4096)
def ip_address_or_none(value: str) -> str | None:
    """Return ``value`` if it is an IPv4 or IPv6 address, else None.

    ``src`` must hold an address in CEF and LEEF, while Mimecast writes the literal
    ``Internal IP`` for internal senders. Cached: the same senders recur on every page.
    """
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return None
    return value


def sending_ip(click: dict[str, Any]) -> str | None:
    """Return the click's ``sendingIp`` when it is a real address."""
    value = click.get("sendingIp")
    return ip_address_or_none(value) if isinstance(value, str) else None
