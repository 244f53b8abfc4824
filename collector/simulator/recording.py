"""What arrived when: the per-request record behind "no request crossed a 429 gate".

Mimecast applies a 429 to the whole credential: after it, a client must send
nothing until the wait it asked for (``X-RateLimit-Reset``) has passed
(mimecast-api.md section 4). The simulator records the arrival of every get-logs
request and the sending of every 429, one list append each, so that a test can ask
afterwards which requests arrived inside a gate. Requests already in flight when
the 429 was sent are not violations: the slack absorbs the time between sending
the 429 and the client reading it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass


@dataclass(slots=True)
class Arrival:
    """One get-logs request, as it arrived.

    Attributes:
        at: ``time.monotonic()`` when the handler received it.
        page_token: the ``pageToken`` it carried (None: a pass's first page, or an
            unreadable body).
        status: the HTTP status answered (0 until answered; 0 also for a ``drop``).
        pass_id: the snapshot time of the query it was resolved to, which is the
            same for every page of one pass; None when it was not resolved (a 429,
            an auth failure, a bad token...).
        kind: the endpoint it was sent to (``url``, ``attachment``,
            ``impersonation``); one quota, so one gate, covers them all.
    """

    at: float
    page_token: str | None
    status: int = 0
    pass_id: float | None = None
    kind: str = "url"


@dataclass(frozen=True, slots=True)
class Throttle:
    """One HTTP 429 the simulator sent.

    Attributes:
        sent: ``time.monotonic()`` when the handler returned it.
        wait_secs: the wait it asked for (``X-RateLimit-Reset`` in seconds), or None
            when the header was absent, 0, negative or not a number.
        arrival: the request it answered.
    """

    sent: float
    wait_secs: float | None
    arrival: Arrival


@dataclass(frozen=True, slots=True)
class GateViolation:
    """A request that arrived while a 429's gate was closed.

    Attributes:
        arrival: the offending request.
        throttle: the 429 whose gate it crossed (the earliest one, if several).
        early_secs: how long before the gate opened it arrived.
    """

    arrival: Arrival
    throttle: Throttle
    early_secs: float


def reset_wait_secs(value: str | None) -> float | None:
    """Return the wait an ``X-RateLimit-Reset`` value (milliseconds) asks for.

    None when there is no usable wait: absent, unparseable, 0, negative, nan or
    infinite.
    """
    if value is None:
        return None
    try:
        millis = float(value)
    except ValueError:
        return None
    if not math.isfinite(millis) or millis <= 0:
        return None
    return millis / 1000


def gate_violations(
    arrivals: list[Arrival],
    throttles: list[Throttle],
    *,
    slack_secs: float = 0.05,
    assumed_wait_secs: float | None = None,
) -> list[GateViolation]:
    """Return the requests that arrived inside a 429's gate, in arrival order.

    A 429 sent at ``sent`` asking for ``wait`` closes the gate from ``sent +
    slack_secs`` to ``sent + wait``. A 429 without a usable wait closes it for
    ``assumed_wait_secs`` (for instance the client's own backoff), or not at all
    when that is None.

    Args:
        arrivals: every request, in arrival order.
        throttles: every 429 sent.
        slack_secs: time after a 429 during which a request still counts as in
            flight (sent before the client could read the 429).
        assumed_wait_secs: the wait of a 429 that asked for none.
    """
    times = [arrival.at for arrival in arrivals]
    found: dict[int, GateViolation] = {}
    for throttle in throttles:
        wait = throttle.wait_secs if throttle.wait_secs is not None else assumed_wait_secs
        if wait is None or wait <= slack_secs:
            continue
        opens = throttle.sent + wait
        first = bisect.bisect_right(times, throttle.sent + slack_secs)
        last = bisect.bisect_left(times, opens)
        for index in range(first, last):
            if index not in found:
                found[index] = GateViolation(arrivals[index], throttle, opens - times[index])
    return [found[index] for index in sorted(found)]
