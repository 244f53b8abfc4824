"""OAuth2 tokens and API 1.0 HMAC signatures on get-logs."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from collector.simulator import ClickDataset, SimulatorConfig

from .helpers import T0, MakeSim, bearer, body, error_of, get_logs, logs_of, mc_headers

ITEM = {"from": "2024-11-07T00:00:00+0000", "to": "2024-11-08T00:00:00+0000"}


@pytest.fixture
def dataset() -> ClickDataset:
    return ClickDataset.generate(30, start=T0, end=T0 + 600, seed=3)


async def test_token_endpoint_issues_a_bearer_token(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(SimulatorConfig(token_ttl_secs=1799))
    response = await client.post(
        f"{sim.base_url}/oauth/token",
        data={
            "client_id": "sim-client-id",
            "client_secret": "sim-client-secret",
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200
    document = response.json()
    assert document.keys() == {"access_token", "token_type", "expires_in", "scope"}
    assert document["token_type"] == "Bearer"
    assert document["expires_in"] == 1799
    assert document["scope"] == ""
    assert len(document["access_token"]) >= 20
    assert sim.stats.tokens_issued == 1


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": "sim-client-id", "client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody", "client_secret": "sim-client-secret"}, 401, "invalid_client"),
        ({}, 401, "invalid_client"),
        (
            {"client_id": "sim-client-id", "client_secret": "sim-client-secret", "grant_type": "x"},
            400,
            "unsupported_grant_type",
        ),
    ],
)
async def test_token_endpoint_refuses_bad_requests(
    make_sim: MakeSim, client: httpx.AsyncClient, form: dict[str, str], status: int, error: str
) -> None:
    sim = await make_sim()
    grant = {"grant_type": "client_credentials"} if "grant_type" not in form else {}
    response = await client.post(f"{sim.base_url}/oauth/token", data=form | grant)
    assert response.status_code == status
    assert response.json() == {"error": error}
    assert sim.stats.tokens_issued == 0


async def test_valid_bearer_token_gets_logs(
    make_sim: MakeSim, client: httpx.AsyncClient, dataset: ClickDataset
) -> None:
    sim = await make_sim(dataset=dataset)
    response = await get_logs(client, sim, await bearer(client, sim), body(ITEM))
    assert len(logs_of(response)) == 30


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "err_xdk_client_unauthorized"),
        ({"Authorization": "Bearer not-a-token"}, "err_xdk_client_unauthorized"),
        ({"Authorization": "Basic c2ltOnNpbQ=="}, "err_xdk_client_unauthorized"),
    ],
)
async def test_missing_or_unknown_credentials_get_401(
    make_sim: MakeSim, client: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    sim = await make_sim()
    response = await get_logs(client, sim, headers, body(ITEM))
    assert response.status_code == 401
    assert error_of(response)["code"] == code
    assert sim.stats.outcomes["auth_failed"] == 1


async def test_bearer_token_expires(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    sim = await make_sim(SimulatorConfig(token_ttl_secs=0.3))
    headers = await bearer(client, sim)
    assert (await get_logs(client, sim, headers, body(ITEM))).status_code == 200
    await asyncio.sleep(0.4)
    response = await get_logs(client, sim, headers, body(ITEM))
    assert response.status_code == 401
    assert error_of(response)["code"] == "err_xdk_client_unauthorized"
    fresh = await bearer(client, sim)
    assert (await get_logs(client, sim, fresh, body(ITEM))).status_code == 200


async def test_hmac_signed_request_is_accepted(
    make_sim: MakeSim, client: httpx.AsyncClient, dataset: ClickDataset
) -> None:
    sim = await make_sim(dataset=dataset)
    response = await get_logs(client, sim, mc_headers(sim.config), body(ITEM))
    assert len(logs_of(response)) == 30
    # Both spellings of the date's zone are in use (UTC in Mimecast's docs, GMT in Elastic).
    utc_date = email.utils.formatdate(usegmt=True).replace("GMT", "UTC")
    response = await get_logs(client, sim, mc_headers(sim.config, date=utc_date), body(ITEM))
    assert response.status_code == 200


def _tampered(config: SimulatorConfig, part: str) -> dict[str, str]:
    """Return MC headers where exactly one part is wrong."""
    if part == "date_after_signing":
        headers = mc_headers(config)
        headers["x-mc-date"] = email.utils.formatdate(time.time() + 1, usegmt=True)
        return headers
    if part == "req_id_after_signing":
        headers = mc_headers(config)
        headers["x-mc-req-id"] += "0"
        return headers
    if part == "path":
        return mc_headers(config, path="/api/ttp/url/get-logs/")
    if part == "app_key":
        return mc_headers(config, app_key="other-app-key")
    if part == "secret_key":
        return mc_headers(config, secret_key="b3RoZXItc2VjcmV0")
    if part == "access_key":
        headers = mc_headers(config)
        headers["Authorization"] = headers["Authorization"].replace(config.access_key, "other")
        return headers
    if part == "app_id":
        return mc_headers(config) | {"x-mc-app-id": "other-app-id"}
    if part == "signature":
        headers = mc_headers(config)
        headers["Authorization"] = headers["Authorization"][:-4] + "AAA="
        return headers
    if part == "stale_date":
        return mc_headers(config, date=email.utils.formatdate(time.time() - 3600, usegmt=True))
    if part == "garbage_date":
        return mc_headers(config, date="yesterday")
    if part == "no_req_id":
        headers = mc_headers(config, req_id="")
        return headers
    raise AssertionError(part)


@pytest.mark.parametrize(
    "part",
    [
        "date_after_signing",
        "req_id_after_signing",
        "path",
        "app_key",
        "secret_key",
        "access_key",
        "app_id",
        "signature",
        "stale_date",
        "garbage_date",
        "no_req_id",
    ],
)
async def test_hmac_rejects_each_tampered_part(
    make_sim: MakeSim, client: httpx.AsyncClient, part: str
) -> None:
    sim = await make_sim()
    response = await get_logs(client, sim, _tampered(sim.config, part), body(ITEM))
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "err_xdk_invalid_signature"
    assert error["message"] == "0004 Invalid Signature"
    assert error["retryable"] is False


async def test_hmac_rejects_a_reused_request_id(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    headers = mc_headers(sim.config)
    assert (await get_logs(client, sim, headers, body(ITEM))).status_code == 200
    again = await get_logs(client, sim, headers, body(ITEM))
    assert again.status_code == 401
    assert error_of(again)["code"] == "err_xdk_duplicate_request_id"
    # A fresh id (a correct retry) is accepted again.
    assert (await get_logs(client, sim, mc_headers(sim.config), body(ITEM))).status_code == 200
