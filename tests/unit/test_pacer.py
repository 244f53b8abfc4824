"""The quota pacer: free while the bucket is full, the quota's pace once it is low."""

from __future__ import annotations

import asyncio

from collector.sources.mimecast.pacer import PacerRegistry, QuotaPacer
from tests.fakes import FakeClock as Clock
from tests.fakes import past_the_first_request


def headers(remaining: int, reset_ms: int, limit: int = 100) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_ms),
    }


async def test_no_wait_without_headers_or_with_quota_to_spare() -> None:
    clock = Clock()
    pacer = QuotaPacer(clock=clock, sleep=clock.sleep)
    await pacer.acquire()
    pacer.finished(headers(50, 0))
    for _ in range(40):
        await pacer.acquire()
    assert clock.sleeps == []


async def test_waits_for_the_refill_once_the_bucket_is_low() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=2, clock=clock, sleep=clock.sleep)
    pacer.finished(headers(1, 400))
    await pacer.acquire()
    assert clock.sleeps == [0.4]
    # Requests queued behind it go one refill interval apart.
    await pacer.acquire()
    await pacer.acquire()
    assert [round(s, 6) for s in clock.sleeps] == [0.4, 0.4, 0.4]
    assert abs(pacer.waited_secs - 1.2) < 1e-9


async def test_fresh_headers_replace_the_estimate() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=2, clock=clock, sleep=clock.sleep)
    pacer.finished(headers(0, 1000))
    clock.now += 5  # the bucket refilled meanwhile, and a response said so
    pacer.finished(headers(90, 0))
    await pacer.acquire()
    assert clock.sleeps == []


async def test_an_epoch_reset_is_understood() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=2, clock=clock, sleep=clock.sleep)
    pacer.finished({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"})
    await pacer.acquire()
    assert len(clock.sleeps) == 1 and clock.sleeps[0] > 1e8  # far in the future: waits


def test_one_pacer_per_credential() -> None:
    registry = PacerRegistry()
    a = registry.for_credential(("https://x", "oauth2", "id-1"))
    assert registry.for_credential(("https://x", "oauth2", "id-1")) is a
    assert registry.for_credential(("https://x", "oauth2", "id-2")) is not a


async def test_an_answer_without_headers_ends_pacing() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=2, clock=clock, sleep=clock.sleep)
    pacer.finished(headers(0, 500))  # e.g. one 429 carrying the headers
    await pacer.acquire()
    pacer.finished({})  # the next answers carry no quota information
    for _ in range(10):
        await pacer.acquire()
    assert clock.sleeps == [0.5]


async def test_requests_in_flight_count_against_the_remaining_quota() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    await past_the_first_request(pacer)
    for _ in range(4):  # four requests go out (no quota information yet)
        await pacer.acquire()
    # The first answer says 4 remain, but 3 requests are still in flight.
    pacer.finished(headers(4, 250))
    await pacer.acquire()  # 4 - 3 = 1 left, at the reserve: wait for the refill
    assert clock.sleeps == [0.25]


async def test_a_request_without_answer_is_no_longer_in_flight() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    await past_the_first_request(pacer)
    await pacer.acquire()
    await pacer.acquire()
    pacer.finished(None)  # timed out
    pacer.finished(headers(3, 100))  # 3 remain, nothing in flight
    await pacer.acquire()
    assert clock.sleeps == []


async def test_the_pace_is_the_longest_refill_seen_and_slows_after_a_429() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    pacer.finished(headers(1, 360))  # a whole refill interval
    pacer.finished(headers(1, 120))  # a part of it had refilled: not the pace
    await pacer.acquire()
    await pacer.acquire()
    assert [round(s, 3) for s in clock.sleeps] == [0.12, 0.36]
    pacer.finished(headers(0, 360), status=429)
    refused_at = clock.now
    await pacer.acquire()
    first = clock.now - refused_at
    await pacer.acquire()
    second = clock.now - refused_at - first
    # After the 429: the first waits the Reset (the gate adds up to 10% jitter), the
    # next one 1.25 x the old pace after the pace's own slot.
    assert 0.36 <= first <= 0.36 * 1.1 + 1e-9
    assert round(first + second, 3) == 0.81


async def test_a_run_of_429s_slows_the_pace_only_so_far() -> None:
    """Each 429 slows the pace by 1.25x, but never past twice the longest refill named:
    429s unrelated to the pace (a gateway's burst throttle) must not slow us for good."""
    clock = Clock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        pacer.finished(headers(0, 400), status=429)
    assert pacer._interval <= 0.8 + 1e-9


async def test_an_answer_that_was_overtaken_does_not_restore_spent_quota() -> None:
    """Answers overtake each other: the older one's Remaining is stale and ignored."""
    clock = Clock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    await past_the_first_request(pacer)
    first = await pacer.acquire()
    second = await pacer.acquire()
    pacer.finished(headers(1, 100), ticket=second)  # served last: 1 left
    pacer.finished(headers(5, 0), ticket=first)  # served first: stale
    await pacer.acquire()
    assert clock.sleeps == [0.1], "paced by the newer answer"


async def test_the_first_request_goes_alone_and_the_rest_wait_for_its_answer() -> None:
    """Nothing is known of the quota before the first answer: a burst of catch-up slices
    and sources could overflow the bucket, so they wait one round trip."""
    clock = Clock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    first = await pacer.acquire()
    others = [asyncio.create_task(pacer.acquire()) for _ in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(task.done() for task in others)
    pacer.finished(headers(50, 100), ticket=first)
    await asyncio.wait_for(asyncio.gather(*others), 1)


async def test_a_first_request_that_never_got_an_answer_still_lets_the_rest_go() -> None:
    clock = Clock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    first = await pacer.acquire()
    waiting = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0)
    pacer.finished(None, ticket=first)  # timed out
    await asyncio.wait_for(waiting, 1)
