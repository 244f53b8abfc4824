"""Shared helpers for the simulator tests: clients, signing, paging, comparison."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
import orjson

from collector.events import format_mimecast_date
from collector.simulator import Simulator, SimulatorConfig

GET_LOGS = "/api/ttp/url/get-logs"
MakeSim = Callable[..., Awaitable[Simulator]]
"""The ``make_sim`` fixture: ``await make_sim(config, dataset, faults)`` starts one."""
T0 = 1_731_000_000  # 2024-11-07T17:20:00Z, far from "now" so defaults never interfere


def click(epoch: int, n: int = 0, *, route: str = "inbound", scan: str = "clean") -> dict[str, Any]:
    """Return a small, distinct click log dated ``epoch``."""
    return {
        "userEmailAddress": f"user{n}@corp.example",
        "url": f"https://site.example/{n}",
        "route": route,
        "scanResult": scan,
        "action": "block" if scan == "malicious" else "allow",
        "date": format_mimecast_date(epoch),
    }


def canon(clicks: Iterable[dict[str, Any]]) -> list[bytes]:
    """Return the clicks as a sorted list of canonical JSON: a multiset to compare."""
    return sorted(orjson.dumps(c, option=orjson.OPT_SORT_KEYS) for c in clicks)


def body(
    item: dict[str, Any] | None = None, *, page_size: int | None = None, token: str | None = None
) -> dict[str, Any]:
    """Return a get-logs request body."""
    pagination: dict[str, Any] = {}
    if page_size is not None:
        pagination["pageSize"] = page_size
    if token is not None:
        pagination["pageToken"] = token
    result: dict[str, Any] = {"meta": {"pagination": pagination}}
    if item is not None:
        result["data"] = [item]
    return result


async def bearer(client: httpx.AsyncClient, sim: Simulator) -> dict[str, str]:
    """Get an OAuth token over HTTP and return the Authorization header for it."""
    response = await client.post(
        f"{sim.base_url}/oauth/token",
        data={
            "client_id": sim.config.client_id,
            "client_secret": sim.config.client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def mc_headers(
    config: SimulatorConfig,
    *,
    path: str = GET_LOGS,
    date: str | None = None,
    req_id: str | None = None,
    app_key: str | None = None,
    secret_key: str | None = None,
) -> dict[str, str]:
    """Sign a request the API 1.0 way (written from the docs, not from the simulator)."""
    date = email.utils.formatdate(usegmt=True) if date is None else date
    req_id = str(uuid.uuid4()) if req_id is None else req_id
    data = f"{date}:{req_id}:{path}:{app_key or config.app_key}"
    secret = base64.b64decode(secret_key or config.secret_key)
    signature = base64.b64encode(hmac.new(secret, data.encode(), hashlib.sha1).digest()).decode()
    return {
        "x-mc-date": date,
        "x-mc-req-id": req_id,
        "x-mc-app-id": config.app_id,
        "Authorization": f"MC {config.access_key}:{signature}",
    }


async def get_logs(
    client: httpx.AsyncClient, sim: Simulator, headers: dict[str, str], payload: Any
) -> httpx.Response:
    """POST a get-logs request (a dict is sent as JSON, bytes as they are)."""
    if isinstance(payload, bytes):
        return await client.post(f"{sim.base_url}{GET_LOGS}", content=payload, headers=headers)
    return await client.post(f"{sim.base_url}{GET_LOGS}", json=payload, headers=headers)


def logs_of(response: httpx.Response) -> list[dict[str, Any]]:
    """Return the click logs of a successful page."""
    document = response.json()
    assert response.status_code == 200 and document["fail"] == [], response.text
    data = document["data"]
    return [] if data == [] else list(data[0]["clickLogs"])


async def fetch_all(
    client: httpx.AsyncClient,
    sim: Simulator,
    headers: dict[str, str],
    item: dict[str, Any],
    *,
    page_size: int = 100,
    max_pages: int = 1000,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow ``next`` to the end; return ``(clicks, pagination of every page)``."""
    clicks: list[dict[str, Any]] = []
    paginations: list[dict[str, Any]] = []
    payload = body(item, page_size=page_size)
    for _ in range(max_pages):
        response = await get_logs(client, sim, headers, payload)
        page = logs_of(response)
        clicks.extend(page)
        pagination = response.json()["meta"]["pagination"]
        paginations.append(pagination)
        if "next" not in pagination or not page:
            return clicks, paginations
        payload = body(page_size=page_size, token=pagination["next"])
    raise AssertionError("paging did not end")


def error_of(response: httpx.Response) -> dict[str, Any]:
    """Return the single error object of a Mimecast error envelope."""
    document = response.json()
    assert document["data"] == []
    assert document["meta"]["status"] == response.status_code
    (failure,) = document["fail"]
    (error,) = failure["errors"]
    return dict(error)


def read_facts(lines: Iterable[str]) -> dict[str, str]:
    """The ``name=value`` lines `simulate` prints before ``ready``."""
    facts = {}
    for line in lines:
        if line.strip() == "ready":
            break
        name, _, value = line.strip().partition("=")
        facts[name] = value
    return facts
