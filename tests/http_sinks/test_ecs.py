"""format = "ecs" against the values of Elastic's own pipeline tests.

The inputs are the click logs of elastic/integrations
``packages/mimecast/data_stream/ttp_url_logs/_dev/test/pipeline/test-ttp-url-logs.log``
and the expected documents those of ``test-ttp-url-logs.log-expected.json`` (ECS 8.11
version of the pipeline; its test config sets the ``preserve_original_event`` tag).
The one input line that is not a click (an empty API page) is dropped by their
pipeline and never reaches a sink here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.events import Event, parse_mimecast_date
from collector.sinks.http.ecs import general_uri_parts, is_ip, to_ecs, uri_parts

CLICKS = [
    '{"userEmailAddress": "johndoe@example.com", "fromUserEmailAddress": "bestbuyinfo@emailinfo.bestbuy.com", "url": "https://click.emailinfo2.bestbuy.com/?qs=5c47c91aeb44fac857370c26ddf09c3f484431e1ccfa636fc64e26e40dd87efdb43d4deeeab8c2e727ebfa079e8cf1404c095c511152e4b09e7d00bf8377f32d", "ttpDefinition": "Inbound URL \'Aggressive\'", "subject": "Today only: Save $100 on Tineco Pure One S12 smart cordless stick vacuum, plus more.", "action": "allow", "adminOverride": "N/A", "userOverride": "None", "scanResult": "clean", "category": "Business", "sendingIp": "67.43.156.15", "userAwarenessAction": "Continue", "date": "2021-10-16T14:45:34+0000", "actions": "Allow", "route": "inbound", "creationMethod": "User Click", "emailPartsDescription": [ "Body" ], "messageId": "<31b43097-94f9-4f64-8e37-8ad23650c692@ind1s01mta1292.xt.local>" }',
    '{"userEmailAddress":"johndoe@example.com","fromUserEmailAddress":"noreply@r.livingsocial.com","url":"https:\\/\\/www.livingsocial.com\\/browse\\/?locale=en_US&topCategory=all-deals&p=14&utm_source=newsletter_im&utm_medium=email&t_division=boston&date=20211016&uu=1bea09ca-8a29-11e9-b7f7-0242ac120002&CID=US&tx=0&s=body&c=banner&d=dynamic-banner-4&utm_campaign=194d1bb8-dc74-4bed-b470-0154e934bfb3_0_20211016_treatment0","ttpDefinition":"Inbound URL \'Aggressive\'","subject":"Jump Pass + Mega Sale","action":"allow","adminOverride":"N\\/A","userOverride":"None","scanResult":"clean","category":"Business","sendingIp":"67.43.156.15","userAwarenessAction":"Continue","date":"2021-10-16T14:07:38+0000","actions":"Allow","route":"inbound","creationMethod":"User Click","emailPartsDescription":["Body"],"messageId":"<803962655.28921622.1634393221485.JavaMail.rocketman@push-dispatcher65.sac1>"}',
    '{"userEmailAddress":"johndoe@example.com","fromUserEmailAddress":"nflshop.com@eml.nflshop.com","url":"https:\\/\\/www.nflshop.com\\/how-can-i-contact-customer-service\\/ch-2244","ttpDefinition":"Inbound URL \'Aggressive\'","subject":"25% Off Tees to Give During Early Gifting Sale","action":"allow","adminOverride":"N\\/A","userOverride":"None","scanResult":"clean","category":"Fashion & Beauty","sendingIp":"67.43.156.15","userAwarenessAction":"Continue","date":"2021-10-16T13:31:56+0000","actions":"Allow","route":"inbound","creationMethod":"User Click","emailPartsDescription":["Body"],"messageId":"<28ad4be3-2d3a-491d-9aa7-a5a907123da1@ind1s01mta1115.xt.local>"}',
    '{"action":"warn","actions":"None","adminOverride":"N/A","category":"Dangerous file extension","creationMethod":"Entry Scan","date":"2023-01-04T10:32:12+0000","emailPartsDescription":["Body"],"fromUserEmailAddress":"user.name@example.com","messageId":"\\\\u003eedfg345pf45=gskjlgteriugdfbvjserlekjgiov89@mail.gmail.com\\\\u003e","route":"internal","scanResult":"malicious","sendingIp":"Internal IP","subject":"Re: totally not a scam email","ttpDefinition":"Default Internal URL Protect Definition","url":"https://updates.example.com/","userAwarenessAction":"NA","userEmailAddress":"other.user@this.company.com","userOverride":"None"}',
    '{"userEmailAddress":"dl-ga-all_enron_worldwide1@demo-int.elastic.mime-api.com","fromUserEmailAddress":"coo.jeff@demo-int.elastic.mime-api.com","url":"http://www.enron.com/corp/pressroom/releases/2002/ene/012902Release.html","ttpDefinition":"Default Internal URL Protect Definition","subject":"Management Changes","action":"warn","adminOverride":"N/A","userOverride":"None","scanResult":"malicious","category":"Compromised","sendingIp":"Internal IP","userAwarenessAction":"N/A","date":"2024-11-17T17:02:30+0000","actions":"None","route":"internal","creationMethod":"Entry Scan","emailPartsDescription":["Body"],"messageId":"<871dda3d6bf5107e-360815@hapi.b41.one>","tagMap":{"UrlReputationScan":{"Status":["CustomerAll","VerdictBlock"],"Type":["Compromised"],"UrlBlock":["ORIGINAL:http://www.enron.com/corp/pressroom/releases/2002/ene/012902Release.html (Blocked as COMPROMISED)"],"Url":["http://www.enron.com/corp/pressroom/releases/2002/ene/012902Release.html"]}}}',
    '{"userEmailAddress":"jhartso@demo-int.elastic.mime-api.com","fromUserEmailAddress":"terrym@concept-variety.b41.one","url":"https://oneclient.sfx.ms/Win/Preview/OneDriveSetup.exe","ttpDefinition":"Default Inbound URL Protect Definition","subject":"WP-02 Data Response","action":"warn","adminOverride":"N/A","userOverride":"None","scanResult":"malicious","category":"Dangerous file extension","sendingIp":"81.2.69.144","userAwarenessAction":"N/A","date":"2024-11-14T19:44:02+0000","actions":"Block","route":"inbound","creationMethod":"Entry Scan","emailPartsDescription":["Attachment"],"messageId":"<29b951d7ab596678-115297@hapi.b41.one>","tagMap":{"DangerousFileExt":{"Status":["CustomerSpecific","VerdictBlock"],"Inspect:FileExts":["[exe]"],"Inspect:MimeTypes":["[]"],"ContentCheck:DangerousMimetypesUrlFileDownload":["application/x-msdownload"],"ContentCheck:ContentScannersBlocked":[".exe"],"ContentCheck:DangerousExtsUrlFileDownload":["dll"]}}}',
    '{"userEmailAddress":"vince.j.kaminski@demo-int.elastic.mime-api.com","fromUserEmailAddress":"gregoryhunt@thejunglegroup.b41.one","url":"https://oneclient.sfx.ms/Win/Preview/OneDriveSetup.exe","ttpDefinition":"Default Inbound URL Protect Definition","subject":"Re","action":"warn","adminOverride":"N/A","userOverride":"None","scanResult":"malicious","category":"Dangerous file extension","sendingIp":"81.2.69.144","userAwarenessAction":"N/A","date":"2024-11-13T13:05:03+0000","actions":"Block","route":"inbound","creationMethod":"Entry Scan","emailPartsDescription":["Attachment"],"messageId":"<cc11f61d32d018de-152846@hapi.b41.one>","tagMap":{"DangerousFileExt":{"Status":["CustomerSpecific","VerdictBlock"],"Inspect:FileExts":["[exe]"],"Inspect:MimeTypes":["[]"],"ContentCheck:DangerousMimetypesUrlFileDownload":["application/x-msdownload"],"ContentCheck:DangerousExtsUrlFileDownload":["dll"],"ContentCheck:ContentScannersBlocked":[".exe"]}}}',
    '{"userEmailAddress":"mike.a.roberts@demo-int.elastic.mime-api.com","fromUserEmailAddress":"gregoryhunt@thejunglegroup.b41.one","url":"https://oneclient.sfx.ms/Win/Preview/OneDriveSetup.exe","ttpDefinition":"Default Inbound URL Protect Definition","subject":"Re","action":"warn","adminOverride":"N/A","userOverride":"None","scanResult":"malicious","category":"Dangerous file extension","sendingIp":"81.2.69.144","userAwarenessAction":"N/A","date":"2024-11-13T13:03:11+0000","actions":"Block","route":"inbound","creationMethod":"Entry Scan","emailPartsDescription":["Attachment"],"messageId":"<cc11f61d32d018de-152846@hapi.b41.one>","tagMap":{"DangerousFileExt":{"Status":["CustomerSpecific","VerdictBlock"],"Inspect:FileExts":["[exe]"],"Inspect:MimeTypes":["[]"],"ContentCheck:DangerousMimetypesUrlFileDownload":["application/x-msdownload"],"ContentCheck:DangerousExtsUrlFileDownload":["dll"],"ContentCheck:ContentScannersBlocked":[".exe"]}}}',
]

AGGRESSIVE = "Inbound URL 'Aggressive'"
INTERNAL = "Default Internal URL Protect Definition"
INBOUND = "Default Inbound URL Protect Definition"
LIVING = (
    "locale=en_US&topCategory=all-deals&p=14&utm_source=newsletter_im&utm_medium=email"
    "&t_division=boston&date=20211016&uu=1bea09ca-8a29-11e9-b7f7-0242ac120002&CID=US&tx=0"
    "&s=body&c=banner&d=dynamic-banner-4"
    "&utm_campaign=194d1bb8-dc74-4bed-b470-0154e934bfb3_0_20211016_treatment0"
)
BESTBUY_QS = (
    "qs=5c47c91aeb44fac857370c26ddf09c3f484431e1ccfa636fc64e26e40dd87efdb43d4deeeab8c2e727ebfa"
    "079e8cf1404c095c511152e4b09e7d00bf8377f32d"
)
ENRON = "http://www.enron.com/corp/pressroom/releases/2002/ene/012902Release.html"
ONEDRIVE = "https://oneclient.sfx.ms/Win/Preview/OneDriveSetup.exe"
DANGEROUS_TAGS = {
    "DangerousFileExt": {
        "ContentCheck_ContentScannersBlocked": [".exe"],
        "ContentCheck_DangerousExtsUrlFileDownload": ["dll"],
        "ContentCheck_DangerousMimetypesUrlFileDownload": ["application/x-msdownload"],
        "Inspect_FileExts": ["[exe]"],
        "Inspect_MimeTypes": ["[]"],
        "Status": ["CustomerSpecific", "VerdictBlock"],
    }
}


def _clean(category: str) -> dict[str, Any]:
    return {
        "action": "allow",
        "actions": "Allow",
        "adminOverride": "N/A",
        "category": category,
        "creationMethod": "User Click",
        "emailPartsDescription": ["Body"],
        "scanResult": "clean",
        "userOverride": "None",
    }


def _expected(
    when: str,
    *,
    direction: str,
    sender: str,
    recipient: str,
    message_id: str,
    subject: str,
    action: str,
    rule: str,
    mimecast: dict[str, Any],
    url: dict[str, Any],
    ip: str | None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": when.replace("+0000", ".000Z"),
        "ecs": {"version": "8.11.0"},
        "email": {
            "direction": direction,
            "from": {"address": [sender]},
            "message_id": message_id,
            "subject": subject,
            "to": {"address": [recipient]},
        },
        "event": {"action": action, "category": ["email"], "created": when},
        "mimecast": mimecast,
        "related": {"user": [sender, recipient]},
        "rule": {"name": rule},
        "tags": ["preserve_original_event"],
        "url": url,
        "user": {"email": [recipient]},
    }
    if ip is not None:
        doc["related"]["ip"] = [ip]
        doc["source"] = {"ip": ip}
    return doc


def _dangerous(when: str, sender: str, recipient: str, message_id: str, subject: str) -> Any:
    return _expected(
        when,
        direction="inbound",
        sender=sender,
        recipient=recipient,
        message_id=message_id,
        subject=subject,
        action="N/A",
        rule=INBOUND,
        mimecast={
            "action": "warn",
            "actions": "Block",
            "adminOverride": "N/A",
            "category": "Dangerous file extension",
            "creationMethod": "Entry Scan",
            "emailPartsDescription": ["Attachment"],
            "scanResult": "malicious",
            "tagMap": DANGEROUS_TAGS,
            "userOverride": "None",
        },
        url={
            "domain": "oneclient.sfx.ms",
            "extension": "exe",
            "original": ONEDRIVE,
            "path": "/Win/Preview/OneDriveSetup.exe",
            "scheme": "https",
        },
        ip="81.2.69.144",
    )


EXPECTED = [
    _expected(
        "2021-10-16T14:45:34+0000",
        direction="inbound",
        sender="bestbuyinfo@emailinfo.bestbuy.com",
        recipient="johndoe@example.com",
        message_id="<31b43097-94f9-4f64-8e37-8ad23650c692@ind1s01mta1292.xt.local>",
        subject="Today only: Save $100 on Tineco Pure One S12 smart cordless stick vacuum, "
        "plus more.",
        action="Continue",
        rule=AGGRESSIVE,
        mimecast=_clean("Business"),
        url={
            "domain": "click.emailinfo2.bestbuy.com",
            "original": f"https://click.emailinfo2.bestbuy.com/?{BESTBUY_QS}",
            "path": "/",
            "query": BESTBUY_QS,
            "scheme": "https",
        },
        ip="67.43.156.15",
    ),
    _expected(
        "2021-10-16T14:07:38+0000",
        direction="inbound",
        sender="noreply@r.livingsocial.com",
        recipient="johndoe@example.com",
        message_id="<803962655.28921622.1634393221485.JavaMail.rocketman@push-dispatcher65.sac1>",
        subject="Jump Pass + Mega Sale",
        action="Continue",
        rule=AGGRESSIVE,
        mimecast=_clean("Business"),
        url={
            "domain": "www.livingsocial.com",
            "original": f"https://www.livingsocial.com/browse/?{LIVING}",
            "path": "/browse/",
            "query": LIVING,
            "scheme": "https",
        },
        ip="67.43.156.15",
    ),
    _expected(
        "2021-10-16T13:31:56+0000",
        direction="inbound",
        sender="nflshop.com@eml.nflshop.com",
        recipient="johndoe@example.com",
        message_id="<28ad4be3-2d3a-491d-9aa7-a5a907123da1@ind1s01mta1115.xt.local>",
        subject="25% Off Tees to Give During Early Gifting Sale",
        action="Continue",
        rule=AGGRESSIVE,
        mimecast=_clean("Fashion & Beauty"),
        url={
            "domain": "www.nflshop.com",
            "original": "https://www.nflshop.com/how-can-i-contact-customer-service/ch-2244",
            "path": "/how-can-i-contact-customer-service/ch-2244",
            "scheme": "https",
        },
        ip="67.43.156.15",
    ),
    _expected(
        "2023-01-04T10:32:12+0000",
        direction="internal",
        sender="user.name@example.com",
        recipient="other.user@this.company.com",
        message_id=r"\u003eedfg345pf45=gskjlgteriugdfbvjserlekjgiov89@mail.gmail.com\u003e",
        subject="Re: totally not a scam email",
        action="NA",
        rule=INTERNAL,
        mimecast={
            "action": "warn",
            "actions": "None",
            "adminOverride": "N/A",
            "category": "Dangerous file extension",
            "creationMethod": "Entry Scan",
            "emailPartsDescription": ["Body"],
            "scanResult": "malicious",
            "sendingIp": "Internal IP",
            "userOverride": "None",
        },
        url={
            "domain": "updates.example.com",
            "original": "https://updates.example.com/",
            "path": "/",
            "scheme": "https",
        },
        ip=None,
    ),
    _expected(
        "2024-11-17T17:02:30+0000",
        direction="internal",
        sender="coo.jeff@demo-int.elastic.mime-api.com",
        recipient="dl-ga-all_enron_worldwide1@demo-int.elastic.mime-api.com",
        message_id="<871dda3d6bf5107e-360815@hapi.b41.one>",
        subject="Management Changes",
        action="N/A",
        rule=INTERNAL,
        mimecast={
            "action": "warn",
            "actions": "None",
            "adminOverride": "N/A",
            "category": "Compromised",
            "creationMethod": "Entry Scan",
            "emailPartsDescription": ["Body"],
            "scanResult": "malicious",
            "sendingIp": "Internal IP",
            "tagMap": {
                "UrlReputationScan": {
                    "Status": ["CustomerAll", "VerdictBlock"],
                    "Type": ["Compromised"],
                    "Url": [ENRON],
                    "UrlBlock": [f"ORIGINAL:{ENRON} (Blocked as COMPROMISED)"],
                }
            },
            "userOverride": "None",
        },
        url={
            "domain": "www.enron.com",
            "extension": "html",
            "original": ENRON,
            "path": "/corp/pressroom/releases/2002/ene/012902Release.html",
            "scheme": "http",
        },
        ip=None,
    ),
    _dangerous(
        "2024-11-14T19:44:02+0000",
        "terrym@concept-variety.b41.one",
        "jhartso@demo-int.elastic.mime-api.com",
        "<29b951d7ab596678-115297@hapi.b41.one>",
        "WP-02 Data Response",
    ),
    _dangerous(
        "2024-11-13T13:05:03+0000",
        "gregoryhunt@thejunglegroup.b41.one",
        "vince.j.kaminski@demo-int.elastic.mime-api.com",
        "<cc11f61d32d018de-152846@hapi.b41.one>",
        "Re",
    ),
    _dangerous(
        "2024-11-13T13:03:11+0000",
        "gregoryhunt@thejunglegroup.b41.one",
        "mike.a.roberts@demo-int.elastic.mime-api.com",
        "<cc11f61d32d018de-152846@hapi.b41.one>",
        "Re",
    ),
]

# What a document of ours has beyond the pipeline's output: Elastic Agent and the
# integration's index template add the same values to theirs.
ADDED = {"module": "mimecast", "dataset": "mimecast.ttp_url_logs"}


def _event(raw: str) -> Event:
    data = orjson.loads(raw)
    return Event(source="ttp", event_id="id-0", time=parse_mimecast_date(data["date"]), data=data)


@pytest.mark.parametrize(("raw", "expected"), list(zip(CLICKS, EXPECTED, strict=True)))
def test_ecs_document_matches_elastics_pipeline_output(raw: str, expected: Any) -> None:
    doc = to_ecs(_event(raw), preserve_original=True)
    original = doc["event"].pop("original")
    for key, value in ADDED.items():
        assert doc["event"].pop(key) == value
    assert orjson.loads(original) == orjson.loads(raw)
    assert doc == expected


def test_without_preserve_original_there_is_no_original_and_no_tag() -> None:
    doc = to_ecs(_event(CLICKS[0]))
    assert "original" not in doc["event"]
    assert "tags" not in doc


def test_data_stream_fields_are_written_when_given() -> None:
    stream = {"type": "logs", "dataset": "mimecast.ttp_url_logs", "namespace": "prod"}
    assert to_ecs(_event(CLICKS[0]), data_stream=stream)["data_stream"] == stream


def test_unknown_fields_stay_under_mimecast_and_nulls_are_left_out() -> None:
    click = {**orjson.loads(CLICKS[0]), "advancedPhishingResult": {"score": 3}, "subject": None}
    doc = to_ecs(Event("ttp", "id", 0, click))
    assert doc["mimecast"]["advancedPhishingResult"] == {"score": 3}
    assert "subject" not in doc["email"]
    assert "subject" not in doc["mimecast"]


def test_ipv6_sending_ip_is_a_source_ip() -> None:
    doc = to_ecs(Event("ttp", "id", 0, {"date": "x", "sendingIp": "2001:db8::1"}))
    assert doc["source"] == {"ip": "2001:db8::1"}
    assert doc["related"]["ip"] == ["2001:db8::1"]
    assert "mimecast" not in doc


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        # Elasticsearch's own uri_parts processor test value.
        (
            "https://user:pw@testing.google.com:8080/foo/bar.txt?foo1=bar1&foo2=bar2#anchorVal",
            {
                "domain": "testing.google.com",
                "fragment": "anchorVal",
                "path": "/foo/bar.txt",
                "extension": "txt",
                "port": 8080,
                "query": "foo1=bar1&foo2=bar2",
                "scheme": "https",
                "user_info": "user:pw",
                "username": "user",
                "password": "pw",
            },
        ),
        # java.net.URI decodes the path and query.
        (
            "https://a.example/x%20y?q=%27s",
            {"domain": "a.example", "path": "/x y", "query": "q='s", "scheme": "https"},
        ),
        # A dot in a directory is no extension.
        (
            "http://a.example/v1.2/file",
            {"domain": "a.example", "path": "/v1.2/file", "scheme": "http"},
        ),
        # No path at all: an empty path, as java.net.URI reports it.
        ("https://a.example", {"domain": "a.example", "path": "", "scheme": "https"}),
        # An underscore is not a host name for java.net.URI: no domain.
        ("https://bad_host.example/p", {"path": "/p", "scheme": "https"}),
        # A space makes java.net.URI fail; java.net.URL takes it, undecoded.
        (
            "https://a.example/a b%20c",
            {"domain": "a.example", "path": "/a b%20c", "scheme": "https"},
        ),
        # Opaque: only the scheme.
        ("mailto:someone@example.com", {"scheme": "mailto"}),
        # Neither parser takes it.
        ("hxxp://evil example/", {}),
    ],
)
def test_uri_parts_like_elasticsearch(url: str, parts: dict[str, Any]) -> None:
    assert uri_parts(url) == parts


@pytest.mark.parametrize(
    ("text", "ip"),
    [("67.43.156.15", True), ("2001:db8::1", True), ("Internal IP", False), ("300.1.1.1", False)],
)
def test_is_ip(text: str, ip: bool) -> None:
    assert is_ip(text) is ip


_IP_LIKE = st.one_of(
    st.ip_addresses().map(str),
    st.lists(
        st.one_of(st.integers(0, 300).map(str), st.sampled_from(["01", "00", "1٣", "", " 1"])),
        min_size=3,
        max_size=5,
    ).map(".".join),
    st.text(alphabet="0123456789.:abcdef\n ", max_size=20),
)


@settings(max_examples=500, deadline=None)
@given(_IP_LIKE)
def test_is_ip_agrees_with_ipaddress(text: str) -> None:
    """The dotted-quad fast path must judge exactly as ipaddress does (leading zeros,
    non-ASCII digits, a trailing newline, values over 255)."""
    try:
        ipaddress.ip_address(text)
        expected = True
    except ValueError:
        expected = False
    assert is_ip(text) is expected


# URLs near the fast path's edges: every character class it allows and several it must
# leave to the general path ('#', '[', '_', user info, a port, upper case, non-ASCII,
# spaces, stray or valid '%' escapes).
_URL_LIKE = st.builds(
    "{}{}{}{}".format,
    st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", "mailto:", "https:", ""]),
    st.text(alphabet="ab9.-_@:[]%é", max_size=14),
    st.text(alphabet="/a.b%2Fe9~!$&'()*+,;=:@-_é #[", max_size=16),
    st.sampled_from(["", "?", "?q=1&r=%41", "?x=%zz", "?a/b?c", "#f", "?q#f"]),
)


@settings(max_examples=1500, deadline=None)
@given(_URL_LIKE)
def test_uri_parts_fast_path_agrees_with_the_general_path(url: str) -> None:
    """The one-regex path for common http(s) links must split exactly as the general
    path does, which the Elasticsearch-derived cases above pin."""
    assert uri_parts(url) == general_uri_parts(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.org/caf%C3%A9%20menu.pdf?utm_source=email&cid=1",
        "http://10.0.0.300/a.b/c",
        "https://-bad-.example/x",
        "https://a.example",
        "https://a.example?",
        "https://a.example/dir.d/file",
        "https://a.example/%2Fsecret.tar.gz?%41=%42",
        "https://a.example/100%25/x%zz",
    ],
)
def test_uri_parts_fast_path_examples(url: str) -> None:
    assert uri_parts(url) == general_uri_parts(url)
