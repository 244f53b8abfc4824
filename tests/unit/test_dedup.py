"""Dedup: the multiset logic, checked against a model of Mimecast with hypothesis."""

from __future__ import annotations

from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.checkpoint import Checkpoint, Window, prune
from collector.dedup import Admission, admit_page
from collector.events import content_hash, format_mimecast_date
from collector.window import slice_range


def click(date: int, user: str = "a", url: str = "u") -> dict[str, object]:
    return {"userEmailAddress": user, "url": url, "date": format_mimecast_date(date)}


def canon(data: object) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def commit(admission: Admission, window: Window, delivered: dict[int, dict[str, int]]) -> None:
    """Record an acknowledged page with the checkpoint's own transition (pruning nothing)."""
    checkpoint = Checkpoint("s", target=window.end, windows=[window], delivered=delivered)
    checkpoint.record_page(window, admission.progress, "more", overlap_secs=10**9)


def admit_and_commit(
    clicks: list[dict[str, object]], window: Window, delivered: dict[int, dict[str, int]]
):  # type: ignore[no-untyped-def]
    result = admit_page(clicks, window, delivered, "s")
    commit(result, window, delivered)
    return result


def test_admission_changes_nothing_until_committed() -> None:
    window = Window(100, 200)
    delivered: dict[int, dict[str, int]] = {}
    result = admit_page([click(150), click(150)], window, delivered, "s")
    assert len(result.events) == 2
    assert delivered == {} and window.frontier == 100 and window.pass_counts == {}
    commit(result, window, delivered)
    assert window.frontier == 150 and delivered[150] == {content_hash(click(150)): 2}


def test_identical_clicks_in_one_page_are_both_delivered_with_distinct_ids() -> None:
    window = Window(100, 200)
    delivered: dict[int, dict[str, int]] = {}
    result = admit_and_commit([click(150), click(150)], window, delivered)
    assert len(result.events) == 2
    digest = content_hash(click(150))
    assert [e.event_id for e in result.events] == [f"{digest}-0", f"{digest}-1"]
    assert delivered[150] == {digest: 2}


def test_reread_is_absorbed_and_a_late_third_copy_gets_the_next_id() -> None:
    delivered: dict[int, dict[str, int]] = {}
    admit_and_commit([click(150), click(150)], Window(100, 200), delivered)
    # Next window overlaps second 150, which now holds a third identical copy.
    result = admit_and_commit([click(150), click(150), click(150)], Window(150, 300), delivered)
    digest = content_hash(click(150))
    assert [e.event_id for e in result.events] == [f"{digest}-2"]
    assert result.duplicates == 2


def test_copies_split_across_pages_are_counted_across_pages() -> None:
    delivered: dict[int, dict[str, int]] = {}
    window = Window(100, 200)
    first = admit_and_commit([click(120), click(150)], window, delivered)
    second = admit_and_commit([click(150), click(160)], window, delivered)
    assert len(first.events) == 2 and len(second.events) == 2
    assert second.events[0].event_id.endswith("-1")


def test_pass_counts_only_keep_the_frontier_second() -> None:
    window = Window(100, 200)
    admit_and_commit([click(120), click(150, "b"), click(150, "c")], window, {})
    assert window.frontier == 150
    assert len(window.pass_counts) == 2


def test_a_slice_leaves_the_next_slices_clicks_alone() -> None:
    window = Window(100, 200, keep_until=200)
    result = admit_and_commit([click(199), click(200), click(200)], window, {})
    assert [e.time for e in result.events] == [199]
    assert result.foreign == 2 and window.frontier == 199


def test_undated_and_malformed_entries() -> None:
    window = Window(100, 200)
    result = admit_and_commit([{"url": "x"}, "not-an-object", click(130)], window, {})  # type: ignore[list-item]
    assert result.undated == 1 and result.malformed == 1
    assert [e.time for e in result.events] == [100, 130]


def test_prune_forgets_only_the_given_seconds() -> None:
    delivered = {10: {"a": 1}, 20: {"b": 1}, 30: {"c": 2}}
    prune(delivered, 30, 20)
    assert delivered == {10: {"a": 1}, 30: {"c": 2}}
    prune(delivered, 30)
    assert delivered == {30: {"c": 2}}


# A model of the API: clicks are (publish time, click); a query at time T over
# [start, end] returns, oldest first, the clicks published by T in that range.
Click = tuple[int, int, str]  # (published_at, date, user)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Click], list[int], int, int, list[bool], list[int]]:
    count = draw(st.integers(1, 60))
    events: list[Click] = []
    for _ in range(count):
        date = draw(st.integers(0, 40))
        delay = draw(st.sampled_from([0, 0, 0, 1, 3, 8]))
        user = draw(st.sampled_from(["a", "b"]))  # few users: many byte-identical clicks
        events.append((date + delay, date, user))
    ends = sorted(draw(st.lists(st.integers(0, 60), min_size=1, max_size=6)))
    overlap = draw(st.integers(8, 12))  # larger than the worst publication delay
    page_size = draw(st.integers(1, 5))
    crashes = draw(st.lists(st.booleans(), min_size=40, max_size=40))
    choices = draw(st.lists(st.integers(0, 7), min_size=40, max_size=40))
    return events, ends, overlap, page_size, crashes, choices


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_click_exactly_once_across_passes_slices_crashes_and_late_arrivals(
    scenario: tuple[list[Click], list[int], int, int, list[bool], list[int]],
) -> None:
    events, ends, overlap, page_size, crashes, choices = scenario
    checkpoint = Checkpoint("s")
    delivered_ids: list[str] = []
    delivered_clicks: Counter[bytes] = Counter()
    crash_iter = iter(crashes * 20)
    choice_iter = iter(choices * 20)
    for end in ends:
        start = 0 if checkpoint.cursor is None else max(0, checkpoint.cursor - overlap)
        if checkpoint.cursor is not None and end <= checkpoint.cursor:
            continue
        # Some passes are read as slices, interleaved as concurrent tasks would be.
        slices = 1 + next(choice_iter) % 3
        checkpoint.windows = slice_range(start, end, slices)
        checkpoint.target, checkpoint.pass_start = end, start

        def snapshot(window: Window, at: int = end) -> list[tuple[int, str]]:
            # What Mimecast returns for this window's query, oldest first.
            found = [(d, u) for (p, d, u) in events if p <= at and window.start <= d <= window.end]
            return sorted(found, key=lambda item: item[0])

        while checkpoint.windows:
            window = checkpoint.windows[next(choice_iter) % len(checkpoint.windows)]
            offset = int(window.page_token or 0)
            result_set = snapshot(window)
            chunk = result_set[offset : offset + page_size]
            result = admit_page([click(d, u) for d, u in chunk], window, checkpoint.delivered, "s")
            for event in result.events:
                delivered_ids.append(event.event_id)
                delivered_clicks[canon(event.data)] += 1
            commit(result, window, checkpoint.delivered)
            prune(checkpoint.delivered, min(window.frontier, end - overlap), window.start)
            offset += len(chunk)
            if offset >= len(result_set) or not chunk:
                checkpoint.windows.remove(window)
            else:
                window.page_token = str(offset)
            if next(crash_iter):
                # A crash after the checkpoint was saved: reload it from its bytes.
                checkpoint = Checkpoint.from_json(checkpoint.to_json(), "s")
        checkpoint.cursor = end
        prune(checkpoint.delivered, end - overlap)
        checkpoint.target = checkpoint.pass_start = None
    last = ends[-1]
    expected = Counter(canon(click(d, u)) for (p, d, u) in events if p <= last and d <= last)
    # Publication delays stay below the overlap, so every published click must be there.
    assert delivered_clicks == expected
    assert len(set(delivered_ids)) == len(delivered_ids)


def test_dates_outside_the_pass_are_delivered_but_never_move_the_frontier() -> None:
    """D2/D4: a click dated 2099 (or before the window) is counted, delivered, and timed
    at the frontier; a slice passes clicks of a later slice on, but not those past the
    whole pass, which no slice would ever deliver."""
    first, second = slice_range(100, 300, 2)
    future, old = click(4_070_908_800, "f"), click(50, "o")
    page = [click(120), future, old, click(250, "next"), click(130)]
    result = admit_page(page, first, {}, "s", horizon=300)
    assert result.out_of_window == 2 and result.foreign == 1
    assert result.frontier == 130
    assert [event.data["userEmailAddress"] for event in result.events] == ["a", "f", "o", "a"]
    assert [event.time for event in result.events] == [120, 120, 120, 130]
    assert admit_page([click(250, "next")], second, {}, "s", horizon=300).foreign == 0


def test_dates_that_cannot_be_written_back_are_undated() -> None:
    """D11: an offset that carries a date past 9999 used to crash the checkpoint write."""
    from collector.events import parse_mimecast_date

    odd = {"url": "u", "date": "9999-12-31T23:59:59-2359"}
    result = admit_page([click(120), odd], Window(100, 200), {}, "s")
    assert result.undated == 1 and result.frontier == 120
    for bad in ("9999-12-31T23:59:59-2359", "0001-01-01T00:00:00+0000", "nonsense"):
        try:
            parse_mimecast_date(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_the_fast_date_path_agrees_with_the_general_parser() -> None:
    """Mimecast's own form is parsed from a per-hour cache; any other offset, and
    every malformed minute or second, goes through the general parser."""
    import random

    from collector.events import _HOURS, parse_mimecast_date

    rng = random.Random(5)
    for _ in range(20_000):
        epoch = rng.randint(0, 253_402_300_799)
        text = format_mimecast_date(epoch)
        assert parse_mimecast_date(text) == epoch
        assert parse_mimecast_date(text) == epoch  # a second time, from the cache
    assert parse_mimecast_date("2024-11-17T18:02:30+01:00") == parse_mimecast_date(
        "2024-11-17T17:02:30+0000"
    )
    _HOURS.clear()  # the loop above may have filled the cache to its bound
    parse_mimecast_date("2024-11-17T17:00:00+0000")  # the hour is cached from here on
    assert "2024-11-17T17:" in _HOURS
    for bad in (
        "2024-11-17T17:02:60+0000",
        "2024-11-17T17:60:00+0000",
        "2024-11-17T17:02:6x+0000",
        "2024-11-17T17:x2:00+0000",
        "2024-11-17T17:02:0\u0663+0000",
        "2024-11-17T17:0\u0663:00+0000",
        "2024-11-17T17:02",
    ):
        try:
            parse_mimecast_date(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_event_ids_and_bytes_never_change_across_versions() -> None:
    """A re-read after an upgrade must give every click the id it had before, or an
    index keyed by event id (Elasticsearch ``_id``) doubles it. This id was computed by
    the release before the hot-path work of issue 13; it is pinned here."""
    record = {
        "date": "2024-11-17T17:02:30+0000",
        "url": "https://example.com/a?b=1",
        "userEmailAddress": "alice@example.com",
        "action": "Block",
        "scanResult": "malicious",
        "tagMap": {"UrlScan": {"Category": ["phish"]}},
        "adminOverride": "N/A",
        "route": "inbound",
        "ttpDefinition": "Default",
        "userOverride": "None",
        "category": "Phishing & Fraud",
        "emailPartsDescription": ["Body"],
        "messageId": "<m1@example.com>",
        "sendingIp": "192.0.2.7",
        "subject": "Ünïcode ✓",
        "creationMethod": "User Click",
        "fromUserEmailAddress": "bob@example.net",
        "userAwarenessAction": "NA",
    }
    epoch = 1731862950
    (first, second) = admit_page(
        [record, dict(record)], Window(epoch - 60, epoch + 60), {}, "s"
    ).events
    assert first.event_id == "ddf4b1c9c37d58ef8ae661e8c9ee73d9-0"
    assert second.event_id == "ddf4b1c9c37d58ef8ae661e8c9ee73d9-1"
    assert first.event_id.partition("-")[0] == content_hash(record)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from("0123456789" * 3 + "x \u0663\u00b2\uff11"), min_size=4, max_size=4),
    st.sampled_from("::::.x"),
)
def test_the_cached_hour_agrees_with_the_general_parser_on_any_minutes(
    digits: list[str], separator: str
) -> None:
    """Whatever stands after a cached hour, the fast path says what fromisoformat says."""
    from collector.events import _HOURS, _parse_any_offset, parse_mimecast_date

    _HOURS.clear()  # another test may have filled the cache to its bound
    parse_mimecast_date("2024-11-17T17:00:00+0000")  # caches the hour
    text = "2024-11-17T17:{}{}{}{}{}+0000".format(*digits[:2], separator, *digits[2:])
    try:
        expected: int | None = _parse_any_offset(text)
    except ValueError:
        expected = None
    try:
        got: int | None = parse_mimecast_date(text)
    except ValueError:
        got = None
    assert got == expected, text
