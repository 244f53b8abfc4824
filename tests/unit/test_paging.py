"""PageGuard: when a window has been read, whatever the pages say (collector.paging)."""

from __future__ import annotations

from typing import Any

import pytest

from collector.errors import PageTokenRejectedError, PaginationLoopError
from collector.paging import PageGuard, Verdict


def clicks(*numbers: int, date: str = "2025-03-04T09:12:44+0000") -> list[dict[str, Any]]:
    return [{"url": f"https://x.example/{n}", "date": date} for n in numbers]


@pytest.mark.parametrize("next_token", [None, "sent", "fresh"])
def test_an_empty_page_is_the_last_whatever_next_says(next_token: str | None) -> None:
    guard = PageGuard()
    assert guard.judge("sent", [], next_token, "r") is Verdict.LAST
    assert guard.empty_with_next == (next_token is not None)


def test_no_next_is_the_last_and_a_fresh_next_goes_on() -> None:
    guard = PageGuard()
    assert guard.judge(None, clicks(1), "a", "r") is Verdict.MORE
    assert guard.judge("a", clicks(2), None, "r") is Verdict.LAST


def test_the_same_token_back_on_a_full_page_restarts_the_window() -> None:
    with pytest.raises(PageTokenRejectedError, match="same pageToken"):
        PageGuard().judge("a", clicks(1), "a", "r")


def test_a_token_cycle_ends_the_window() -> None:
    guard = PageGuard()
    assert guard.judge(None, clicks(1), "A", "r") is Verdict.MORE
    assert guard.judge("A", clicks(2), "B", "r") is Verdict.MORE
    assert guard.judge("B", clicks(3), "A", "r") is Verdict.LAST  # A was sent already


def test_a_cycle_back_to_the_first_page_delivers_nothing_twice() -> None:
    guard = PageGuard()
    assert guard.judge(None, clicks(1, 2), "T1", "r") is Verdict.MORE
    assert guard.judge("T1", clicks(3, 4), "T2", "r") is Verdict.MORE
    # The last page restarts the pass with a token for offset 0, never sent before:
    assert guard.judge("T2", clicks(5, 6), "T0", "r") is Verdict.MORE
    # ... whose page repeats page 1 and points at T1, which was sent.
    assert guard.judge("T0", clicks(1, 2), "T1", "r") is Verdict.REPEAT


def test_the_same_clicks_under_a_new_token_are_a_loop() -> None:
    guard = PageGuard()
    assert guard.judge(None, clicks(1, 2), "t1", "r") is Verdict.MORE
    assert guard.judge("t1", clicks(3, 4), "t2", "r") is Verdict.MORE
    with pytest.raises(PaginationLoopError, match=r"page 3 .* same clicks as page 1"):
        guard.judge("t2", clicks(1, 2), "t3", "r")


def test_pages_of_one_repeated_click_are_left_to_the_bound() -> None:
    # Identical real clicks exist: a page of copies of one click proves nothing.
    guard = PageGuard(max_stalled_pages=3)
    for n in range(3):
        assert guard.judge(f"t{n}", clicks(7, 7), f"t{n + 1}", "r") is Verdict.MORE
        guard.advanced(False, "r")
    with pytest.raises(PaginationLoopError, match="4 pages in a row"):
        guard.advanced(False, "r")


def test_progress_resets_the_bound() -> None:
    guard = PageGuard(max_stalled_pages=2)
    for _ in range(10):
        guard.advanced(False, "r")
        guard.advanced(True, "r")


def test_a_page_that_points_at_itself_and_repeats_page_one_is_a_cycle() -> None:
    # A one-page pass whose next is a token for the same page, whose next is itself.
    guard = PageGuard()
    assert guard.judge(None, clicks(1, 2), "T1", "r") is Verdict.MORE
    assert guard.judge("T1", clicks(1, 2), "T1", "r") is Verdict.REPEAT


@pytest.mark.parametrize("odd_date", [{"x": 1}, ["2025-03-04"], None, 17])
def test_a_date_of_any_json_type_is_judged_and_its_repeat_still_caught(odd_date: Any) -> None:
    """A date that is an object or an array used to crash the guard (unhashable)."""
    page = [{"url": "https://x.example/1", "date": odd_date}, *clicks(2)]
    guard = PageGuard()
    assert guard.judge(None, page, "a", "r") is Verdict.MORE
    with pytest.raises(PaginationLoopError, match="same clicks"):
        guard.judge("a", [dict(click) for click in page], "b", "r")


def test_remembered_pages_and_tokens_are_small_whatever_their_size() -> None:
    """A month-long catch-up remembers 4,096 pages per slice: each costs a digest."""
    guard = PageGuard()
    long_token = "t" * 2_000
    guard.judge(None, clicks(1), long_token, "r")
    guard.judge(long_token, clicks(2), "next", "r")
    remembered = [*guard._tokens, *guard._prints]  # private on purpose: the size is the point
    assert remembered and all(isinstance(k, bytes) and len(k) == 16 for k in remembered)
