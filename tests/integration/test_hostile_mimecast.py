"""The collector against a Mimecast that misbehaves on purpose (issue "Never stall, never
hammer" and the adversarial probe's D2, D3, D5, D6, D7, D9, D10, D11).

Each test scripts the answers over real HTTP on 127.0.0.1 and checks what was
delivered (as a multiset), what the checkpoint says, and how many requests were sent.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from collector.checkpoint import Checkpoint
from collector.errors import (
    BackpressureTooLongError,
    CheckpointError,
    PaginationLoopError,
    RateLimitedError,
    ResponseTooLargeError,
    TransientSourceError,
)
from collector.events import parse_mimecast_date
from collector.simulator.envelope import json_response
from collector.simulator.httpserver import Response
from collector.store import CheckpointStore

from .conftest import cli, collect_once, multiset, parse, read_lines, settings, write_toml
from .hostile_mimecast import Call, RawMimecast, ScriptedMimecast, click, page, token_rejected


def recent(offset: int = 0) -> int:
    """A second a few minutes ago: inside the window and inside the overlap."""
    return int(time.time()) - 240 + offset


def config(tmp_path: Path, url: str, **source: Any) -> Any:
    """One window of the last hour (no slices), so the scripts see one read."""
    defaults = {"retry_max_secs": 8, "initial_lookback_secs": 3600, "catchup_parallel": 1}
    return parse(settings(tmp_path, url, source={**defaults, **source}))


def delivered(tmp_path: Path) -> Any:
    return multiset(read_lines(tmp_path / "out" / "clicks.ndjson"))


def sequence(*answers: Response) -> Any:
    """A script that answers the n-th get-logs request with the n-th answer."""

    def script(call: Call) -> Response:
        index = len(calls)
        calls.append(call)
        assert index < len(answers), f"unexpected request #{index + 1}: {call.body}"
        return answers[index]

    calls: list[Call] = []
    return script


# --- paging ---------------------------------------------------------------------------


@pytest.mark.parametrize("empty_next", ["same", "fresh", "absent"])
async def test_an_empty_page_ends_the_window_whatever_next_says(
    tmp_path: Path, empty_next: str
) -> None:
    a, b = click(recent(), 1), click(recent(1), 2)
    last_token = {"same": "t2", "fresh": "t3", "absent": None}[empty_next]
    script = sequence(page([a], "t1"), page([b], "t2"), page([], last_token))
    async with ScriptedMimecast(script) as api:
        results = await collect_once(config(tmp_path, api.url))
    assert results == {"clicks": None}
    assert delivered(tmp_path) == multiset([a, b])
    assert [call.token for call in api.calls] == [None, "t1", "t2"]
    saved = CheckpointStore(tmp_path / "state", "clicks").load()
    assert saved is not None and saved.target is None and saved.cursor is not None


async def test_tokens_that_cycle_back_end_the_window_without_doubling(tmp_path: Path) -> None:
    a, b, c = (click(recent(i), i) for i in range(3))
    # A -> B -> A: the third page points back at a token already sent.
    script = sequence(page([a], "A"), page([b], "B"), page([c], "A"))
    async with ScriptedMimecast(script) as api:
        results = await collect_once(config(tmp_path, api.url))
    assert results == {"clicks": None}
    assert delivered(tmp_path) == multiset([a, b, c])
    assert len(api.calls) == 3


async def test_the_same_clicks_under_fresh_tokens_stop_with_a_clear_error(tmp_path: Path) -> None:
    a, b = click(recent(), 1), click(recent(1), 2)

    def forever(call: Call) -> Response:
        return page([a, b], f"t{len(api.calls)}")

    async with ScriptedMimecast(forever) as api:
        results = await collect_once(config(tmp_path, api.url))
    error = results["clicks"]
    assert isinstance(error, PaginationLoopError), error
    assert "same clicks as page 1" in str(error)
    assert len(api.calls) <= 3  # bounded, and the repeat is detected at once
    assert delivered(tmp_path) == multiset([a, b])  # never doubled
    saved = CheckpointStore(tmp_path / "state", "clicks").load()
    assert saved is not None and saved.target is not None  # the pass is still open


async def test_pages_that_never_advance_are_bounded(tmp_path: Path) -> None:
    # One click repeated page after page proves nothing by itself (identical real
    # clicks exist), so only the bound stops it, after a bounded number of requests.
    a = click(recent(), 1)

    def forever(call: Call) -> Response:
        return page([a], f"t{len(api.calls)}")

    async with ScriptedMimecast(forever) as api:
        results = await collect_once(config(tmp_path, api.url))
    assert isinstance(results["clicks"], PaginationLoopError)
    assert len(api.calls) <= 110


async def test_a_future_dated_click_never_moves_the_frontier(tmp_path: Path) -> None:
    """D2: a click dated 2099 and a rejected token must not skip the rest of the window."""
    a, b, c = click(recent(), 1), click(recent(1), 2), click(recent(2), 3)
    future = click(4_070_908_800, 9)  # 2099-01-01
    script = sequence(page([a, future, b], "t1"), token_rejected(), page([b, c]))
    async with ScriptedMimecast(script) as api:
        results = await collect_once(config(tmp_path, api.url))
    assert results == {"clicks": None}
    restarted = api.calls[2].query
    assert restarted["from"] == b["date"], "restarts from the last complete second"
    assert parse_mimecast_date(restarted["to"]) <= time.time()
    assert delivered(tmp_path) == multiset([a, future, b, c])
    saved = CheckpointStore(tmp_path / "state", "clicks").load()
    assert saved is not None and saved.cursor is not None and saved.cursor <= time.time()


async def test_a_date_past_year_9999_is_undated_not_a_crash(tmp_path: Path) -> None:
    """D11: every date path is total; a second run delivers nothing twice."""
    a, c = click(recent(), 1), click(recent(2), 3)
    odd = click(None, 2, date="9999-12-31T23:59:59-2359")
    script = sequence(page([a, odd], "t1"), page([c]), page([a, odd], "u1"), page([c]))
    async with ScriptedMimecast(script) as api:
        assert await collect_once(config(tmp_path, api.url)) == {"clicks": None}
        await asyncio.sleep(1.1)  # so that the second run has a new second to read
        assert await collect_once(config(tmp_path, api.url)) == {"clicks": None}
    assert len(api.calls) == 4
    assert delivered(tmp_path) == multiset([a, odd, c])


# --- waiting: the pacer and the gate ------------------------------------------------


async def test_a_27_hour_reset_fails_the_cycle_instead_of_sleeping(tmp_path: Path) -> None:
    """D5: Remaining 0 with a huge Reset is longer than retry_max_secs: say so, at once."""
    exhausted = [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "99999999")]
    a = click(recent(), 1)
    script = sequence(page([a], "t1", headers=exhausted))
    started = time.monotonic()
    async with ScriptedMimecast(script) as api:
        results = await collect_once(config(tmp_path, api.url))
    error = results["clicks"]
    assert isinstance(error, BackpressureTooLongError), error
    assert "27.8 h" in str(error) and "retry_max_secs" in str(error)
    assert time.monotonic() - started < 5
    assert len(api.calls) == 1
    assert delivered(tmp_path) == multiset([a])


@pytest.mark.parametrize("reset", ["0", "-5", "nan", None])
async def test_a_429_without_a_usable_reset_backs_off(tmp_path: Path, reset: str | None) -> None:
    """D9: Reset 0, negative, nan or absent was a retry storm (17 requests/s)."""
    headers = [("X-RateLimit-Remaining", "0")]
    if reset is not None:
        headers.append(("X-RateLimit-Reset", reset))

    def throttled(call: Call) -> Response:
        return json_response(429, {"detail": "Over throttling limit"}, headers)

    async with ScriptedMimecast(throttled) as api:
        results = await collect_once(config(tmp_path, api.url, retry_max_secs=4))
    assert isinstance(results["clicks"], RateLimitedError)
    arrivals = [call.arrived for call in api.calls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(api.calls) <= 4, gaps
    assert all(gap >= 0.5 for gap in gaps), gaps


# --- answers that never end ---------------------------------------------------------


async def test_a_dripping_body_hits_the_whole_answer_deadline(tmp_path: Path) -> None:
    """D6: httpx's read timeout is per read; the deadline covers the whole answer."""

    async def drip(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 100000\r\n\r\n")
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.2)

    settings_ = {"read_timeout_secs": 1, "connect_timeout_secs": 1, "retry_max_secs": 3}
    started = time.monotonic()
    async with RawMimecast(drip) as api:
        results = await collect_once(config(tmp_path, api.url, **settings_))
    elapsed = time.monotonic() - started
    error = results["clicks"]
    assert isinstance(error, TransientSourceError) and "no complete answer" in str(error), error
    assert elapsed < 12, elapsed
    assert 1 <= api.requests <= 4


@pytest.mark.parametrize("announced", [True, False])
async def test_an_endless_body_is_cut_at_max_response_bytes(
    tmp_path: Path, announced: bool
) -> None:
    """D10: an answer larger than max_response_bytes fails the cycle, memory bounded."""
    chunk = b"x" * 65536

    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        if announced:
            writer.write(b"Content-Length: 50000000\r\n\r\n")
        else:
            writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(chunk if announced else b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    started = time.monotonic()
    async with RawMimecast(endless) as api:
        results = await collect_once(config(tmp_path, api.url, max_response_bytes=1 << 20))
    error = results["clicks"]
    assert isinstance(error, ResponseTooLargeError), error
    assert "max_response_bytes" in str(error)
    assert time.monotonic() - started < 5
    assert api.requests == 1  # final: not retried


# --- the clock ----------------------------------------------------------------------


async def test_a_checkpoint_ahead_of_the_clock_is_refused_loudly(tmp_path: Path) -> None:
    """D3: a cursor in 2030 meant silent inaction, every run exiting 0."""
    store = CheckpointStore(tmp_path / "state", "clicks")
    store.save(Checkpoint("clicks", cursor=1_893_456_000, not_before=0))  # 2030-01-01
    script = sequence()
    async with ScriptedMimecast(script) as api:
        results = await collect_once(config(tmp_path, api.url))
    error = results["clicks"]
    assert isinstance(error, CheckpointError), error
    assert "ahead of this machine's clock" in str(error) and "checkpoint reset" in str(error)
    assert api.calls == []


def test_checkpoint_reset_refuses_a_time_in_the_future(tmp_path: Path) -> None:
    path = write_toml(settings(tmp_path, "http://127.0.0.1:9"), tmp_path / "c.toml")
    started = time.monotonic()
    done = cli("checkpoint", "reset", "-c", str(path), "--source", "clicks", "--from", "2099-01-01")
    assert done.returncode == 2, done
    assert "--from" in done.stderr and "future" in done.stderr
    assert not (tmp_path / "state" / "clicks.checkpoint.json").exists()
    assert time.monotonic() - started < 30
