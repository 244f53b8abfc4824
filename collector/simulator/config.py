"""The simulator's settings and its counters."""

from __future__ import annotations

import ssl
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from collector.simulator.faults import QuotaConfig
from collector.simulator.recording import Arrival, GateViolation, Throttle, gate_violations

EmptyPage = Literal["none", "same_token", "fresh_token", "size0_next"]
TotalCount = Literal["exact", "zero", "double", "half"]
PageCycle = Literal["none", "previous", "first"]
PermissionStyle = Literal["http_403", "fail"]
LOG_KINDS = ("url", "attachment", "impersonation")
"""The endpoints' kind names (kinds.py describes each)."""

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
        empty_page: how a pass ends (docs/simulator.md): ``none`` (the last page has
            no ``next``), or the last page keeps a ``next`` that leads to an empty
            page which carries ``next`` again: ``same_token`` (the very token the
            client sent), ``fresh_token`` (a new token each time, ``"data": []``)
            or ``size0_next`` (a new token, ``"data": [{"clickLogs": []}]``).
        empty_page_with_next: alias of ``empty_page="fresh_token"``, kept for old callers.
        total_count: ``totalCount`` as served: ``exact``, or wrong: ``zero``,
            ``double``, ``half``.
        page_cycle: instead of ending, the last page's ``next`` points back to the
            ``previous`` page's token (A->B->A) or to the ``first`` page's; tokens
            are then stable strings (issued at the pass's start). ``none`` = off.
        endless_from_page: from page N (1-based) on, or from the last page if the pass
            has fewer, each page repeats the same clicks with a fresh ``next``
            forever; -1 = only the last page repeats; None = off.
        ratelimit_headers_missing_rate: share of answers (429s excepted) sent
            without ``X-RateLimit-*`` headers.
        ratelimit_headers_missing_every: every k-th get-logs answer (429s excepted)
            is sent without ``X-RateLimit-*`` headers; 0 = off.
        retention_secs: clicks older than this (relative to a query's snapshot) are
            not served, like Mimecast's 30-day retention; None = keep everything.
        seed: seeds the simulator's own randomness (live clicks, faults).
        denied_kinds: the endpoints (``url``, ``attachment``, ``impersonation``) the
            application role may not read: they answer every authenticated request
            that passed the quota with a missing-permission error.
        permission_error: how that error looks: ``http_403`` (HTTP 403,
            ``err_xdk_forbidden``) or ``fail`` (HTTP 200 with a non-retryable
            ``err_xdk_forbidden`` in ``fail[]``).
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
    empty_page: EmptyPage = "none"
    empty_page_with_next: bool = False
    total_count: TotalCount = "exact"
    page_cycle: PageCycle = "none"
    endless_from_page: int | None = None
    ratelimit_headers_missing_rate: float = 0.0
    ratelimit_headers_missing_every: int = 0
    retention_secs: float | None = None
    seed: int = 0
    denied_kinds: frozenset[str] = frozenset()
    permission_error: PermissionStyle = "http_403"
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this server context (tests of TLS verification); None: plain HTTP."""

    def __post_init__(self) -> None:
        if self.empty_page_with_next:
            if self.empty_page not in ("none", "fresh_token"):
                raise ValueError(
                    f"empty_page_with_next means empty_page='fresh_token', not {self.empty_page!r}"
                )
            self.empty_page = "fresh_token"
        _check_choice("empty_page", self.empty_page, EmptyPage)
        _check_choice("total_count", self.total_count, TotalCount)
        _check_choice("page_cycle", self.page_cycle, PageCycle)
        _check_choice("permission_error", self.permission_error, PermissionStyle)
        self.denied_kinds = frozenset(self.denied_kinds)
        unknown = sorted(self.denied_kinds - set(LOG_KINDS))
        if unknown:
            raise ValueError(
                f"denied_kinds: unknown kind {unknown[0]!r}; known: {', '.join(LOG_KINDS)}"
            )
        if self.endless_from_page is not None and (
            self.endless_from_page == 0 or self.endless_from_page < -1
        ):
            raise ValueError("endless_from_page must be a page number >= 1, or -1 for the last")
        if not 0.0 <= self.ratelimit_headers_missing_rate <= 1.0:
            raise ValueError("ratelimit_headers_missing_rate must be in [0, 1]")
        if self.ratelimit_headers_missing_every < 0:
            raise ValueError("ratelimit_headers_missing_every must be >= 0")


def _check_choice(name: str, value: object, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(slots=True)
class SimulatorStats:
    """What the simulator has seen and served.

    Attributes:
        requests: requests by path.
        outcomes: get-logs requests by outcome: ``ok``, ``rate_limited`` (quota),
            ``auth_failed``, ``permission_denied`` (a ``denied_kinds`` endpoint),
            ``bad_request`` (HTTP 400), ``invalid`` (HTTP 200 validation fail[]),
            ``page_token_invalid``, or the injected fault kind
            when a fault was injected (whatever the response then was).
        pages_served: get-logs pages answered, all endpoints (a ``truncate`` fault's
            half page included).
        clicks_served: click logs in those pages (the URL endpoint's).
        records_served: records in those pages, by kind (``url``, ``attachment``,
            ``impersonation``).
        tokens_issued: OAuth tokens issued.
        rate_limited: every HTTP 429 sent (quota or fault).
        internal_errors: handler exceptions (each answered 500); should stay 0.
        arrivals: every get-logs request, in arrival order (see recording.py).
        throttles: every HTTP 429 sent, in order.
    """

    requests: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    pages_served: int = 0
    clicks_served: int = 0
    records_served: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0
    rate_limited: int = 0
    internal_errors: int = 0
    arrivals: list[Arrival] = field(default_factory=list)
    throttles: list[Throttle] = field(default_factory=list)

    def gate_violations(
        self, slack_secs: float = 0.05, assumed_wait_secs: float | None = None
    ) -> list[GateViolation]:
        """Return the get-logs requests that arrived while a 429's wait was running.

        Args:
            slack_secs: a request arriving within this time after a 429 was sent
                was in flight already, and is not counted.
            assumed_wait_secs: the wait of a 429 that asked for none (Reset absent,
                0, negative or nan); such 429s are skipped when None.
        """
        return gate_violations(
            self.arrivals,
            self.throttles,
            slack_secs=slack_secs,
            assumed_wait_secs=assumed_wait_secs,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as plain JSON-friendly values."""
        return {
            "requests": dict(self.requests),
            "outcomes": dict(self.outcomes),
            "pages_served": self.pages_served,
            "clicks_served": self.clicks_served,
            "records_served": dict(self.records_served),
            "tokens_issued": self.tokens_issued,
            "rate_limited": self.rate_limited,
            "internal_errors": self.internal_errors,
        }
