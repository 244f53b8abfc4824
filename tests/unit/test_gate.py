"""The backpressure gate: a refusal holds back every request, and nothing opens it early."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from collector.errors import BackpressureTooLongError
from collector.gate import BackpressureGate, describe_secs
from collector.retry import MAX_REFUSAL_WAIT_SECS, RetryPolicy
from tests.fakes import FakeClock as Clock


def gate(clock: Clock) -> BackpressureGate:
    policy = RetryPolicy(rng=random.Random(1))
    return BackpressureGate("test", policy=policy, clock=clock, sleep=clock.sleep)


async def test_every_waiter_is_held_until_the_requested_wait_has_passed() -> None:
    clock = Clock()
    g = gate(clock)
    closed = g.close(0.3)
    assert 0.3 <= closed <= 0.33
    await asyncio.gather(g.wait(), g.wait(), g.wait())
    assert clock.now >= 0.3
    assert g.stats.closures == 1 and g.stats.wait_secs >= 0.3


async def test_a_later_answer_never_shortens_the_wait() -> None:
    clock = Clock()
    g = gate(clock)
    g.close(5.0)
    g.passed()  # an answer that was already in flight comes back fine
    g.close(0.1)  # and another refusal asks for less
    assert g.closed_for() >= 5.0
    await g.wait()
    assert clock.now >= 5.0


@pytest.mark.parametrize("requested", [None, 0.0, -5.0, math.nan, math.inf])
def test_no_usable_figure_means_the_backoff_with_a_fixed_lower_half(
    requested: float | None,
) -> None:
    clock = Clock()
    g = gate(clock)
    waits = []
    for _ in range(4):
        before = clock.now
        waits.append(g.close(requested))
        clock.now = before + waits[-1]  # each wait passes before the next refusal
    # 1 s, 2 s, 4 s, 8 s ceilings: never less than half of each.
    for wait, ceiling in zip(waits, (1, 2, 4, 8), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_a_success_starts_the_backoff_over() -> None:
    clock = Clock()
    g = gate(clock)
    g.close(None)
    g.close(None)
    g.passed()
    clock.now += 100
    assert g.close(None) <= 1.0


def test_an_absurd_wait_is_capped() -> None:
    clock = Clock()
    assert gate(clock).close(1e9) <= MAX_REFUSAL_WAIT_SECS * 1.01


async def test_a_wait_past_the_budget_fails_at_once() -> None:
    clock = Clock()
    g = gate(clock)
    g.close(100.0)
    with pytest.raises(BackpressureTooLongError, match=r"wait 10\d\.\d s .*retry_max_secs = 8"):
        await g.wait(budget_secs=8)
    assert clock.sleeps == []


def test_durations_read_as_people_say_them() -> None:
    assert describe_secs(0.3) == "300 ms"
    assert describe_secs(8) == "8.0 s"
    assert describe_secs(750) == "12.5 min"
    assert describe_secs(99999.999) == "27.8 h"
