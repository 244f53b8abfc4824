"""``POST /api/ttp/{url,attachment,impersonation}/get-logs``: auth, quota, faults, filters, pages.

The three endpoints share one :class:`GetLogsApi`: one credential, one quota (a
single leaky bucket, as Mimecast counts per application), one fault plan and one
set of quirks; each has its own dataset and snapshot cache (kinds.py describes
them). The order of checks per request:

1. draw the fault (if any); ``drop``, ``slow`` and ``token_expire`` act now;
2. authenticate (401);
3. spend quota (429, the function is not executed);
4. answer a response-replacing fault;
5. parse and validate the body (400 for unparseable, HTTP 200 ``fail[]`` for bad
   values or page tokens);
6. serve the page (``truncate`` cuts it in half on the wire), shaped by the paging
   quirks (quirks.py);
7. drop ``X-RateLimit-*`` headers if a quirk says so, record the answer.

An endpoint the application role may not read (``SimulatorConfig.denied_kinds``)
answers after steps 2 and 3 with the missing-permission error, and draws no fault.

A page body is built by joining the records' pre-serialized bytes (pages.py): the
simulator must stay cheap next to the collector it measures (performance.md
section 4).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

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
from collector.simulator.httpserver import Request, Response
from collector.simulator.kinds import KINDS, URL
from collector.simulator.logstore import LogDataset
from collector.simulator.pages import Endpoint
from collector.simulator.paging import PageToken
from collector.simulator.quirks import HeaderDropper, Pager, exhausted_headers
from collector.simulator.recording import Arrival, Throttle, reset_wait_secs

GET_LOGS_PATH = URL.path

# Faults that alter how the normal answer is delivered (or its headers); every other
# fault kind replaces the answer.
_ALTERING = frozenset({"drop", "truncate", "slow", "token_expire", "quota_exhausted_huge_reset"})
_REPLACING = frozenset(FAULT_KINDS) - _ALTERING
_RESET_HEADER = "x-ratelimit-reset"


class GetLogsApi:
    """Answers get-logs requests of every endpoint.

    Args:
        config: the simulator's settings.
        dataset: the clicks to serve.
        others: the other endpoints' records by kind (``attachment``,
            ``impersonation``); a kind left out serves an empty dataset.
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
        others: Mapping[str, LogDataset] | None = None,
    ) -> None:
        self._config = config
        self._faults = faults
        self._auth = auth
        self._tokens = tokens
        self._stats = stats
        self._clock = clock
        self._quota = LeakyBucket(config.quota) if config.quota is not None else None
        datasets: dict[str, LogDataset] = {"url": dataset, **(others or {})}
        self.endpoints = {
            name: Endpoint.of(kind, datasets[name], config.retention_secs)
            for name, kind in KINDS.items()
            if name in datasets
        }
        self.cache = self.endpoints["url"].cache
        self._pager = Pager(config)
        self._header_dropper = HeaderDropper(config)

    async def handle(self, request: Request, kind: str = "url") -> Response:
        """Answer one get-logs request to the endpoint of ``kind``."""
        endpoint = self.endpoints[kind]
        arrival = Arrival(time.monotonic(), None, kind=kind)
        self._stats.arrivals.append(arrival)
        parsed = parse_body(request.body)
        body = split_body(parsed) if parsed is not None else None
        if body is not None and body.page_token is not None:
            arrival.page_token = str(body.page_token)
        fault: str | None = None
        if kind in self._config.denied_kinds:
            response, outcome = self._deny(request, body)
        else:
            fault = self._faults.draw(
                has_page_token=body is not None and body.page_token is not None
            )
            # Like a gateway, the quota is counted when the request arrives; the latency
            # is the backend's, so a 429 comes back at once.
            response, outcome = await self._respond(request, endpoint, body, fault, arrival)
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

    def _admit(self, request: Request) -> tuple[Response | None, str, list[tuple[str, str]]]:
        """Authenticate and spend quota: ``(refusal or None, outcome, X-RateLimit headers)``."""
        headers = self._quota.headers() if self._quota is not None else []
        failure = self._auth.check(request)
        if failure is not None:
            refusal = mimecast_error(401, failure.code, failure.message, headers=headers)
            return refusal, "auth_failed", headers
        if self._quota is not None:
            allowed, headers = self._quota.take()
            if not allowed:
                quota = self._quota.quota
                return quota_exceeded(quota, quota.body_style, headers), "rate_limited", headers
        return None, "ok", headers

    def _deny(self, request: Request, body: GetLogsBody | None) -> tuple[Response, str]:
        """Answer an endpoint the application role may not read (after auth and quota)."""
        refusal, outcome, headers = self._admit(request)
        if refusal is not None:
            return refusal, outcome
        if self._config.permission_error == "fail":
            key = body.item if body is not None else {}
            return mimecast_error(
                200, "err_xdk_forbidden", "Forbidden", key=key, headers=headers
            ), "permission_denied"
        return mimecast_error(403, "err_xdk_forbidden", "Forbidden", headers=headers), (
            "permission_denied"
        )

    async def _respond(
        self,
        request: Request,
        endpoint: Endpoint,
        body: GetLogsBody | None,
        fault: str | None,
        arrival: Arrival,
    ) -> tuple[Response, str]:
        if fault == "drop":
            return Response(0, disposition="drop"), "drop"
        if fault == "slow":
            await asyncio.sleep(self._faults.slow_secs)
        elif fault == "token_expire":
            self._tokens.expire_all()
        refusal, outcome, headers = self._admit(request)
        if refusal is not None:
            return refusal, outcome
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
        response, outcome = self._serve(endpoint, body, headers, arrival)
        if fault == "truncate":
            response.disposition = "truncate"
        return response, outcome

    def _serve(
        self,
        endpoint: Endpoint,
        body: GetLogsBody,
        headers: list[tuple[str, str]],
        arrival: Arrival,
    ) -> tuple[Response, str]:
        config = self._config
        now = self._clock()
        try:
            if body.page_token is not None:
                token = PageToken.decode(body.page_token)
                ttl = config.page_token_ttl_secs
                if (
                    token is None
                    or not endpoint.kind.accepts(token.query)
                    or (ttl is not None and now - token.issued_at > ttl)
                ):
                    return invalid_page_token(body.item, headers), "page_token_invalid"
                query, offset = token.query, token.offset
                size = page_size(
                    body.page_size, default=token.page_size, maximum=config.max_page_size
                )
            else:
                size = page_size(
                    body.page_size, default=config.default_page_size, maximum=config.max_page_size
                )
                query = resolve_query(
                    body.item,
                    now=now,
                    to_inclusive=config.to_inclusive,
                    kind_filters=endpoint.kind.read_filters,
                )
                offset = 0
        except InvalidRequestError as error:
            response = mimecast_error(
                200, error.code, error.message, field=error.field, key=body.item, headers=headers
            )
            return response, "invalid"
        arrival.pass_id = query.snapshot
        response = endpoint.page(
            query,
            offset=offset,
            size=size,
            now=now,
            headers=headers,
            sent_token=arrival.page_token,
            pager=self._pager,
            stats=self._stats,
        )
        return response, "ok"


def _header(response: Response, name: str) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value
    return None
