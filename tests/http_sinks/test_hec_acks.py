"""HEC indexer acknowledgement: batched polling, forgotten-after-true, timeout, LB cookies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest
import structlog

from collector.errors import SinkError, TransientSinkError
from collector.sinks.http.hec_acks import AckTracker
from collector.stats import SinkStats

from .hec_emulator import LB_COOKIE, Fault, HecEmulator
from .helpers import events


def options(emulator: HecEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "type": "splunk_hec",
        "endpoint": emulator.url,
        "token": emulator.token,
        "acknowledgements": True,
        "ack_poll_interval_secs": 0.02,
        "ack_timeout_secs": 2.0,
        "retry_max_secs": 10.0,
        "retry_initial_backoff_secs": 0.01,
        "retry_max_backoff_secs": 0.02,
        **extra,
    }


async def test_send_returns_only_once_every_ack_is_true_and_polls_are_batched(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec(use_ack=True, ack_delay_secs=0.15)
    sink = await make_sink(options(emulator, max_batch_events=10))
    started = time.monotonic()
    await sink.send(events(30))
    assert time.monotonic() - started >= 0.15
    assert len(emulator.stored) == 30
    # One poll asks about the three requests' ids together.
    assert emulator.ack_log[0].ids == [0, 1, 2]
    trues = [ack for poll in emulator.ack_log for ack, ok in poll.answer.items() if ok]
    assert sorted(trues) == ["0", "1", "2"]
    assert sink.acks.pending == 0


async def test_a_true_is_recorded_at_once_because_hec_forgets_it(hec: Any, make_sink: Any) -> None:
    emulator = await hec(use_ack=True)
    emulator.hold_ack_ids = {1}
    sink = await make_sink(options(emulator))

    async def release_later() -> None:
        while len(emulator.ack_log) < 4:
            await asyncio.sleep(0.01)
        emulator.hold_ack_ids.clear()
        emulator.release_acks()

    first, second = events(2), events(2, start=2)
    await asyncio.gather(sink.send(first), sink.send(second), release_later())
    polls = emulator.ack_log
    true_for_0 = next(i for i, poll in enumerate(polls) if poll.answer.get("0"))
    # After id 0 answered true it is never asked again (Splunk would say false)...
    assert all(0 not in poll.ids for poll in polls[true_for_0 + 1 :])
    # ...while id 1 kept being asked until it was true.
    assert sum(1 in poll.ids for poll in polls) >= 3
    assert sorted(emulator.event_ids()) == sorted(e.event_id for e in first + second)

    # The emulator is faithful: asking about id 0 again now answers false.
    async with httpx.AsyncClient() as raw:
        answer = await raw.post(
            emulator.url + "/services/collector/ack",
            headers={
                "Authorization": f"Splunk {emulator.token}",
                "X-Splunk-Request-Channel": emulator.event_requests()[0].headers[
                    "x-splunk-request-channel"
                ],
            },
            content=orjson.dumps({"acks": [0]}),
        )
    assert answer.json() == {"acks": {"0": False}}


async def test_an_ack_timeout_sends_the_batch_again_and_the_double_is_counted(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec(use_ack=True)
    emulator.hold_ack_ids = {0}  # the first request's ack never comes
    sink = await make_sink(options(emulator, ack_timeout_secs=0.3))
    page = events(3)
    with structlog.testing.capture_logs() as logs:
        await sink.send(page)
    assert len(emulator.event_requests()) == 2
    # Sent again, never dropped: HEC indexed it twice, and the sink says so.
    assert emulator.event_ids() == [e.event_id for e in page] * 2
    assert sink.stats.resent == 1
    retried = [entry for entry in logs if entry["event"] == "retrying"]
    assert "no indexer acknowledgement for ackId 0" in retried[0]["error"]
    assert "may be indexed twice" in retried[0]["error"]


async def test_load_balancer_cookies_are_kept_and_sent_with_ack_polls(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec(use_ack=True, indexers=3)
    sink = await make_sink(options(emulator, ack_timeout_secs=1.0))
    for start in range(0, 9, 3):
        await sink.send(events(3, start=start))
    requests = emulator.event_requests()
    assert "cookie" not in requests[0].headers  # the balancer chose, and set the cookie
    assert all(f"{LB_COOKIE}=0" in r.headers.get("cookie", "") for r in requests[1:])
    assert {poll.cookie for poll in emulator.ack_log} == {"0"}
    assert sink.stats.resent == 0
    assert len(emulator.stored) == 9

    # The emulated balancer is faithful: without the cookie a poll lands on another
    # indexer, which knows nothing of the id; with it, the right indexer answers.
    async with httpx.AsyncClient() as raw:
        headers = {
            "Authorization": f"Splunk {emulator.token}",
            "X-Splunk-Request-Channel": requests[0].headers["x-splunk-request-channel"],
        }
        sent = await raw.post(
            emulator.url + "/services/collector/event", headers=headers, content=b'{"event":1}'
        )
        ack_id, indexer = sent.json()["ackId"], sent.cookies[LB_COOKIE]
        raw.cookies.clear()  # a client without a cookie jar
        body = orjson.dumps({"acks": [ack_id]})
        elsewhere = await raw.post(
            emulator.url + "/services/collector/ack", headers=headers, content=body
        )
        sticky = await raw.post(
            emulator.url + "/services/collector/ack",
            headers={**headers, "Cookie": f"{LB_COOKIE}={indexer}"},
            content=body,
        )
    assert elsewhere.json() == {"acks": {str(ack_id): False}}
    assert sticky.json() == {"acks": {str(ack_id): True}}


async def four_pages_at_once_behind_a_balancer(emulator: HecEmulator, make_sink: Any) -> Any:
    """A fresh sink sends 4 pages of 3 batches at once; every event must be stored once,
    with no re-send. Returns the event requests, for the caller's cookie checks."""
    sink = await make_sink(options(emulator, max_batch_events=2, ack_timeout_secs=1.0))
    pages = [events(6, start=start) for start in range(0, 24, 6)]
    await asyncio.gather(*(sink.send(page) for page in pages))
    assert sink.stats.resent == 0
    assert sorted(emulator.event_ids()) == sorted(e.event_id for page in pages for e in page)
    return emulator.event_requests()


async def test_concurrent_first_requests_wait_for_the_balancers_cookie(
    hec: Any, make_sink: Any
) -> None:
    """Pages delivered at once by a fresh sink (catch-up slices): sent before the sink
    holds the stickiness cookie, they would land on different indexers, each numbering
    its ackIds from 0. The ids would collide and the polls reach one indexer only, so
    batches indexed once would be sent again. The first request goes alone instead."""
    emulator = await hec(use_ack=True, indexers=3)
    requests = await four_pages_at_once_behind_a_balancer(emulator, make_sink)
    assert len(requests) == 12
    assert "cookie" not in requests[0].headers
    assert all(f"{LB_COOKIE}=0" in r.headers.get("cookie", "") for r in requests[1:])


async def test_a_first_request_without_an_answer_leaves_the_next_one_alone(
    hec: Any, make_sink: Any
) -> None:
    """The first request is dropped (no answer, so no cookie): the requests waiting
    behind it must not all go at once, but again one first, until one is answered."""
    emulator = await hec(use_ack=True, indexers=3)
    emulator.fail_next(Fault("drop"))
    requests = await four_pages_at_once_behind_a_balancer(emulator, make_sink)
    assert [r.status for r in requests].count(None) == 1  # the drop
    assert "cookie" not in requests[0].headers and "cookie" not in requests[1].headers
    assert all(f"{LB_COOKIE}=1" in r.headers.get("cookie", "") for r in requests[2:])


async def test_the_prefix_of_a_partial_batch_needs_no_ack_and_the_rest_is_acked(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec(use_ack=True)
    emulator.fail_next(Fault("invalid", status=400, code=6, text="Invalid data format", at=2))
    sink = await make_sink(options(emulator))
    page = events(5)
    await sink.send(page)
    assert emulator.event_ids() == [page[i].event_id for i in (0, 1, 3, 4)]
    assert [poll.ids for poll in emulator.ack_log if any(poll.answer.values())] == [[0]]


async def test_acknowledgements_on_but_token_without_ack_warns_once(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec(use_ack=False)
    sink = await make_sink(options(emulator))
    with structlog.testing.capture_logs() as logs:
        await sink.send(events(2))
        await sink.send(events(2, start=2))
    assert len(emulator.stored) == 4
    assert [entry["event"] for entry in logs].count("hec_ack_unavailable") == 1


class FakeHec:
    """Answers ack polls from a script: each call returns (or raises) the next entry."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[list[int]] = []

    async def __call__(self, ids: list[int]) -> set[int]:
        self.calls.append(list(ids))
        answer = self.answers.pop(0) if self.answers else set()
        if isinstance(answer, BaseException):
            raise answer
        return set(answer) & set(ids)


async def test_a_failed_poll_is_tried_again_and_a_fatal_one_fails_every_waiter() -> None:
    check = FakeHec(TransientSinkError("s", "503"), {7})
    tracker = AckTracker("s", check, poll_interval_secs=0.01, timeout_secs=5, stats=SinkStats())
    await tracker.expect(7)()
    assert check.calls == [[7], [7]]

    fatal = FakeHec(SinkError("s", 'HTTP 400, code 14: "ACK is disabled"'))
    tracker = AckTracker("s", fatal, poll_interval_secs=0.01, timeout_secs=5, stats=SinkStats())
    waits = [tracker.expect(1), tracker.expect(2)]
    for wait in waits:
        with pytest.raises(SinkError, match="ACK is disabled"):
            await wait()
    assert tracker.pending == 0


async def test_an_ack_id_seen_again_means_the_old_batch_must_be_resent() -> None:
    tracker = AckTracker(
        "s", FakeHec({0}), poll_interval_secs=0.05, timeout_secs=5, stats=SinkStats()
    )
    old = tracker.expect(0)
    new = tracker.expect(0)  # HEC restarted its numbering
    with pytest.raises(TransientSinkError, match="sending the batch again"):
        await old()
    await new()


async def test_closing_the_tracker_releases_every_waiter() -> None:
    tracker = AckTracker("s", FakeHec(), poll_interval_secs=0.05, timeout_secs=5, stats=SinkStats())
    wait = tracker.expect(3)
    await tracker.aclose()
    with pytest.raises(SinkError, match="closed before the indexer acknowledged"):
        await wait()


async def test_a_poller_that_wakes_late_asks_before_it_declares_a_timeout() -> None:
    """A busy host wakes the poller long after the deadline; the batch was indexed
    meanwhile. Expiring on waking would re-send it (a double): the poll decides."""
    now = [0.0]
    stats = SinkStats()
    check = FakeHec({4})
    tracker = AckTracker(
        "s", check, poll_interval_secs=0.01, timeout_secs=5, stats=stats, clock=lambda: now[0]
    )
    wait = tracker.expect(4)
    now[0] = 60.0  # the first poll goes out 55 s past the deadline
    await wait()
    assert check.calls == [[4]]
    assert stats.resent == 0


async def test_only_a_poll_sent_after_the_deadline_times_an_id_out() -> None:
    now = [0.0]
    asked_at: list[float] = []

    async def never_indexed(ids: list[int]) -> set[int]:
        asked_at.append(now[0])
        now[0] += 3.0  # each poll takes 3 s to answer
        return set()

    stats = SinkStats()
    tracker = AckTracker(
        "s",
        never_indexed,
        poll_interval_secs=0.01,
        timeout_secs=5,
        stats=stats,
        clock=lambda: now[0],
    )
    with pytest.raises(TransientSinkError, match="no indexer acknowledgement for ackId 9"):
        await tracker.expect(9)()
    # Asked at 0 and 3 (before the deadline at 5: not yet), then at 6: timed out.
    assert asked_at == [0.0, 3.0, 6.0]
    assert stats.resent == 1
