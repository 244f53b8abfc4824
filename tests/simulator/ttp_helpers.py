"""Helpers for the attachment and impersonation endpoints' tests."""

from __future__ import annotations

from typing import Any

import httpx

from collector.simulator import AttachmentDataset, ImpersonationDataset, Simulator

from .helpers import T0, body

PATHS = {
    "url": "/api/ttp/url/get-logs",
    "attachment": "/api/ttp/attachment/get-logs",
    "impersonation": "/api/ttp/impersonation/get-logs",
}
DATA_KEYS = {
    "url": "clickLogs",
    "attachment": "attachmentLogs",
    "impersonation": "impersonationLogs",
}
WINDOW = {"from": "2024-11-07T17:20:00+0000", "to": "2024-11-08T17:20:00+0000"}
"""The day the generated records span (T0 .. T0 + 86400)."""


def datasets(count: int, seed: int = 5) -> dict[str, Any]:
    """Attachment and impersonation logs over the day after T0, as Simulator keywords."""
    return {
        "attachments": AttachmentDataset.generate(count, start=T0, end=T0 + 86_400, seed=seed),
        "impersonations": ImpersonationDataset.generate(
            count, start=T0, end=T0 + 86_400, seed=seed
        ),
    }


async def post(
    client: httpx.AsyncClient, sim: Simulator, kind: str, headers: dict[str, str], payload: Any
) -> httpx.Response:
    """POST a get-logs request to the endpoint of ``kind``."""
    return await client.post(f"{sim.base_url}{PATHS[kind]}", json=payload, headers=headers)


def records_of(response: httpx.Response, kind: str) -> list[dict[str, Any]]:
    """Return the records of a successful page of ``kind``."""
    document = response.json()
    assert response.status_code == 200 and document["fail"] == [], response.text
    data = document["data"]
    return [] if data == [] else list(data[0][DATA_KEYS[kind]])


async def fetch_kind(
    client: httpx.AsyncClient,
    sim: Simulator,
    kind: str,
    headers: dict[str, str],
    item: dict[str, Any],
    *,
    page_size: int = 100,
    max_pages: int = 200,
) -> list[dict[str, Any]]:
    """Follow ``next`` to the end of a pass on ``kind``'s endpoint; return its records."""
    records: list[dict[str, Any]] = []
    payload = body(item, page_size=page_size)
    for _ in range(max_pages):
        response = await post(client, sim, kind, headers, payload)
        page = records_of(response, kind)
        records.extend(page)
        pagination = response.json()["meta"]["pagination"]
        if "next" not in pagination or not page:
            return records
        payload = body(page_size=page_size, token=pagination["next"])
    raise AssertionError("paging did not end")
