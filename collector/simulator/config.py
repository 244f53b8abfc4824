"""The simulator's settings and its counters."""

from __future__ import annotations

import ssl
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from collector.simulator.faults import QuotaConfig

# Fake credentials of a simulator that only ever listens on the address it is given.
DEFAULT_SECRET_KEY = "bWltZWNhc3Qtc2ltdWxhdG9yLXNlY3JldC1rZXktdjEvZG8tbm90LXVzZQ=="  # noqa: S105


@dataclass(slots=True)
class SimulatorConfig:
    """How the simulated Mimecast behaves.

    Attributes:
        host: address to listen on.
        port: port to listen on; 0 picks a free one.
        client_id: API 2.0 client id accepted by ``/oauth/token``.
        client_secret: API 2.0 client secret.
        app_id: API 1.0 application id (``x-mc-app-id``).
        app_key: API 1.0 application key (part of the signed data).
        access_key: API 1.0 access key (``Authorization: MC <access key>:...``).
        secret_key: API 1.0 secret key, base64.
        token_ttl_secs: lifetime of OAuth tokens (Mimecast: 1799).
        max_page_size: largest pageSize accepted; larger fails validation.
        default_page_size: pageSize when the request gives none.
        to_inclusive: whether ``to`` is inclusive (undocumented by Mimecast).
        latency_secs: added before every get-logs response.
        page_token_ttl_secs: page tokens older than this are rejected; None = never.
        quota: a request quota (429 when exceeded); None = unlimited.
        empty_page_with_next: the last page of a pass still carries ``next``, and
            the page it points to is empty (``"data": []``) and carries ``next`` too.
        retention_secs: clicks older than this (relative to a query's snapshot) are
            not served, like Mimecast's 30-day retention; None = keep everything.
        seed: seeds the simulator's own randomness (live clicks, faults).
    """

    host: str = "127.0.0.1"
    port: int = 0
    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"  # noqa: S105 - a fake, documented credential
    app_id: str = "sim-app-id"
    app_key: str = "sim-app-key"
    access_key: str = "sim-access-key"
    secret_key: str = DEFAULT_SECRET_KEY
    token_ttl_secs: float = 1799
    max_page_size: int = 500
    default_page_size: int = 100
    to_inclusive: bool = True
    latency_secs: float = 0.0
    page_token_ttl_secs: float | None = None
    quota: QuotaConfig | None = None
    empty_page_with_next: bool = False
    retention_secs: float | None = None
    seed: int = 0
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this server context (tests of TLS verification); None: plain HTTP."""


@dataclass(slots=True)
class SimulatorStats:
    """What the simulator has seen and served.

    Attributes:
        requests: requests by path.
        outcomes: get-logs requests by outcome: ``ok``, ``rate_limited`` (quota),
            ``auth_failed``, ``bad_request`` (HTTP 400), ``invalid`` (HTTP 200
            validation fail[]), ``page_token_invalid``, or the injected fault kind
            when a fault was injected (whatever the response then was).
        pages_served: get-logs pages answered (a ``truncate`` fault's half page included).
        clicks_served: click logs in those pages.
        tokens_issued: OAuth tokens issued.
        rate_limited: every HTTP 429 sent (quota or fault).
        internal_errors: handler exceptions (each answered 500); should stay 0.
    """

    requests: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    pages_served: int = 0
    clicks_served: int = 0
    tokens_issued: int = 0
    rate_limited: int = 0
    internal_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as plain JSON-friendly values."""
        return {
            "requests": dict(self.requests),
            "outcomes": dict(self.outcomes),
            "pages_served": self.pages_served,
            "clicks_served": self.clicks_served,
            "tokens_issued": self.tokens_issued,
            "rate_limited": self.rate_limited,
            "internal_errors": self.internal_errors,
        }
