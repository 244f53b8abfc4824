"""format = "ecs" for attachment and impersonation logs, against Elastic's pipeline tests.

Inputs are the lines of elastic/integrations
``packages/mimecast/data_stream/ttp_ap_logs/_dev/test/pipeline/test-ttp-ap-logs.log`` and
``.../ttp_ip_logs/_dev/test/pipeline/test-ttp-ip-logs.log``; expected documents those of
the matching ``-expected.json`` files (their test configs set the
``preserve_original_event`` tag). The attachment file's stored expectations were written
when the pipeline set ECS 8.4.0; the pipeline now sets 8.11.0, as for the other two.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector.events import Event, parse_mimecast_date
from collector.sinks.http.ecs_ttp import ecs_document

AP_LOGS = [
    r'{"senderAddress":"<>","recipientAddress":"johndoe@example.com","fileName":"numbers.pdf","fileType":"application\/pdf","result":"safe","actionTriggered":"user release, none","date":"2021-10-14T18:54:32+0000","details":"Safe                                              \r\nTime taken: 0 hrs, 0 min, 4 sec","route":"inbound","messageId":"<20200806044148.F35F813B435@mail.brianjthronton.com>","subject":"Important Updated Numbers from the Center for Disease Control","fileHash":"eaeef09b60a59b913e9bfc0a4373e25d6182beff388957473fba517cc09345e3","definition":"Inbound - Safe file with On-Demand Sandbox"}',
    r'{"senderAddress":"<>","recipientAddress":"johndoe@example.com","fileName":"Titus-Test Doc - Classification - InternalUseOnly.docx","fileType":"application\/vnd.openxmlformats-officedocument.wordprocessingml.document","result":"safe","actionTriggered":"user release, none","date":"2021-10-14T11:24:23+0000","details":"Safe                                              \r\nTime taken: 0 hrs, 0 min, 5 sec","route":"inbound","messageId":"<DB8P194MB0824EE4C8D360CCE3DEB0243A1B89@DB8P194MB0824.EURP194.PROD.OUTLOOK.COM>","subject":"FW: Titus classification work","fileHash":"2fb26be55ac710e4d9f80677ba24ae212dbb36bd934a0569fe521839e9f5d16e","definition":"Inbound - Safe file with On-Demand Sandbox"}',
    r'{"senderAddress":"<>","recipientAddress":"johndoe@example.com","fileName":"Titus classification v0.3.pptx","fileType":"application\/vnd.openxmlformats-officedocument.presentationml","result":"safe","actionTriggered":"user release, none","date":"2021-10-14T11:24:23+0000","details":"Safe                                              \r\nTime taken: 0 hrs, 0 min, 5 sec","route":"inbound","messageId":"<DB8P194MB0824EE4C8D360CCE3DEB0243A1B89@DB8P194MB0824.EURP194.PROD.OUTLOOK.COM>","subject":"FW: Titus classification work","fileHash":"111b86e1244ce6389efb60cddc001d594d334c540e85f9976be467a4ce472973","definition":"Inbound - Safe file with On-Demand Sandbox"}',
]
IP_LOGS = [
    r'{"id":"MTOKEN:eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjU1NjIw1FEqSy0qzszPU7ICskvywAoNDAyVagFirRIG","senderAddress":"smtp@example.com","recipientAddress":"johndoe@example.com","subject":"Requested File","definition":"IP - 1 hit (Tag email)","hits":1,"identifiers":["internal_user_name"],"action":"none","taggedExternal":false,"taggedMalicious":true,"senderIpAddress":"67.43.156.15","eventTime":"2021-10-15T17:10:46+0000","impersonationResults":[{"impersonationDomainSource":"internal_user_name","similarDomain":"John Doe Jr <johndoejr@example.com>","stringSimilarToDomain":"John Doe Jr","checkerResult":"hit"}],"messageId":"<EE7E97EA-1926-4A90-9399-D049A98893F4@emailsec.ninja>"}',
    r'{"id":"MTOKEN:eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjUzszAx0VEqSy0qzszPU7Iy1FEqyQMrNDAwVaoFAGShEhs","senderAddress":"johndoe@gmail.com","recipientAddress":"johndoe@example.com","subject":"Fwd: Here ya go","definition":"IP - 1 hit (Tag email)","hits":1,"identifiers":["internal_user_name"],"action":"none","taggedExternal":false,"taggedMalicious":true,"senderIpAddress":"67.43.156.15","eventTime":"2021-10-15T06:16:34+0000","impersonationResults":[{"impersonationDomainSource":"internal_user_name","similarDomain":"John Doe <johndoe@example.com>","stringSimilarToDomain":"John Doe","checkerResult":"hit"}],"messageId":"<CAOsCE-eP_fM6j=OL7Mwufic_s8t8VgNaCWdWM+sHYvWAFxiDig@mail.gmail.com>"}',
    r'{"id":"MTOKEN:eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjUzMDMz01EqSy0qzszPU7Iy1FEqyQMrNDAwVaoFAGQhEhc","senderAddress":"johndoe@mimecast.com","recipientAddress":"johndoe@example.com","subject":"RE: MSP Sales of Managed E2E","definition":"IP - 2 hits (Hold for Review \/ User Hold)","hits":2,"identifiers":["targeted_threat_dictionary","internal_user_name"],"action":"hold","taggedExternal":false,"taggedMalicious":true,"senderIpAddress":"67.43.156.15","eventTime":"2021-10-13T16:12:07+0000","impersonationResults":[{"impersonationDomainSource":"internal_user_name","similarDomain":"Emily Doe <emilydoe@example.com>","stringSimilarToDomain":"Emily Doe","checkerResult":"hit"},{"impersonationDomainSource":"targeted_threat_dictionary","stringSimilarToDomain":"who"}],"messageId":"<PR3P194MB06183A3BE81F0831A8402B47D3B79@PR3P194MB0618.EURP194.PROD.OUTLOOK.COM>"}',
]

SANDBOX = "Inbound - Safe file with On-Demand Sandbox"
TITUS_ID = "<DB8P194MB0824EE4C8D360CCE3DEB0243A1B89@DB8P194MB0824.EURP194.PROD.OUTLOOK.COM>"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _attachment(
    when: str, file: dict[str, Any], message_id: str, subject: str, taken: int
) -> dict[str, Any]:
    return {
        "@timestamp": when.replace("+0000", ".000Z"),
        "ecs": {"version": "8.11.0"},
        "email": {
            "attachments": {"file": file},
            "direction": "inbound",
            "from": {"address": ["<>"]},
            "message_id": message_id,
            "subject": subject,
            "to": {"address": ["johndoe@example.com"]},
        },
        "event": {"action": "user_release_none", "created": when},
        "mimecast": {
            "details": "Safe" + " " * 46 + f"\r\nTime taken: 0 hrs, 0 min, {taken} sec",
            "result": "safe",
        },
        "related": {"hash": [file["hash"]["sha256"]]},
        "rule": {"name": SANDBOX},
        "tags": ["preserve_original_event"],
    }


AP_EXPECTED = [
    _attachment(
        "2021-10-14T18:54:32+0000",
        {
            "extension": "pdf",
            "hash": {"sha256": "eaeef09b60a59b913e9bfc0a4373e25d6182beff388957473fba517cc09345e3"},
            "mime_type": "application/pdf",
            "name": "numbers.pdf",
        },
        "<20200806044148.F35F813B435@mail.brianjthronton.com>",
        "Important Updated Numbers from the Center for Disease Control",
        4,
    ),
    _attachment(
        "2021-10-14T11:24:23+0000",
        {
            "extension": "docx",
            "hash": {"sha256": "2fb26be55ac710e4d9f80677ba24ae212dbb36bd934a0569fe521839e9f5d16e"},
            "mime_type": DOCX,
            "name": "Titus-Test Doc - Classification - InternalUseOnly.docx",
        },
        TITUS_ID,
        "FW: Titus classification work",
        5,
    ),
    _attachment(
        "2021-10-14T11:24:23+0000",
        {
            "extension": "pptx",
            "hash": {"sha256": "111b86e1244ce6389efb60cddc001d594d334c540e85f9976be467a4ce472973"},
            "mime_type": "application/vnd.openxmlformats-officedocument.presentationml",
            "name": "Titus classification v0.3.pptx",
        },
        TITUS_ID,
        "FW: Titus classification work",
        5,
    ),
]


def _impersonation(
    when: str,
    token: str,
    sender: str,
    subject: str,
    rule: str,
    action: str,
    identifiers: list[str],
    results: list[dict[str, str]],
    message_id: str,
) -> dict[str, Any]:
    return {
        "@timestamp": when.replace("+0000", ".000Z"),
        "ecs": {"version": "8.11.0"},
        "email": {
            "from": {"address": [sender]},
            "message_id": message_id,
            "subject": subject,
            "to": {"address": ["johndoe@example.com"]},
        },
        "event": {"action": action, "created": when, "id": f"MTOKEN:{token}"},
        "mimecast": {
            "hits": len(identifiers),
            "identifiers": identifiers,
            "impersonationResults": results,
            "taggedExternal": False,
            "taggedMalicious": True,
        },
        "related": {"ip": ["67.43.156.15"]},
        "rule": {"name": rule},
        "source": {"ip": "67.43.156.15"},
        "tags": ["preserve_original_event"],
    }


def _hit(name: str, address: str) -> dict[str, str]:
    return {
        "checkerResult": "hit",
        "impersonationDomainSource": "internal_user_name",
        "similarDomain": f"{name} <{address}>",
        "stringSimilarToDomain": name,
    }


IP_EXPECTED = [
    _impersonation(
        "2021-10-15T17:10:46+0000",
        "eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjU1NjIw1FEqSy0qzszPU7ICskvywAoNDAyVagFirRIG",
        "smtp@example.com",
        "Requested File",
        "IP - 1 hit (Tag email)",
        "none",
        ["internal_user_name"],
        [_hit("John Doe Jr", "johndoejr@example.com")],
        "<EE7E97EA-1926-4A90-9399-D049A98893F4@emailsec.ninja>",
    ),
    _impersonation(
        "2021-10-15T06:16:34+0000",
        "eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjUzszAx0VEqSy0qzszPU7Iy1FEqyQMrNDAwVaoFAGShEhs",
        "johndoe@gmail.com",
        "Fwd: Here ya go",
        "IP - 1 hit (Tag email)",
        "none",
        ["internal_user_name"],
        [_hit("John Doe", "johndoe@example.com")],
        "<CAOsCE-eP_fM6j=OL7Mwufic_s8t8VgNaCWdWM+sHYvWAFxiDig@mail.gmail.com>",
    ),
    _impersonation(
        "2021-10-13T16:12:07+0000",
        "eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjUzMDMz01EqSy0qzszPU7Iy1FEqyQMrNDAwVaoFAGQhEhc",
        "johndoe@mimecast.com",
        "RE: MSP Sales of Managed E2E",
        "IP - 2 hits (Hold for Review / User Hold)",
        "hold",
        ["targeted_threat_dictionary", "internal_user_name"],
        [
            _hit("Emily Doe", "emilydoe@example.com"),
            {
                "impersonationDomainSource": "targeted_threat_dictionary",
                "stringSimilarToDomain": "who",
            },
        ],
        "<PR3P194MB06183A3BE81F0831A8402B47D3B79@PR3P194MB0618.EURP194.PROD.OUTLOOK.COM>",
    ),
]


def _event(raw: str, kind: str) -> Event:
    data = orjson.loads(raw)
    when = data["date"] if kind == "attachment" else data["eventTime"]
    return Event("ttp", "id-0", parse_mimecast_date(when), data, kind)


CASES = [
    (raw, "attachment", "mimecast.ttp_ap_logs", doc)
    for raw, doc in zip(AP_LOGS, AP_EXPECTED, strict=True)
] + [
    (raw, "impersonation", "mimecast.ttp_ip_logs", doc)
    for raw, doc in zip(IP_LOGS, IP_EXPECTED, strict=True)
]


@pytest.mark.parametrize(("raw", "kind", "dataset", "expected"), CASES)
def test_ecs_document_matches_elastics_pipeline_output(
    raw: str, kind: str, dataset: str, expected: Any
) -> None:
    doc = ecs_document(_event(raw, kind), preserve_original=True)
    original = doc["event"].pop("original")
    # Elastic Agent and the integration's index template add the same two values.
    assert doc["event"].pop("module") == "mimecast"
    assert doc["event"].pop("dataset") == dataset
    assert orjson.loads(original) == orjson.loads(raw)
    assert doc == expected


def test_url_clicks_keep_their_own_mapping() -> None:
    click = {"date": "2024-11-17T17:02:30+0000", "url": "https://a.example/x", "route": "inbound"}
    doc = ecs_document(Event("ttp", "id", 0, click, "url"))
    assert doc["event"]["dataset"] == "mimecast.ttp_url_logs"
    assert doc["url"]["domain"] == "a.example"


@pytest.mark.parametrize(
    ("file_name", "extension"),
    [("report.final.PDF", "PDF"), ("README", None), ("trailing.", None), (".bashrc", "bashrc")],
)
def test_attachment_extension_is_what_follows_the_last_dot(
    file_name: str, extension: str | None
) -> None:
    doc = ecs_document(Event("ap", "id", 0, {"date": "x", "fileName": file_name}, "attachment"))
    file = doc["email"]["attachments"]["file"]
    assert file.get("extension") == extension
    assert file["name"] == file_name


def test_a_hash_that_is_not_sha256_stays_under_mimecast() -> None:
    record = {"date": "x", "fileHash": "d41d8cd98f00b204e9800998ecf8427e", "route": "Inbound"}
    doc = ecs_document(Event("ap", "id", 0, record, "attachment"))
    assert doc["mimecast"]["fileHash"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert "related" not in doc
    assert doc["email"]["direction"] == "inbound"


def test_a_sender_ip_that_is_not_an_address_stays_under_mimecast() -> None:
    record = {"eventTime": "x", "senderIpAddress": "unknown", "similarDomain": "examp1e.com"}
    doc = ecs_document(Event("ip", "id", 0, record, "impersonation"))
    assert doc["mimecast"] == {"senderIpAddress": "unknown"}
    assert doc["source"] == {"domain": "examp1e.com"}
    assert "related" not in doc


def test_a_kind_without_a_mapping_keeps_its_fields_under_mimecast() -> None:
    record = {"eventTime": "2024-01-01T00:00:00+0000", "policy": "Block PII"}
    stream = {"type": "logs", "dataset": "mimecast.dlp", "namespace": "default"}
    doc = ecs_document(Event("dlp", "id", 0, record, "dlp"), data_stream=stream)
    assert doc["event"]["dataset"] == "mimecast.dlp_logs"
    assert doc["mimecast"] == record
    assert doc["data_stream"] == stream
