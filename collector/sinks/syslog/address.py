"""The receiver's ``address``: ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""

from __future__ import annotations

import ipaddress


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` into host and port.

    Raises:
        ValueError: the address cannot be understood.
    """
    text = address.strip()
    port_text: str | None = None
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"must be host:port or [IPv6]:port, got {address!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
        if ":" in host:  # several colons: only a bare IPv6 literal, without a port
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"write an IPv6 address as [addr]:port, got {address!r}") from None
    if not host:
        raise ValueError(f"has no host, got {address!r}")
    if port_text is None:
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be 1 to 65535, got {port_text!r}")
    return host, int(port_text)
