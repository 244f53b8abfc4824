"""A generic HTTP receiver (Logstash http input, a webhook) for the ``http`` sink tests.

It stores the events of every request it acknowledges, NDJSON or JSON array, and
answers scripted statuses first. Every request's arrival time is recorded, so that a
test can check that none crossed the sink's backpressure gate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from collector.simulator.httpserver import Request, Response

from .local_server import LocalServer, status_of


@dataclass(slots=True)
class Received:
    """One request: what was sent and what was answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None


class Receiver:
    """Answers ``status`` (default 200) unless a scripted answer is queued."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.answers: deque[Response] = deque()
        self.requests: list[Received] = []
        self.events: list[Any] = []
        self.server = LocalServer(self._handle)

    @property
    def url(self) -> str:
        """Base URL."""
        return self.server.url

    def answer_next(self, response: Response, count: int = 1) -> None:
        """Script the next ``count`` answers."""
        self.answers.extend([response] * count)

    async def __aenter__(self) -> Receiver:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    async def _handle(self, request: Request) -> Response:
        body = request.decoded_body()
        response = self.answers.popleft() if self.answers else Response(self.status)
        status = status_of(response)
        self.requests.append(Received(request.method, request.path, request.headers, body, status))
        if status is not None and 200 <= status < 300 and request.method in ("POST", "PUT"):
            self.events.extend(parse_events(body))
        return response


def parse_events(body: bytes) -> list[Any]:
    """Events of a body: a JSON array, or NDJSON (every line must end in a newline)."""
    if body.startswith(b"["):
        parsed: list[Any] = orjson.loads(body)
        return parsed
    if body and not body.endswith(b"\n"):
        raise ValueError("NDJSON body without a final newline")
    return [orjson.loads(line) for line in body.split(b"\n")[:-1]]
