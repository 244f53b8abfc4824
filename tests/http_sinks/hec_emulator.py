"""A protocol-faithful Splunk HEC emulator (../shared/docs/sink-protocols.md section 3).

What it does the way Splunk does:

- ``Authorization: Splunk <token>``: 401 code 2 (missing), 401 code 3 (malformed),
  403 code 4 (unknown), 403 code 1 (disabled); ``?token=`` is 400 code 16.
- ``/services/collector/event`` (and ``/event/1.0``, ``/services/collector``): JSON
  objects back to back, gzip allowed (other encodings 415). Objects are indexed one by
  one; the first bad one stops the request with 400 and ``invalid-event-number`` N,
  objects before N stay indexed: code 6 (not JSON / not an object), 12 (no ``event``),
  13 (blank ``event``), 15 (nested ``fields``), 7 (index not allowed). Empty body: 400
  code 5. Above ``max_content_length``: 413.
- Indexer acknowledgement per token: a channel is required (400 code 10 missing, 11 not
  a GUID); ackIds count from 0 per channel (per indexer); ``/ack`` answers each id, and
  **an id that answered true is forgotten** (asked again: false). Acks of a token
  without ``useACK``: 400 code 14.
- ``indexers > 1`` puts a load balancer in front: a request without the stickiness
  cookie goes to the next indexer round-robin and gets ``Set-Cookie``; ack ids are per
  indexer, so an ack poll routed to the wrong indexer answers about someone else's ids.
- ``/services/collector/health``: 200 code 17, or 503 code 18 when ``healthy`` is off.

Faults for ``/event`` requests are scheduled with :meth:`HecEmulator.fail_next`, for
``/ack`` polls with :meth:`HecEmulator.fail_next_ack`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from collector.simulator.envelope import json_response
from collector.simulator.httpserver import Request, Response

from .local_server import LocalServer, dropped, status_of

EVENT_PATHS = ("/services/collector/event", "/services/collector/event/1.0", "/services/collector")
LB_COOKIE = "hec_lb"


@dataclass(slots=True)
class Fault:
    """One scripted answer to an ``/event`` request.

    kind: ``status`` (answer ``status``/``code``/``text`` and index nothing), ``drop``
    (close without answering, nothing indexed), ``drop_after_index`` (index, then close),
    ``invalid`` (index objects before ``at``, then 400 ``code`` with
    invalid-event-number ``at``), ``none`` (answer as usual: a gap in a schedule).
    """

    kind: str
    status: int = 503
    code: int | None = 9
    text: str = "Server is busy"
    at: int = 0
    retry_after: str | None = None


@dataclass(slots=True)
class Logged:
    """One request the emulator answered (or dropped)."""

    path: str
    status: int | None
    code: int | None
    objects: int
    headers: dict[str, str]


@dataclass(slots=True)
class AckPoll:
    """One ``/ack`` request: the ids asked, the answer, the stickiness cookie sent."""

    ids: list[int]
    answer: dict[str, bool]
    cookie: str | None
    status: int = 200


@dataclass(slots=True)
class _Indexer:
    next_ack: dict[str, int] = field(default_factory=dict)
    acks: dict[tuple[str, int], float] = field(default_factory=dict)  # -> ready at


class HecEmulator:
    """A Splunk HEC on 127.0.0.1. ``stored`` is every object indexed, in order."""

    def __init__(
        self,
        *,
        token: str = "hec-token-0123456789",  # noqa: S107 - the emulator's fake token
        use_ack: bool = False,
        disabled_tokens: tuple[str, ...] = (),
        allowed_indexes: tuple[str, ...] | None = None,
        max_content_length: int = 838_860_800,
        ack_delay_secs: float = 0.0,
        indexers: int = 1,
    ) -> None:
        self.token = token
        self.use_ack = use_ack
        self.disabled_tokens = disabled_tokens
        self.allowed_indexes = allowed_indexes
        self.max_content_length = max_content_length
        self.ack_delay_secs = ack_delay_secs
        self.hold_acks = False
        self.hold_ack_ids: set[int] = set()
        self.held_batches: list[list[str]] = []
        """``fields.event_id`` of every request whose ack was held back."""
        self.healthy = True
        self.stored: list[dict[str, Any]] = []
        self.log: list[Logged] = []
        self.ack_log: list[AckPoll] = []
        self.faults: deque[Fault] = deque()
        self.ack_faults: deque[Fault] = deque()
        self._indexers = [_Indexer() for _ in range(indexers)]
        self._round_robin = 0
        self.server = LocalServer(self._route)

    @property
    def url(self) -> str:
        """Base URL for the sink's ``endpoint``."""
        return self.server.url

    def fail_next(self, fault: Fault, count: int = 1) -> None:
        """Script the answer to the next ``count`` event requests."""
        self.faults.extend([fault] * count)

    def fail_next_ack(self, fault: Fault, count: int = 1) -> None:
        """Script the answer to the next ``count`` ack polls (kind ``status`` only)."""
        self.ack_faults.extend([fault] * count)

    def event_requests(self) -> list[Logged]:
        """The ``/event`` requests received (answered or dropped)."""
        return [entry for entry in self.log if entry.path in EVENT_PATHS]

    def event_ids(self) -> list[str]:
        """``fields.event_id`` of every stored object, in order (doubles included)."""
        return [obj.get("fields", {}).get("event_id") for obj in self.stored]

    async def __aenter__(self) -> HecEmulator:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    # Routing and checks shared by every endpoint.

    async def _route(self, request: Request) -> Response:
        if request.path in ("/services/collector/health", "/services/collector/health/1.0"):
            if self.healthy:
                return _hec(200, 17, "HEC is healthy")
            return _hec(503, 18, "HEC is unhealthy, queues are full")
        if request.path not in (*EVENT_PATHS, "/services/collector/ack"):
            return _hec(404, 404, "The requested URL was not found on this server.")
        indexer, cookie = self._balance(request)
        denied = self._authorize(request)
        if denied is None and request.path == "/services/collector/ack":
            response = self._ack(request, indexer)
        elif denied is None:
            response = await self._event(request, indexer)
        else:
            response = denied
        if cookie is not None:
            response.headers.append(("Set-Cookie", f"{LB_COOKIE}={cookie}; Path=/"))
        return response

    def _balance(self, request: Request) -> tuple[_Indexer, str | None]:
        sticky = request.cookie(LB_COOKIE)
        if sticky is not None and sticky.isdigit() and int(sticky) < len(self._indexers):
            return self._indexers[int(sticky)], None
        chosen = self._round_robin % len(self._indexers)
        self._round_robin += 1
        return self._indexers[chosen], (str(chosen) if len(self._indexers) > 1 else None)

    def _authorize(self, request: Request) -> Response | None:
        if "token" in request.query:
            return _hec(400, 16, "Query string authorization is not enabled")
        header = request.headers.get("authorization")
        if header is None:
            return _hec(401, 2, "Token is required")
        scheme, _, token = header.partition(" ")
        if scheme != "Splunk" or not token:
            return _hec(401, 3, "Invalid authorization")
        if token in self.disabled_tokens:
            return _hec(403, 1, "Token disabled")
        if token != self.token:
            return _hec(403, 4, "Invalid token")
        return None

    def _channel(self, request: Request) -> tuple[str | None, Response | None]:
        channel = request.headers.get("x-splunk-request-channel") or request.query.get("channel")
        if not self.use_ack:
            return channel, None
        if channel is None:
            return None, _hec(400, 10, "Data channel is missing")
        try:
            uuid.UUID(channel)
        except ValueError:
            return None, _hec(400, 11, "Invalid data channel")
        return channel, None

    # /services/collector/event

    async def _event(self, request: Request, indexer: _Indexer) -> Response:
        channel, refused = self._channel(request)
        if refused is not None:
            return self._logged(request, refused, 0)
        try:
            body = request.decoded_body()
        except ValueError:
            return self._logged(request, Response(415, b"Unsupported Media Type", "text/plain"), 0)
        if len(body) > self.max_content_length:
            return self._logged(request, _hec(413, None, "Content-Length too large"), 0)
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.kind in ("status", "drop"):
            response = dropped() if fault.kind == "drop" else _fault_response(fault)
            return self._logged(request, response, 0)
        objects, error = parse_objects(body)
        if error is None and not objects:
            return self._logged(request, _hec(400, 5, "No data"), 0)
        limit = len(objects)
        if fault is not None and fault.kind == "invalid":
            limit, error = min(fault.at, limit), (fault.at, fault.code or 6, fault.text)
        for number, obj in enumerate(objects[:limit]):
            problem = self._check(obj)
            if problem is not None:
                error = (number, *problem)
                break
            self.stored.append(obj)
        else:
            if error is None:
                response = self._success(channel, indexer, objects)
                if fault is not None and fault.kind == "drop_after_index":
                    response = dropped()
                return self._logged(request, response, len(objects))
        assert error is not None
        at, code, text = error
        answer = {"text": text, "code": code, "invalid-event-number": at}
        return self._logged(request, json_response(400, answer), len(objects))

    def _check(self, obj: Any) -> tuple[int, str] | None:
        if not isinstance(obj, dict):
            return 6, "Invalid data format"
        if "event" not in obj:
            return 12, "Event field is required"
        if obj["event"] == "" or obj["event"] is None:
            return 13, "Event field cannot be blank"
        fields = obj.get("fields", {})
        if not isinstance(fields, dict) or any(isinstance(v, dict) for v in fields.values()):
            return 15, "Error in handling indexed fields"
        if self.allowed_indexes is not None and obj.get("index") not in self.allowed_indexes:
            return 7, "Incorrect index"
        return None

    def _success(self, channel: str | None, indexer: _Indexer, objects: list[Any]) -> Response:
        if not self.use_ack or channel is None:
            return _hec(200, 0, "Success")
        ack_id = indexer.next_ack.get(channel, 0)
        indexer.next_ack[channel] = ack_id + 1
        held = self.hold_acks or ack_id in self.hold_ack_ids
        if held:
            self.held_batches.append([obj.get("fields", {}).get("event_id") for obj in objects])
        ready = float("inf") if held else time.monotonic() + self.ack_delay_secs
        indexer.acks[(channel, ack_id)] = ready
        return json_response(200, {"text": "Success", "code": 0, "ackId": ack_id})

    def _logged(self, request: Request, response: Response, objects: int) -> Response:
        status = status_of(response)
        code = None
        if status is not None and response.content_type == "application/json":
            answer = orjson.loads(response.body) if response.body else {}
            code = answer.get("code") if isinstance(answer, dict) else None
        self.log.append(Logged(request.path, status, code, objects, request.headers))
        return response

    # /services/collector/ack

    def _ack(self, request: Request, indexer: _Indexer) -> Response:
        fault = self.ack_faults.popleft() if self.ack_faults else None
        if fault is not None and fault.kind == "status":
            self.ack_log.append(AckPoll([], {}, request.cookie(LB_COOKIE), fault.status))
            return _fault_response(fault)
        if not self.use_ack:
            return _hec(400, 14, "ACK is disabled")
        channel, refused = self._channel(request)
        if refused is not None or channel is None:
            return refused or _hec(400, 10, "Data channel is missing")
        try:
            ids = orjson.loads(request.decoded_body())["acks"]
        except (ValueError, KeyError, TypeError):
            return _hec(400, 6, "Invalid data format")
        now = time.monotonic()
        answer: dict[str, bool] = {}
        for ack_id in ids:
            ready = indexer.acks.get((channel, ack_id))
            done = ready is not None and now >= ready
            if done:
                del indexer.acks[(channel, ack_id)]  # Splunk forgets an id once it said true
            answer[str(ack_id)] = done
        self.ack_log.append(AckPoll(list(ids), answer, request.cookie(LB_COOKIE)))
        return json_response(200, {"acks": answer})

    def release_acks(self) -> None:
        """Make every held ack ready now (after ``hold_acks``)."""
        for indexer in self._indexers:
            for key in indexer.acks:
                indexer.acks[key] = 0.0


def _hec(status: int, code: int | None, text: str) -> Response:
    payload: dict[str, Any] = {"text": text}
    if code is not None:
        payload["code"] = code
    return json_response(status, payload)


def _fault_response(fault: Fault) -> Response:
    response = _hec(fault.status, fault.code, fault.text)
    if fault.retry_after is not None:
        response.headers.append(("Retry-After", fault.retry_after))
    return response


def parse_objects(body: bytes) -> tuple[list[Any], tuple[int, int, str] | None]:
    """Split concatenated JSON objects; a syntax error stops at that object (code 6)."""
    text = body.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    objects: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return objects, None
        try:
            obj, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return objects, (len(objects), 6, "Invalid data format")
        objects.append(obj)


async def settle() -> None:
    """Let in-flight handlers finish (one loop turn is enough for this emulator)."""
    await asyncio.sleep(0)
