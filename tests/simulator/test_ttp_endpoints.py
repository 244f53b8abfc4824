"""The attachment and impersonation endpoints over real HTTP: shapes, filters, paging."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest

from collector.simulator import ClickDataset

from .helpers import T0, MakeSim, bearer, body, canon, error_of
from .ttp_helpers import DATA_KEYS, WINDOW, datasets, fetch_kind, post, records_of

MIMECAST_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
ATTACHMENT_FIELDS = {
    "senderAddress", "recipientAddress", "fileName", "fileType", "result", "actionTriggered",
    "date", "details", "route", "messageId", "subject", "fileHash", "definition",
}  # fmt: skip
IMPERSONATION_FIELDS = {
    "id", "senderAddress", "recipientAddress", "subject", "definition", "hits", "identifiers",
    "action", "taggedExternal", "taggedMalicious", "senderIpAddress", "eventTime",
    "impersonationResults", "messageId",
}  # fmt: skip


async def test_attachment_page_has_mimecasts_shape(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(**datasets(300))
    headers = await bearer(client, sim)
    response = await post(client, sim, "attachment", headers, body(WINDOW, page_size=50))
    document = response.json()
    assert document["meta"]["status"] == 200
    assert document["meta"]["pagination"]["totalCount"] == 300
    assert list(document["data"][0]) == ["attachmentLogs"]
    logs = records_of(response, "attachment")
    assert len(logs) == 50
    for log in logs:
        assert set(log) == ATTACHMENT_FIELDS
        assert re.fullmatch(r"[0-9a-f]{64}", log["fileHash"])
        assert MIMECAST_DATE.match(log["date"])
        assert log["route"] in ("inbound", "outbound", "internal")
        assert log["result"] in ("safe", "malicious", "timeout", "error", "unsafe")
        assert "/" in log["fileType"] and "." in log["fileName"]
        assert "Time taken" in log["details"]
    # Newest first by default, like clicks.
    dates = [log["date"] for log in logs]
    assert dates == sorted(dates, reverse=True)


async def test_impersonation_page_has_mimecasts_shape(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(**datasets(120))
    headers = await bearer(client, sim)
    response = await post(client, sim, "impersonation", headers, body(WINDOW, page_size=40))
    data = response.json()["data"][0]
    assert list(data) == ["impersonationLogs", "resultCount"]
    assert data["resultCount"] == 120 == response.json()["meta"]["pagination"]["totalCount"]
    for log in records_of(response, "impersonation"):
        assert set(log) == IMPERSONATION_FIELDS
        assert log["id"].startswith("MTOKEN:")
        assert MIMECAST_DATE.match(log["eventTime"])
        assert log["hits"] == len(log["identifiers"]) == len(log["impersonationResults"])
        assert {r["impersonationDomainSource"] for r in log["impersonationResults"]} == set(
            log["identifiers"]
        )
        assert isinstance(log["taggedMalicious"], bool) and isinstance(log["taggedExternal"], bool)
        # Only inbound messages: recipients are ours, senders are not.
        assert log["recipientAddress"].endswith("corp.example")
        assert not log["senderAddress"].endswith("corp.example")


@pytest.mark.parametrize("kind", ["attachment", "impersonation"])
@pytest.mark.parametrize(("page_size", "oldest_first"), [(7, True), (100, False), (500, True)])
async def test_paging_through_a_pass_gives_the_truth(
    make_sim: MakeSim, client: httpx.AsyncClient, kind: str, page_size: int, oldest_first: bool
) -> None:
    sim = await make_sim(**datasets(400))
    headers = await bearer(client, sim)
    item = {**WINDOW, "oldestFirst": oldest_first}
    got = await fetch_kind(client, sim, kind, headers, item, page_size=page_size)
    assert canon(got) == canon(sim.datasets[kind].truth())
    assert sim.stats.records_served[kind] == 400
    assert sim.stats.clicks_served == 0


@pytest.mark.parametrize("kind", ["attachment", "impersonation"])
def test_generated_records_have_copies_and_bursts_and_are_seeded(kind: str) -> None:
    made = datasets(2_000, seed=9)[f"{kind}s"]
    again = datasets(2_000, seed=9)[f"{kind}s"]
    truth = made.truth()
    assert canon(truth) == canon(again.truth())
    blobs = Counter(orjson.dumps(record) for record in truth)
    assert sum(n - 1 for n in blobs.values()) == 40  # the default 2 % byte-identical copies
    seconds = Counter(record[made.date_field] for record in truth)
    assert max(seconds.values()) >= 3  # same-second bursts
    dates = [record[made.date_field] for record in truth]
    assert dates == sorted(dates)


async def test_attachment_result_and_route_filters(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(**datasets(600))
    headers = await bearer(client, sim)
    truth = sim.attachments.truth()
    union: list[dict[str, Any]] = []
    for result in ("safe", "malicious", "timeout", "error", "unsafe"):
        got = await fetch_kind(client, sim, "attachment", headers, {**WINDOW, "result": result})
        assert canon(got) == canon(r for r in truth if r["result"] == result)
        union.extend(got)
    assert canon(union) == canon(truth)
    item = {**WINDOW, "route": "inbound", "result": "all"}
    got = await fetch_kind(client, sim, "attachment", headers, item)
    assert canon(got) == canon(r for r in truth if r["route"] == "inbound")
    assert 0 < len(got) < len(truth)
    bad = await post(client, sim, "attachment", headers, body({**WINDOW, "result": "clean"}))
    assert bad.status_code == 200
    assert error_of(bad)["field"] == "result"


def _impersonation_cases(truth: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[Any]]]:
    subject_word = truth[0]["subject"].split()[0].upper()  # matching ignores case
    return [
        ({"taggedMalicious": True}, [r for r in truth if r["taggedMalicious"]]),
        ({"taggedMalicious": False}, [r for r in truth if not r["taggedMalicious"]]),
        ({}, truth),
        (
            {"searchField": "subject", "query": subject_word},
            [r for r in truth if subject_word.casefold() in r["subject"].casefold()],
        ),
        (
            {"searchField": "policy", "query": "Hold for Review"},
            [r for r in truth if "Hold for Review" in r["definition"]],
        ),
        (
            {"identifiers": ["internal_user_name"], "actions": ["hold", "bounce"]},
            [
                r
                for r in truth
                if "internal_user_name" in r["identifiers"] and r["action"] in ("hold", "bounce")
            ],
        ),
    ]


async def test_impersonation_filters(make_sim: MakeSim, client: httpx.AsyncClient) -> None:
    sim = await make_sim(**datasets(500))
    headers = await bearer(client, sim)
    truth = sim.impersonations.truth()
    for extra, expected in _impersonation_cases(truth):
        got = await fetch_kind(client, sim, "impersonation", headers, {**WINDOW, **extra})
        assert canon(got) == canon(expected), extra
        assert expected or extra == {}, "each case must select something"
    first = await post(
        client, sim, "impersonation", headers, body({**WINDOW, "taggedMalicious": True})
    )
    expected_count = sum(1 for r in truth if r["taggedMalicious"])
    assert first.json()["data"][0]["resultCount"] == expected_count < len(truth)
    bad = await post(client, sim, "impersonation", headers, body({**WINDOW, "taggedMalicious": 3}))
    assert error_of(bad)["field"] == "taggedMalicious"
    bad = await post(client, sim, "impersonation", headers, body({**WINDOW, "searchField": "url"}))
    assert error_of(bad)["field"] == "searchField"


async def test_a_page_token_works_only_on_its_own_endpoint(
    make_sim: MakeSim, client: httpx.AsyncClient
) -> None:
    clicks = ClickDataset.generate(50, start=T0, end=T0 + 86_400, seed=1)
    sim = await make_sim(None, clicks, **datasets(50))
    headers = await bearer(client, sim)
    for kind, other in (("url", "attachment"), ("attachment", "impersonation")):
        first = await post(client, sim, kind, headers, body(WINDOW, page_size=10))
        token = first.json()["meta"]["pagination"]["next"]
        own = await post(client, sim, kind, headers, body(page_size=10, token=token))
        assert len(records_of(own, kind)) == 10
        foreign = await post(client, sim, other, headers, body(page_size=10, token=token))
        assert error_of(foreign)["code"] == "err_validation_invalid_page_token"
    assert set(DATA_KEYS) == set(sim.datasets)
