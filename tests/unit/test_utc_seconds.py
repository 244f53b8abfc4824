"""utc_seconds: the per-hour cached timestamp every sink stamps on a click."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.events import _HOUR_TEXTS, LATEST_EPOCH, Event, utc_seconds
from collector.sinks.encoding import encode_ndjson
from collector.sinks.http.ecs import timestamp
from collector.sinks.syslog.leef import dev_time
from collector.sinks.syslog.rfc5424 import timestamp as rfc5424_timestamp


def strftime(epoch: int, form: str) -> str:
    return time.strftime(form, time.gmtime(epoch))


@settings(max_examples=2_000, deadline=None)
@given(st.integers(min_value=-86_400 * 366, max_value=LATEST_EPOCH))
def test_it_writes_what_strftime_writes_first_time_and_from_the_cache(epoch: int) -> None:
    _HOUR_TEXTS.clear()  # earlier examples may have filled the cache to its bound
    expected = strftime(epoch, "%Y-%m-%dT%H:%M:%S")
    assert utc_seconds(epoch) == expected
    assert epoch // 3600 in _HOUR_TEXTS
    assert utc_seconds(epoch) == expected  # from the cache now
    assert utc_seconds(epoch - epoch % 3600 + 3599) == strftime(
        epoch - epoch % 3600 + 3599, "%Y-%m-%dT%H:%M:%S"
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=LATEST_EPOCH))
def test_every_sink_format_keeps_its_text(epoch: int) -> None:
    assert timestamp(epoch) == strftime(epoch, "%Y-%m-%dT%H:%M:%S.000Z")
    assert rfc5424_timestamp(epoch) == strftime(epoch, "%Y-%m-%dT%H:%M:%SZ")
    assert dev_time(epoch) == strftime(epoch, "%Y-%m-%dT%H:%M:%S.000+0000")
    line = encode_ndjson([Event("s", "id-0", epoch, {"a": 1})], "envelope")
    assert f'"time":"{strftime(epoch, "%Y-%m-%dT%H:%M:%SZ")}"'.encode() in line
