"""What goes wrong, and when: the fault plan and the quota (leaky bucket).

A :class:`FaultPlan` decides, per get-logs request, whether to inject a fault:
scheduled faults first (tests force exact sequences), then random ones by rate.
A :class:`LeakyBucket` enforces a :class:`QuotaConfig` the way Mimecast documents
it (mimecast-api.md section 4): ``limit`` requests per ``period_secs``, refilled
continuously, with ``X-RateLimit-*`` headers whose Reset is in milliseconds.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

FAULT_KINDS: tuple[str, ...] = (
    "rate_limit",
    "rate_limit_detail",
    "rate_limit_no_reset",
    "rate_limit_burst",
    "rate_limit_zero_reset",
    "rate_limit_negative_reset",
    "rate_limit_nan_reset",
    "quota_exhausted_huge_reset",
    "server_error",
    "retryable_fail",
    "fatal_fail",
    "drop",
    "truncate",
    "slow",
    "token_expire",
    "page_token_reject",
    "unauthorized",
    "forbidden",
    "binding_expired",
)
"""Every fault kind a :class:`FaultPlan` knows (wire behaviour in ``envelope.py``;
each is described in docs/simulator.md)."""

HUGE_RESET_MS = 99_999_999
"""The Reset of ``quota_exhausted_huge_reset``: 27.8 hours."""

RETRYABLE_FAULTS: tuple[str, ...] = ("rate_limit", "server_error", "retryable_fail", "drop")
"""The faults a well-behaved client recovers from by retrying (the CLI's ``--fault-rate``)."""


@dataclass(frozen=True, slots=True)
class QuotaConfig:
    """A request quota: ``limit`` get-logs requests per ``period_secs``, refilled continuously.

    Attributes:
        limit: bucket size, and requests per period.
        period_secs: the period the limit is counted over.
        body_style: the 429 body: ``fail`` (Mimecast envelope, code
            ``err_xdk_rate_limit_exceeded``) or ``detail`` (API 2.0 gateway,
            ``{"detail": "Over throttling limit (...)"}``).
    """

    limit: int
    period_secs: float
    body_style: Literal["fail", "detail"] = "fail"

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period_secs <= 0:
            raise ValueError("a quota needs limit >= 1 and period_secs > 0")
        if self.body_style not in ("fail", "detail"):
            raise ValueError(f"unknown quota body_style {self.body_style!r}")

    def describe(self) -> str:
        """Return the limit the way the API 2.0 gateway words it, e.g. ``10000/hour``."""
        names = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}
        period = names.get(float(self.period_secs), f"{self.period_secs:g}s")
        return f"{self.limit}/{period}"


class LeakyBucket:
    """Enforces a :class:`QuotaConfig`.

    Args:
        quota: the quota.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(self, quota: QuotaConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._rate = quota.limit / quota.period_secs
        self._tokens = float(quota.limit)
        self._last = clock()

    def take(self) -> tuple[bool, list[tuple[str, str]]]:
        """Spend one request if one is available.

        Returns:
            ``(allowed, X-RateLimit headers after this request)``.
        """
        self._refill()
        allowed = self._tokens >= 1.0
        if allowed:
            self._tokens -= 1.0
        return allowed, self.headers()

    def headers(self) -> list[tuple[str, str]]:
        """Return the ``X-RateLimit-*`` headers for the current state, spending nothing."""
        self._refill()
        available = math.floor(self._tokens)
        if available >= self.quota.limit:
            reset_ms = 0
        else:
            # Time until one more whole request is available: this is the wait a
            # client must honour after a 429 (tokens < 1 then).
            reset_ms = math.ceil((available + 1 - self._tokens) / self._rate * 1000)
        return [
            ("X-RateLimit-Limit", str(self.quota.limit)),
            ("X-RateLimit-Remaining", str(available)),
            ("X-RateLimit-Reset", str(reset_ms)),
        ]

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.quota.limit), self._tokens + (now - self._last) * self._rate)
        self._last = now


class FaultPlan:
    """Decides which get-logs requests get a fault.

    Args:
        seed: seeds the random draws (which request, which 5xx, which Reset).
        rates: fault kind -> probability per request; the sum must not exceed 1.

    Attributes:
        slow_secs: how long a ``slow`` fault waits before answering.
        rng: the plan's random generator, also used to shape fault responses.
    """

    def __init__(self, seed: int = 0, rates: dict[str, float] | None = None) -> None:
        self.rng = random.Random(f"faults:{seed}")
        self.slow_secs = 30.0
        self._rates = dict(rates or {})
        for kind, rate in self._rates.items():
            _check_kind(kind)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate for {kind!r} must be in [0, 1], got {rate}")
        if sum(self._rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates must add up to at most 1")
        self._scheduled: deque[str] = deque()

    def schedule(self, kind: str, count: int = 1) -> None:
        """Force the next ``count`` get-logs requests to get fault ``kind``.

        Scheduled faults win over random ones and are served in order. A scheduled
        ``page_token_reject`` waits for the next request that carries a pageToken.
        """
        _check_kind(kind)
        self._scheduled.extend([kind] * count)

    def clear(self) -> None:
        """Forget every scheduled fault (rates stay)."""
        self._scheduled.clear()

    @property
    def scheduled(self) -> list[str]:
        """The faults still scheduled, in order."""
        return list(self._scheduled)

    def draw(self, *, has_page_token: bool) -> str | None:
        """Return the fault for the next get-logs request, or None for none."""
        for index, kind in enumerate(self._scheduled):
            if kind != "page_token_reject" or has_page_token:
                del self._scheduled[index]
                return kind
        if not self._rates:
            return None
        point = self.rng.random()
        for kind, rate in self._rates.items():
            if point < rate:
                if kind == "page_token_reject" and not has_page_token:
                    return None
                return kind
            point -= rate
        return None


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
