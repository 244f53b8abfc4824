"""When a client's requests left, and when it closed its gate, seen from the client's side.

The gate tests ask a causal question: did any request *leave* after a refusal had
closed the gate, and before the wait asked for had passed? The server's arrival
times cannot answer it: the server and the client share one event loop, so a stall
of the loop (a loaded CI machine) delays the client's reading of an answer by any
amount, and a request that left before the client knew looks like a crossing. So
:class:`WireLog` wraps the real network transport (real sockets still carry every
byte) and stamps each request as it is handed to the network, and the tests stamp
each closing of the gate (:func:`record_closures` for a sink; the Mimecast tests
where the pacer learns a 429). Nothing that can yield lies between a gate and the
transport (``HttpClient.request`` compresses first; the Mimecast client signs
first), so a request stamped after a closing passed the gate after it closed.

That every refusal closes the gate is the server's to show: each test also counts
the refusals the server answered against the closings.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import pytest

from collector.gate import BackpressureGate


@dataclass
class Exchange:
    """One request as the client's transport saw it."""

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


Closing = tuple[float, float]
"""``(time.monotonic() when the gate closed, the least time it must stay closed)``."""


def record_closures(
    gate: BackpressureGate, monkeypatch: pytest.MonkeyPatch, window: float
) -> list[Closing]:
    """Each closing of ``gate`` from now on (it still closes), held to ``window``."""
    closings: list[Closing] = []
    close = gate.close

    def recorded(requested_secs: float | None) -> float:
        closings.append((time.monotonic(), window))
        return close(requested_secs)

    monkeypatch.setattr(gate, "close", recorded)
    return closings


def gate_crossings(
    exchanges: Iterable[Exchange], closings: Iterable[Closing]
) -> list[tuple[float, float]]:
    """Requests that left while a closing held the gate shut.

    A request sent after the gate closed, and before the closing's window ended,
    crossed it; one sent before it closed was on the wire already, and is allowed.
    Returns ``(closed at, sent at)`` pairs, in seconds from the first request.
    """
    sent = sorted(exchange.sent for exchange in exchanges)
    if not sent:
        return []
    return [
        (round(closed - sent[0], 3), round(at - sent[0], 3))
        for closed, window in closings
        for at in sent
        if closed < at < closed + window
    ]
