"""When a sink's requests left, and when its gate closed, seen from the sink's side.

The gate tests ask a causal question: did any request *leave* after a refusal had
closed the sink's gate, and before the wait asked for had passed? The receivers'
arrival times cannot answer it: the receiver and the sink share one event loop, so a
stall of the loop (a loaded CI machine) delays the sink's reading of an answer by any
amount, and a request that left before the sink knew looks like a crossing. So
:class:`WireLog` wraps the real network transport (real sockets still carry every
byte) and stamps each request as it is handed to the network, and
:func:`record_closures` stamps each closing of the gate. Nothing lies between the
gate and the transport (``HttpClient.request`` compresses first), so a request
stamped after a closure passed the gate after it closed.

That a refusal closes the gate at all is the receivers' to show: each test also
counts the refusals they answered against the gate's closures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest

from collector.gate import BackpressureGate


@dataclass
class Exchange:
    """One request as the sink's transport saw it."""

    path: str
    sent: float
    """``time.monotonic()`` when the request was handed to the network."""
    status: int | None = None
    """The answer's status; None when none came."""


class WireLog(httpx.AsyncBaseTransport):
    """The network transport, with every exchange recorded in :attr:`exchanges`."""

    def __init__(self) -> None:
        self._network = httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = Exchange(request.url.path, time.monotonic())
        self.exchanges.append(exchange)
        response = await self._network.handle_async_request(request)
        exchange.status = response.status_code
        return response

    async def aclose(self) -> None:
        await self._network.aclose()


def record_closures(gate: BackpressureGate, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The ``time.monotonic()`` of each closing of ``gate`` from now on (it still closes)."""
    closed_at: list[float] = []
    close = gate.close

    def recorded(requested_secs: float | None) -> float:
        closed_at.append(time.monotonic())
        return close(requested_secs)

    monkeypatch.setattr(gate, "close", recorded)
    return closed_at


def gate_crossings(
    wire: WireLog, closed_at: list[float], window: float
) -> list[tuple[float, float]]:
    """Requests that left while a refusal held the gate closed.

    Each closing of the gate must hold every request back for ``window`` at least (the
    Retry-After asked for, or the least refusal backoff). Requests sent before it
    closed were on the wire already, and are allowed. Returns ``(closed at, sent at)``
    pairs, in seconds from the first request.
    """
    if not wire.exchanges:
        return []
    origin = min(exchange.sent for exchange in wire.exchanges)
    return [
        (round(closed - origin, 3), round(exchange.sent - origin, 3))
        for closed in closed_at
        for exchange in wire.exchanges
        if closed < exchange.sent < closed + window
    ]
