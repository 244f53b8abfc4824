"""The pacer's mirror of Mimecast's bucket: debit at send, credit by time, reconcile down.

The first tests replay, on a fake clock, the answers that made the old pacer send
early; the last drives many concurrent requests with random latencies against the
simulator's own leaky bucket, in virtual time, and counts refusals and the share of
the quota used.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random

import pytest

from collector.simulator.faults import LeakyBucket, QuotaConfig
from collector.sources.mimecast.pacer import QuotaPacer
from tests.fakes import FakeClock, past_the_first_request


def headers(remaining: int, reset_ms: int, limit: int = 100) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_ms),
    }


async def test_a_late_answer_does_not_pull_the_pace_forward() -> None:
    """An answer counted before a later request was sent names a Reset that this later
    request has already spent: the next request must wait for the refill after it."""
    clock = FakeClock()
    pacer = QuotaPacer(clock=clock, sleep=clock.sleep)
    pacer.finished(headers(0, 100))  # empty; one request per 100 ms; the next at 0.1
    first = await pacer.acquire()  # takes the request refilled at 0.1
    await pacer.acquire()  # takes the one refilled at 0.2
    assert round(clock.now, 6) == 0.2
    # The first was served at 0.15 (half of the next refilled); its answer comes now.
    pacer.finished(headers(0, 50), ticket=first)
    await pacer.acquire()
    assert clock.now >= 0.3 - 1e-9, "the request refilled at 0.2 was spent by the second"


async def test_a_reordered_answer_does_not_hand_back_spent_quota() -> None:
    """The second request was served first (1 left), the first after it (0 left), and
    the first's answer came back first: the second's answer is newer by ticket but
    older at the server, so its Remaining must not be believed upward."""
    clock = FakeClock()
    pacer = QuotaPacer(reserve=0, clock=clock, sleep=clock.sleep)
    await past_the_first_request(pacer)
    first = await pacer.acquire()
    second = await pacer.acquire()
    pacer.finished(headers(0, 90), ticket=first)
    pacer.finished(headers(1, 100), ticket=second)
    await pacer.acquire()
    assert clock.sleeps and clock.sleeps[0] >= 0.09 - 1e-9, "0 were left: wait for the refill"


async def test_a_timed_out_request_stays_debited() -> None:
    """A request without answer may have been served: it is not handed back."""
    clock = FakeClock()
    pacer = QuotaPacer(reserve=0, clock=clock, sleep=clock.sleep)
    pacer.finished(headers(1, 100))  # one left
    ticket = await pacer.acquire()
    pacer.finished(None, ticket=ticket)  # no answer
    await pacer.acquire()
    assert [round(s, 6) for s in clock.sleeps] == [0.1]


async def test_the_mirror_refills_with_time_up_to_the_limit() -> None:
    clock = FakeClock()
    pacer = QuotaPacer(reserve=1, clock=clock, sleep=clock.sleep)
    pacer.finished(headers(0, 100, limit=5))
    clock.now += 10  # far longer than it takes to refill 5
    for _ in range(4):  # 5 refilled, 1 kept in reserve
        await pacer.acquire()
    assert clock.sleeps == []
    await pacer.acquire()
    assert [round(s, 6) for s in clock.sleeps] == [0.1]


class VirtualTime:
    """One clock for many tasks: once every task waits, time jumps to the next wake-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, secs: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, secs), next(self._order), wake))
        await wake

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        while not all(task.done() for task in tasks):
            for _ in range(50):  # let every runnable task reach its next wait
                await asyncio.sleep(0)
            if not self._timers:
                break
            self.now, _, wake = heapq.heappop(self._timers)
            wake.set_result(None)
        await asyncio.gather(*tasks)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_concurrent_requests_stay_under_a_leaky_bucket_and_use_it(seed: int) -> None:
    """Twelve slices share one pacer (the first twelve requests, sent before any answer,
    fit the bucket); each request takes 20-300 ms there and back (up to
    three refill intervals), so answers overtake each other and arrive after later
    requests were sent. No refusal, and at least 95% of the bucket's rate is used."""
    rng = random.Random(seed)
    time = VirtualTime()
    quota = QuotaConfig(limit=12, period_secs=1.2)
    bucket = LeakyBucket(quota, clock=time)
    pacer = QuotaPacer(clock=time, sleep=time.sleep)
    served: list[float] = []
    refused: list[float] = []

    async def slice_(requests: int) -> None:
        for _ in range(requests):
            ticket = await pacer.acquire()
            await time.sleep(rng.uniform(0.01, 0.15))  # on its way to Mimecast
            allowed, answer = bucket.take()
            (served if allowed else refused).append(time.now)
            await time.sleep(rng.uniform(0.01, 0.15))  # the answer's way back
            pacer.finished(dict(answer), 200 if allowed else 429, ticket)

    await time.run([asyncio.create_task(slice_(25)) for _ in range(12)])
    assert refused == []
    elapsed = served[-1] - served[0]
    share = (len(served) - quota.limit) / (elapsed * quota.limit / quota.period_secs)
    assert 0.95 <= share <= 1.0 + 1e-9, share
