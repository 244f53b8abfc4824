"""NDJSON encoding: raw clicks byte-exact, envelopes in a fixed shape, one line per event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.events import Event
from collector.sinks.encoding import encode_ndjson

# Deliberately not in alphabetical order: raw output must keep Mimecast's order.
CLICK: dict[str, Any] = {
    "userEmailAddress": "anna.müller@example.com",
    "url": "https://example.org/a?b=1&c=\u2603",
    "subject": 'Re: "Rechnung"\nZeile 2\r\tTab 🚀',
    "date": "2024-11-17T17:02:30+0000",
    "adminOverride": "N/A",
    "actions": ["Allow", "Log"],
    "scanResult": None,
    "score": 0.25,
    "count": 3,
}


def event(data: dict[str, Any], n: int = 0, when: int = 1_731_862_950) -> Event:
    return Event(source="ttp", event_id=f"{n:032x}-0", time=when, data=data)


def test_raw_is_orjson_dumps_of_each_click_one_per_line() -> None:
    other = {"z": 1, "a": "ü"}

    encoded = encode_ndjson([event(CLICK), event(other, 1)], "raw")

    assert encoded == orjson.dumps(CLICK) + b"\n" + orjson.dumps(other) + b"\n"


def test_raw_keeps_key_order_non_ascii_and_escapes_newlines() -> None:
    encoded = encode_ndjson([event(CLICK)], "raw")

    assert encoded.count(b"\n") == 1
    assert encoded.endswith(b"\n")
    assert "anna.müller".encode() in encoded  # UTF-8 as is, not \\u escapes
    assert b"Zeile 2\\r\\tTab" in encoded
    parsed = orjson.loads(encoded)
    assert parsed == CLICK
    assert list(parsed) == list(CLICK)


def test_envelope_shape_and_order() -> None:
    encoded = encode_ndjson([event(CLICK, 7)], "envelope")

    assert encoded.count(b"\n") == 1
    parsed = orjson.loads(encoded)
    assert list(parsed) == ["event_id", "source", "kind", "time", "log"]
    assert parsed["kind"] == "url"
    assert parsed["event_id"] == f"{7:032x}-0"
    assert parsed["source"] == "ttp"
    assert parsed["time"] == "2024-11-17T17:02:30Z"
    assert list(parsed["log"]) == list(CLICK)
    assert parsed["log"] == CLICK
    # The click inside is byte-identical to its raw form.
    assert orjson.dumps(CLICK) in encoded


@pytest.mark.parametrize(
    "epoch",
    [0, 951_782_400, 1_731_862_950, 4_102_444_799],  # 1970, 2000-02-29, 2024, 2099-12-31
)
def test_envelope_time_is_rfc3339_utc(epoch: int) -> None:
    expected = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    parsed = orjson.loads(encode_ndjson([event({}, when=epoch)], "envelope"))

    assert parsed["time"] == expected
    assert datetime.fromisoformat(parsed["time"]).timestamp() == epoch


@pytest.mark.parametrize("fmt", ["raw", "envelope"])
def test_empty_page_is_empty_bytes(fmt: Any) -> None:
    assert encode_ndjson([], fmt) == b""


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        encode_ndjson([event(CLICK)], "xml")  # type: ignore[arg-type]


def test_unencodable_value_raises_orjson_error() -> None:
    with pytest.raises(orjson.JSONEncodeError):
        encode_ndjson([event({"bad": {1, 2}})], "raw")


# JSON as orjson.loads can return it: no lone surrogates, 64-bit integers, finite floats.
_text = st.text(st.characters(codec="utf-8"), max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=15,
)


# No deadline: a shared, loaded CI machine must not turn a slow example into a failure.
@settings(deadline=None)
@given(st.lists(st.dictionaries(_text, _json, max_size=6), max_size=5))
def test_any_clicks_give_one_line_each_that_reads_back(clicks: list[dict[str, Any]]) -> None:
    encoded = encode_ndjson([event(click, n) for n, click in enumerate(clicks)], "raw")

    lines = encoded.split(b"\n")
    assert lines[-1] == b""
    assert len(lines) - 1 == len(clicks)
    for line, click in zip(lines, clicks, strict=False):
        assert line == orjson.dumps(click)
        assert orjson.loads(line) == click
