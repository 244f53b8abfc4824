"""Syslog payloads of attachment and impersonation logs: CEF, LEEF and JSON per kind.

The records are Elastic's pipeline test samples (tests/http_sinks/test_ecs_ttp.py), one
made malicious; each payload is read back with the test's own CEF and LEEF parsers and
compared field for field with the tables in docs/syslog.md.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector.events import Event, parse_mimecast_date
from collector.sinks.syslog import SyslogSinkConfig
from collector.sinks.syslog.severity import Risk
from collector.sinks.syslog.sink import page_encoder
from collector.sinks.syslog.ttp_fields import classify_attachment, classify_impersonation

from ..http_sinks.test_ecs_ttp import AP_LOGS, IP_LOGS
from .parsers import parse_5424, parse_cef, parse_leef

ATTACHMENT = orjson.loads(AP_LOGS[0]) | {"result": "malicious", "actionTriggered": "sandbox, block"}
IMPERSONATION = orjson.loads(IP_LOGS[2])
ATTACHMENT_EVENT = Event(
    "attachments", "ab12-0", parse_mimecast_date(ATTACHMENT["date"]), ATTACHMENT, "attachment"
)
IMPERSONATION_EVENT = Event(
    "impersonation",
    "cd34-1",
    parse_mimecast_date(IMPERSONATION["eventTime"]),
    IMPERSONATION,
    "impersonation",
)
DETAILS = "Safe" + " " * 46 + "\r\nTime taken: 0 hrs, 0 min, 4 sec"
HASH = "eaeef09b60a59b913e9bfc0a4373e25d6182beff388957473fba517cc09345e3"
MTOKEN = "MTOKEN:eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjUzMDMz01EqSy0qzszPU7Iy1FEqyQMrNDAwVaoFAGQhEhc"
IP_MESSAGE = "<PR3P194MB06183A3BE81F0831A8402B47D3B79@PR3P194MB0618.EURP194.PROD.OUTLOOK.COM>"


def _payload(event: Event, **options: Any) -> tuple[int, bytes]:
    config = SyslogSinkConfig.model_validate({"type": "syslog", "address": "127.0.0.1", **options})
    [message] = page_encoder(config, hostname="h", procid="1").encode([event]).messages
    parsed = parse_5424(message)
    return parsed.pri % 8, parsed.msg


def test_attachment_cef() -> None:
    severity, msg = _payload(ATTACHMENT_EVENT, format="cef")
    cef = parse_cef(msg.decode())
    assert severity == 4  # warning: malicious and blocked
    assert cef.header == [
        "0",
        "Mimecast",
        "Attachment Protect",
        "1.0",
        "attachment-malicious-blocked",
        "Malicious attachment blocked",
        "7",
    ]
    assert cef.extension == {
        "rt": "1634237672000",
        "externalId": "ab12-0",
        "act": "sandbox, block",
        "fname": "numbers.pdf",
        "fileType": "application/pdf",
        "fileHash": HASH,
        "duser": "johndoe@example.com",
        "suser": "<>",
        "msg": "Important Updated Numbers from the Center for Disease Control",
        "cs1Label": "definition",
        "cs1": "Inbound - Safe file with On-Demand Sandbox",
        "cs2Label": "route",
        "cs2": "inbound",
        "cs3Label": "result",
        "cs3": "malicious",
        "cs4Label": "messageId",
        "cs4": "<20200806044148.F35F813B435@mail.brianjthronton.com>",
        "cs5Label": "details",
        "cs5": DETAILS,
        "cs6Label": "collectorSource",
        "cs6": "attachments",
    }


def test_impersonation_cef() -> None:
    severity, msg = _payload(IMPERSONATION_EVENT, format="cef")
    cef = parse_cef(msg.decode())
    assert severity == 4  # tagged malicious and held
    assert cef.header[2:7] == [
        "Impersonation Protect",
        "1.0",
        "impersonation-malicious-blocked",
        "Impersonation attempt held",
        "7",
    ]
    assert cef.extension == {
        "rt": "1634141527000",
        "externalId": "cd34-1",
        "src": "67.43.156.15",
        "act": "hold",
        "duser": "johndoe@example.com",
        "suser": "johndoe@mimecast.com",
        "msg": "RE: MSP Sales of Managed E2E",
        "cs1Label": "definition",
        "cs1": "IP - 2 hits (Hold for Review / User Hold)",
        "cs2Label": "identifiers",
        "cs2": '["targeted_threat_dictionary","internal_user_name"]',
        "cs3Label": "taggedMalicious",
        "cs3": "true",
        "cs4Label": "messageId",
        "cs4": IP_MESSAGE,
        "cs5Label": "mimecastId",
        "cs5": MTOKEN,
        "cn1Label": "hits",
        "cn1": "2",
        "flexString1Label": "taggedExternal",
        "flexString1": "false",
        "cs6Label": "collectorSource",
        "cs6": "impersonation",
    }


def test_attachment_leef() -> None:
    _, msg = _payload(ATTACHMENT_EVENT, format="leef")
    leef = parse_leef(msg.decode())
    assert leef.header == [
        "LEEF:2.0",
        "Mimecast",
        "Attachment Protect",
        "1.0",
        "attachment-malicious-blocked",
    ]
    assert leef.attributes == {
        "devTimeFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "sev": "7",
        "devTime": "2021-10-14T18:54:32.000+0000",
        "usrName": "johndoe@example.com",
        "sender": "<>",
        "subject": "Important Updated Numbers from the Center for Disease Control",
        "fileName": "numbers.pdf",
        "fileType": "application/pdf",
        "fileHash": HASH,
        "result": "malicious",
        "action": "sandbox, block",
        "route": "inbound",
        "definition": "Inbound - Safe file with On-Demand Sandbox",
        "messageId": "<20200806044148.F35F813B435@mail.brianjthronton.com>",
        "details": DETAILS,
        "externalId": "ab12-0",
        "collectorSource": "attachments",
    }


def test_impersonation_leef_with_a_tab_delimiter() -> None:
    _, msg = _payload(IMPERSONATION_EVENT, format="leef", leef_delimiter="\t")
    leef = parse_leef(msg.decode())
    assert leef.header[2] == "Impersonation Protect"
    assert leef.attributes == {
        "devTimeFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "sev": "7",
        "devTime": "2021-10-13T16:12:07.000+0000",
        "src": "67.43.156.15",
        "usrName": "johndoe@example.com",
        "sender": "johndoe@mimecast.com",
        "subject": "RE: MSP Sales of Managed E2E",
        "action": "hold",
        "definition": "IP - 2 hits (Hold for Review / User Hold)",
        "hits": "2",
        "identifiers": '["targeted_threat_dictionary","internal_user_name"]',
        "taggedMalicious": "true",
        "taggedExternal": "false",
        "mimecastId": MTOKEN,
        "messageId": IP_MESSAGE,
        "externalId": "cd34-1",
        "collectorSource": "impersonation",
    }


@pytest.mark.parametrize("event", [ATTACHMENT_EVENT, IMPERSONATION_EVENT])
def test_json_is_the_record_plus_its_kind(event: Event) -> None:
    _, msg = _payload(event, format="json")
    assert (
        msg
        == orjson.dumps(event.data)[:-1] + b',"mimecast":{"kind":"' + event.kind.encode() + b'"}}'
    )
    assert orjson.loads(msg) == {**event.data, "mimecast": {"kind": event.kind}}


def test_json_of_a_record_that_has_a_mimecast_key_keeps_it() -> None:
    event = Event("s", "e-0", 0, {"mimecast": {"x": 1}}, "attachment")
    _, msg = _payload(event, format="json")
    assert orjson.loads(msg) == {"mimecast": {"x": 1, "kind": "attachment"}}


def test_a_kind_without_a_mapping_still_gets_cef() -> None:
    event = Event(
        "dlp", "e-0", 0, {"eventTime": "x", "action": "block", "senderAddress": "a@b"}, "dlp"
    )
    severity, msg = _payload(event, format="cef")
    cef = parse_cef(msg.decode())
    assert cef.header[2:5] == ["Dlp", "1.0", "dlp-unknown"]
    assert cef.extension["act"] == "block"
    assert cef.extension["suser"] == "a@b"
    assert severity == 5


@pytest.mark.parametrize(
    ("record", "risk"),
    [
        ({"result": "malicious", "actionTriggered": "sandbox, block"}, Risk.MALICIOUS_BLOCKED),
        ({"result": "Malicious", "actionTriggered": "user release, none"}, Risk.MALICIOUS_ALLOWED),
        ({"result": "safe", "actionTriggered": "block"}, Risk.CLEAN),
        ({"result": "timeout"}, Risk.UNKNOWN),
        ({}, Risk.UNKNOWN),
    ],
)
def test_attachment_risk(record: dict[str, Any], risk: Risk) -> None:
    assert classify_attachment(record) is risk


@pytest.mark.parametrize(
    ("record", "risk"),
    [
        ({"taggedMalicious": True, "action": "hold"}, Risk.MALICIOUS_BLOCKED),
        ({"taggedMalicious": True, "action": "Bounce"}, Risk.MALICIOUS_BLOCKED),
        ({"taggedMalicious": True, "action": "none"}, Risk.MALICIOUS_ALLOWED),
        ({"taggedMalicious": False, "action": "hold"}, Risk.CLEAN),
        ({"action": "hold"}, Risk.UNKNOWN),
    ],
)
def test_impersonation_risk(record: dict[str, Any], risk: Risk) -> None:
    assert classify_impersonation(record) is risk
