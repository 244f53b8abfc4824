"""``POST /api/ttp/url/get-logs``: auth, quota, faults, filters, pages.

The order of checks per request:

1. draw the fault (if any); ``drop``, ``slow`` and ``token_expire`` act now;
2. authenticate (401);
3. spend quota (429, the function is not executed);
4. answer a response-replacing fault;
5. parse and validate the body (400 for unparseable, HTTP 200 ``fail[]`` for bad
   values or page tokens);
6. serve the page (``truncate`` cuts it in half on the wire), shaped by the paging
   quirks (quirks.py);
7. drop ``X-RateLimit-*`` headers if a quirk says so, record the answer.

A page body is built by joining the clicks' pre-serialized bytes: the simulator
must stay cheap next to the collector it measures (performance.md section 4).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson

from collector.httpserver import Request, Response
from collector.simulator.auth import Authenticator, TokenStore
from collector.simulator.config import SimulatorConfig, SimulatorStats
from collector.simulator.dataset import ClickDataset
from collector.simulator.envelope import (
    fault_response,
    invalid_page_token,
    mimecast_error,
    quota_exceeded,
)
from collector.simulator.faults import FAULT_KINDS, FaultPlan, LeakyBucket
from collector.simulator.filters import (
    GetLogsBody,
    InvalidRequestError,
    page_size,
    parse_body,
    resolve_query,
    split_body,
)
from collector.simulator.paging import PageToken, Query, SnapshotCache
from collector.simulator.quirks import HeaderDropper, PagePosition, Pager, exhausted_headers
from collector.simulator.recording import Arrival, Throttle, reset_wait_secs

GET_LOGS_PATH = "/api/ttp/url/get-logs"

# Faults that alter how the normal answer is delivered (or its headers); every other
# fault kind replaces the answer.
_ALTERING = frozenset({"drop", "truncate", "slow", "token_expire", "quota_exhausted_huge_reset"})
_REPLACING = frozenset(FAULT_KINDS) - _ALTERING
_PAGE_HEAD = b'{"meta":{"status":200,"pagination":'
_LOGS_OPEN = b'},"data":[{"clickLogs":['
_LOGS_CLOSE = b']}],"fail":[]}'
_EMPTY_TAIL = b'},"data":[],"fail":[]}'
_RESET_HEADER = "x-ratelimit-reset"


class GetLogsApi:
    """Answers get-logs requests.

    Args:
        config: the simulator's settings.
        dataset: the clicks to serve.
        faults: the fault plan.
        auth: checks credentials.
        tokens: the OAuth tokens (the ``token_expire`` fault expires them).
        stats: counters to update.
        clock: wall-clock seconds (snapshots, default ``to``, token ages).
    """

    def __init__(
        self,
        *,
        config: SimulatorConfig,
        dataset: ClickDataset,
        faults: FaultPlan,
        auth: Authenticator,
        tokens: TokenStore,
        stats: SimulatorStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._faults = faults
        self._auth = auth
        self._tokens = tokens
        self._stats = stats
        self._clock = clock
        self._quota = LeakyBucket(config.quota) if config.quota is not None else None
        self.cache = SnapshotCache(dataset, config.retention_secs)
        self._pager = Pager(config)
        self._header_dropper = HeaderDropper(config)

    async def handle(self, request: Request) -> Response:
        """Answer one get-logs request."""
        arrival = Arrival(time.monotonic(), None)
        self._stats.arrivals.append(arrival)
        parsed = parse_body(request.body)
        body = split_body(parsed) if parsed is not None else None
        if body is not None and body.page_token is not None:
            arrival.page_token = str(body.page_token)
        fault = self._faults.draw(has_page_token=body is not None and body.page_token is not None)
        # Like a gateway, the quota is counted when the request arrives; the latency is
        # the backend's, so a 429 comes back at once.
        response, outcome = await self._respond(request, body, fault, arrival)
        response.headers = self._header_dropper.apply(response.status, response.headers)
        if self._config.latency_secs > 0 and response.status != 429:
            await asyncio.sleep(self._config.latency_secs)
        self._stats.outcomes[fault or outcome] += 1
        arrival.status = response.status
        if response.status == 429:
            self._stats.rate_limited += 1
            wait = reset_wait_secs(_header(response, _RESET_HEADER))
            self._stats.throttles.append(Throttle(time.monotonic(), wait, arrival))
        return response

    async def _respond(
        self, request: Request, body: GetLogsBody | None, fault: str | None, arrival: Arrival
    ) -> tuple[Response, str]:
        if fault == "drop":
            return Response(0, disposition="drop"), "drop"
        if fault == "slow":
            await asyncio.sleep(self._faults.slow_secs)
        elif fault == "token_expire":
            self._tokens.expire_all()
        headers = self._quota.headers() if self._quota is not None else []
        failure = self._auth.check(request)
        if failure is not None:
            return mimecast_error(
                401, failure.code, failure.message, headers=headers
            ), "auth_failed"
        if self._quota is not None:
            allowed, headers = self._quota.take()
            if not allowed:
                quota = self._quota.quota
                return quota_exceeded(quota, quota.body_style, headers), "rate_limited"
        key = body.item if body is not None else {}
        if fault in _REPLACING:
            quota_config = self._config.quota
            response = fault_response(
                fault, rng=self._faults.rng, key=key, quota=quota_config, headers=headers
            )
            return response, fault
        if body is None:
            error = mimecast_error(
                400,
                "err_validation_invalid_json",
                "The request body is not valid JSON",
                headers=headers,
            )
            return error, "bad_request"
        if fault == "quota_exhausted_huge_reset":
            headers = exhausted_headers(self._config.quota)
        response, outcome = self._serve(body, headers, arrival)
        if fault == "truncate":
            response.disposition = "truncate"
        return response, outcome

    def _serve(
        self, body: GetLogsBody, headers: list[tuple[str, str]], arrival: Arrival
    ) -> tuple[Response, str]:
        config = self._config
        now = self._clock()
        try:
            if body.page_token is not None:
                token = PageToken.decode(body.page_token)
                ttl = config.page_token_ttl_secs
                if token is None or (ttl is not None and now - token.issued_at > ttl):
                    return invalid_page_token(body.item, headers), "page_token_invalid"
                query, offset = token.query, token.offset
                size = page_size(
                    body.page_size, default=token.page_size, maximum=config.max_page_size
                )
            else:
                size = page_size(
                    body.page_size, default=config.default_page_size, maximum=config.max_page_size
                )
                query = resolve_query(body.item, now=now, to_inclusive=config.to_inclusive)
                offset = 0
        except InvalidRequestError as error:
            response = mimecast_error(
                200, error.code, error.message, field=error.field, key=body.item, headers=headers
            )
            return response, "invalid"
        arrival.pass_id = query.snapshot
        return self._page(query, offset, size, now, headers, arrival.page_token), "ok"

    def _page(
        self,
        query: Query,
        offset: int,
        size: int,
        now: float,
        headers: list[tuple[str, str]],
        sent_token: str | None,
    ) -> Response:
        results = self.cache.results(query)
        page = results[offset : offset + size]
        shape = self._pager.shape(
            PagePosition(query, offset, size, len(page), len(results), now, sent_token)
        )
        head = _PAGE_HEAD + orjson.dumps(shape.pagination)
        if not page:
            # Elastic's mock answers the empty page of its quirk with a bare "data": [].
            tail = _EMPTY_TAIL if shape.bare_empty else _LOGS_OPEN + _LOGS_CLOSE
            body = head + tail
        elif len(page) == 1:
            body = b"".join((head, _LOGS_OPEN, page[0], _LOGS_CLOSE))
        else:
            # Fold the envelope into the first and last click so the page is copied
            # once, by a single join.
            page[0] = head + _LOGS_OPEN + page[0]
            page[-1] = page[-1] + _LOGS_CLOSE
            body = b",".join(page)
        self._stats.pages_served += 1
        self._stats.clicks_served += len(page)
        return Response(200, body, headers=headers)


def _header(response: Response, name: str) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value
    return None
