"""Mimecast click log -> Elastic Common Schema, the way Elastic's own integration does it.

This reproduces, field for field, what the ``ttp_url_logs`` ingest pipeline of the
``mimecast`` package in elastic/integrations produces (ECS 8.11; checked against the
values of its pipeline tests, see ``tests/http_sinks/test_ecs.py``), so that dashboards,
saved searches and detection rules written for that integration work unchanged:

==============================  =======================================================
click field                     ECS field
==============================  =======================================================
``date``                        ``@timestamp`` (UTC, ms) and ``event.created`` (as sent)
``url``                         ``url.original``, plus ``url.scheme/domain/port/path/
                                extension/query/fragment/user_info/username/password``
                                as Elasticsearch's ``uri_parts`` processor splits it
``userAwarenessAction``         ``event.action``
``route``                       ``email.direction``
``ttpDefinition``               ``rule.name``
``subject``                     ``email.subject``
``messageId``                   ``email.message_id``
``fromUserEmailAddress``        ``email.from.address`` [1], ``related.user``
``userEmailAddress``            ``email.to.address`` [1], ``user.email`` [1], ``related.user``
``sendingIp``                   ``source.ip`` and ``related.ip`` when it is an IP address;
                                otherwise kept as ``mimecast.sendingIp`` ("Internal IP")
everything else                 ``mimecast.<name>`` unchanged (``tagMap`` keys with ``:``
                                get ``_`` instead, as the integration does)
(constant)                      ``ecs.version`` 8.11.0, ``event.category`` [email],
                                ``event.module`` mimecast, ``event.dataset``
                                mimecast.ttp_url_logs
==============================  =======================================================

The integration's own ``_id`` (a fingerprint of messageId and date) is not used: it
collides for two recipients of one message clicking in the same second; the sink uses
the collector's event id instead.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import unquote

import orjson

from collector.events import Event, utc_seconds

ECS_VERSION = "8.11.0"
DATASET = "mimecast.ttp_url_logs"

# Moved out of the click into ECS fields (the rest stays under ``mimecast.*``).
_RENAMED = {
    "url": ("url", "original"),
    "userAwarenessAction": ("event", "action"),
    "route": ("email", "direction"),
    "ttpDefinition": ("rule", "name"),
    "subject": ("email", "subject"),
    "messageId": ("email", "message_id"),
}
_DROPPED = ("date", "fromUserEmailAddress", "userEmailAddress")


def timestamp(epoch: int) -> str:
    """``@timestamp`` as Elasticsearch's date processor writes it: ``...T14:45:34.000Z``."""
    return f"{utc_seconds(epoch)}.000Z"


def to_ecs(
    event: Event, *, preserve_original: bool = False, data_stream: dict[str, str] | None = None
) -> dict[str, Any]:
    """Map one click to the ECS document Elastic's integration would index.

    Args:
        event: the click.
        preserve_original: also keep the click as JSON text in ``event.original`` and
            tag the document ``preserve_original_event`` (the integration's option).
        data_stream: ``{"type", "dataset", "namespace"}`` of the target data stream,
            written as ``data_stream.*`` (they must agree with the stream's name).
    """
    click = event.data
    doc: dict[str, Any] = {"@timestamp": timestamp(event.time), "ecs": {"version": ECS_VERSION}}
    ecs_event: dict[str, Any] = {"category": ["email"], "module": "mimecast", "dataset": DATASET}
    doc["event"] = ecs_event
    rest = dict(click)  # a C-level copy, then only the exceptions in Python
    for name in _DROPPED:
        rest.pop(name, None)
    if None in rest.values():
        rest = {k: v for k, v in rest.items() if v is not None}
    for name, (group, key) in _RENAMED.items():
        value = rest.pop(name, None)
        if value is not None:
            doc.setdefault(group, {})[key] = value
    if isinstance(click.get("date"), str):
        ecs_event["created"] = click["date"]
    _addresses(doc, click)
    ip = rest.get("sendingIp")
    if isinstance(ip, str) and is_ip(ip):
        del rest["sendingIp"]
        doc["source"] = {"ip": ip}
        doc.setdefault("related", {})["ip"] = [ip]
    original = doc.get("url", {}).get("original")
    if isinstance(original, str):
        doc["url"].update(uri_parts(original))
    if isinstance(rest.get("tagMap"), dict):
        rest["tagMap"] = _safe_keys(rest["tagMap"])
    if rest:
        doc["mimecast"] = rest
    if data_stream is not None:
        doc["data_stream"] = dict(data_stream)
    if preserve_original:
        ecs_event["original"] = orjson.dumps(click).decode()
        doc["tags"] = ["preserve_original_event"]
    return doc


def _addresses(doc: dict[str, Any], click: dict[str, Any]) -> None:
    sender, recipient = click.get("fromUserEmailAddress"), click.get("userEmailAddress")
    related: list[str] = []
    if sender is not None:
        doc.setdefault("email", {})["from"] = {"address": [str(sender)]}
        related.append(str(sender))
    if recipient is not None:
        doc.setdefault("email", {})["to"] = {"address": [str(recipient)]}
        doc["user"] = {"email": [str(recipient)]}
        if str(recipient) not in related:
            related.append(str(recipient))
    if related:
        doc.setdefault("related", {})["user"] = related


def _safe_keys(value: Any) -> Any:
    # A ':' in a field name breaks Kibana queries; the integration writes '_' instead.
    if isinstance(value, dict):
        return {str(k).replace(":", "_"): _safe_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe_keys(v) for v in value]
    return value


# A dotted quad exactly as ipaddress accepts it (ASCII digits, no leading zero, <= 255).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def is_ip(text: str) -> bool:
    """True when ``text`` is an IPv4 or IPv6 address (the ``convert`` type ``ip`` test).

    IPv4, nearly every ``sendingIp``, is decided by one regular expression (ipaddress
    took a fifth of a click's ECS mapping); anything else without a ``:`` cannot be an
    address, and the rest is for ipaddress to judge.
    """
    if _DOTTED_QUAD.fullmatch(text):
        return True
    if ":" not in text:
        return False
    try:
        # inet_pton (C) accepts a subset of what ipaddress does (no scope id); what
        # it refuses still goes to ipaddress, so the verdict stays ipaddress's.
        socket.inet_pton(socket.AF_INET6, text)
        return True
    except (OSError, ValueError):
        pass
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# java.net.URI accepts unreserved, reserved, '%XX' escapes and non-ASCII "other"
# characters; anything else (space, '"', '<', '>', '\\', '^', '`', '{', '|', '}', a
# stray '%', '[' outside an IPv6 host) makes it throw, and Elasticsearch then falls
# back to java.net.URL.
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#@!$&'()*+,;=%\u0080-\U0010ffff]*$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URI = re.compile(
    r"^(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$"
)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
# RFC 2396 host names, as java.net.URI checks them: the last label starts with a letter.
_HOSTNAME = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?$"
)
_URL_PROTOCOLS = frozenset({"http", "https", "ftp", "file", "jar", "mailto"})
# The shape of nearly every clicked link: http(s), a host of letters, digits, dots and
# hyphens (no user info, no port), then a path and a query of URI characters and no
# fragment. Such a URL is always strict (java.net.URI parses it), so one match replaces
# the general path's three scans (a property test in tests/http_sinks/test_ecs.py holds
# the two paths to the same answer).
_COMMON = re.compile(
    r"(https?)://([A-Za-z0-9.\-]+)(/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*)?"
    r"(?:\?([A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*))?"
)


def uri_parts(url: str) -> dict[str, Any]:
    """Split ``url`` the way Elasticsearch's ``uri_parts`` processor does.

    Returns ``scheme``, ``domain``, ``port``, ``path``, ``extension``, ``query``,
    ``fragment``, ``user_info``, ``username``, ``password``, each only when present
    (``{}`` when Elasticsearch could not parse it either). Like ``java.net.URI``, the
    path, query, fragment and user info are percent-decoded, and a host that is not
    a valid host name (e.g. with ``_``) is no ``domain``; an invalid character makes
    Elasticsearch fall back to ``java.net.URL``, which decodes nothing.
    """
    common = _COMMON.fullmatch(url)
    if common is not None and ("%" not in url or _BAD_ESCAPE.search(url) is None):
        scheme, host, path, query = common.groups()
        parts: dict[str, Any] = {"domain": host} if _valid_host(host) else {}
        _path_parts(unquote(path) if path else "", parts)
        if query is not None:
            parts["query"] = unquote(query)
        parts["scheme"] = scheme
        return parts
    return general_uri_parts(url)


def general_uri_parts(url: str) -> dict[str, Any]:
    """:func:`uri_parts` for any URL, without the fast path for the common shape."""
    match = _URI.match(url)
    if match is None:  # pragma: no cover - the pattern matches every string
        return {}
    scheme, authority, path, query, fragment = match.groups()
    strict = _is_strict(url, authority)
    if not strict and (scheme is None or scheme.lower() not in _URL_PROTOCOLS):
        return {}
    decode = unquote if strict else _same
    parts: dict[str, Any] = {}
    if scheme is not None and authority is None and not path.startswith("/"):
        # Opaque URI (mailto:x@y): Java reports only the scheme and fragment.
        path, query = None, None
    if authority is not None:
        _authority(authority, decode, parts, strict=strict)
    if fragment is not None:
        parts["fragment"] = decode(fragment)
    if path is not None:
        _path_parts(decode(path), parts)
    if query is not None:
        parts["query"] = decode(query)
    if scheme is not None:
        parts["scheme"] = scheme
    return parts


def _path_parts(path: str, parts: dict[str, Any]) -> None:
    parts["path"] = path
    last = path.rfind("/")
    if last >= 0 and "." in path[last:]:
        parts["extension"] = path[last:].rsplit(".", 1)[1]


def _authority(authority: str, decode: Any, parts: dict[str, Any], *, strict: bool) -> None:
    user_info, at, host_port = authority.rpartition("@")
    if not at:
        user_info, host_port = "", authority
    host, port = host_port, -1
    if ":" in host_port and not host_port.endswith("]"):
        host, _, port_text = host_port.rpartition(":")
        if port_text and not port_text.isdigit():
            return  # not a server authority: Java reports no host, port or user info
        port = int(port_text) if port_text else -1
    # java.net.URL (the fallback) takes any host; java.net.URI only a valid one.
    if not host or (strict and not _valid_host(host)):
        return
    parts["domain"] = host
    if port >= 0:
        parts["port"] = port
    if at:
        info = decode(user_info)
        parts["user_info"] = info
        if ":" in info:
            parts["username"], parts["password"] = info.split(":", 1)


def _same(text: str) -> str:
    return text


def _is_strict(url: str, authority: str | None) -> bool:
    if _BAD_ESCAPE.search(url):
        return False
    # Brackets are legal only around an IPv6 host: check the URL without that host.
    rest = url.replace(authority, "", 1) if authority and "[" in authority else url
    return _URI_CHARS.match(rest) is not None


def _valid_host(host: str) -> bool:
    if _IPV4.match(host):
        return all(int(octet) <= 255 for octet in host.split("."))
    return bool(_IPV6.match(host) or _HOSTNAME.match(host))
