"""The live polling budget, the late sweep's planning, and the cycle's delay summary."""

from __future__ import annotations

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.checkpoint import Checkpoint
from collector.events import Event
from collector.outcome import CycleOutcome
from collector.polling import UNKNOWN_QUOTA_INTERVAL_SECS, PollBudget, poll_cost
from collector.sources.mimecast.config import RETENTION_SECS, MimecastSourceConfig
from collector.sources.mimecast.pacer import QuotaPacer
from collector.stats import DelaySummary, delay_histogram
from collector.window import LateSweeps, plan_next_pass

NOW = 1_750_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(**overrides: object) -> MimecastSourceConfig:
    settings = {"type": "mimecast_ttp_url", "client_id": "c", "client_secret": "s"} | overrides
    return MimecastSourceConfig.model_validate(settings)


def test_defaults_poll_fresh_and_leave_the_interval_to_the_quota() -> None:
    defaults = config()
    assert defaults.interval_secs is None
    assert defaults.lag_secs == 5
    assert defaults.live_quota_share == 0.05
    assert defaults.quota_period_secs == 3600


def test_one_source_polls_every_7_2_s_on_a_10000_per_hour_quota() -> None:
    clock = Clock()
    budget = PollBudget(clock=clock)
    budget.join("a", 0.05, 3600)
    budget.learn_limit(10_000)
    assert budget.idle_interval_secs() == pytest.approx(7.2)
    assert budget.charge(1) == pytest.approx(7.2)


def test_three_sources_on_one_credential_share_one_budget() -> None:
    """Each idle poll of each source pushes the credential's next free moment: over an
    hour of idle polling, the three together spend 5% of the quota, not 15%."""
    clock = Clock()
    budget = PollBudget(clock=clock)
    for name in ("a", "b", "c"):
        budget.join(name, 0.05, 3600)
    budget.learn_limit(10_000)
    due = dict.fromkeys("abc", clock.now)
    polls = 0
    end = clock.now + 3600
    while True:
        source = min(due, key=lambda name: due[name])
        if due[source] >= end:
            break
        clock.now = due[source]
        polls += 1
        due[source] = clock.now + budget.charge(1)
    assert polls <= 0.05 * 10_000 + 3  # the share, plus the three first polls
    assert polls >= 0.05 * 10_000 - 3
    assert budget.idle_interval_secs() == pytest.approx(21.6)


def test_unknown_quota_polls_at_the_conservative_interval() -> None:
    clock = Clock()
    budget = PollBudget(clock=clock)
    budget.join("a", 0.05, 3600)
    budget.join("b", 0.05, 3600)
    assert budget.idle_interval_secs() == UNKNOWN_QUOTA_INTERVAL_SECS
    assert budget.charge(1) == UNKNOWN_QUOTA_INTERVAL_SECS / 2
    assert budget.charge(1) == UNKNOWN_QUOTA_INTERVAL_SECS


def test_an_idle_poll_pays_every_request_and_a_delivering_poll_one() -> None:
    assert poll_cost(3, 0) == 3
    assert poll_cost(48, 0) == 48  # a sweep that found nothing new is an idle poll too
    assert poll_cost(0, 0) == 1  # nothing to ask yet: still a tick of the schedule
    assert poll_cost(40, 12_000) == 1
    assert poll_cost(4, 0, catchup=True) == 1  # slices over an empty day: a catch-up


def test_the_pacer_learns_the_quota_and_a_short_interval_warns_once() -> None:
    pacer = QuotaPacer(clock=Clock())
    pacer.poll_budget.join("fast", 0.05, 3600, interval_secs=2)
    pacer.poll_budget.join("slow", 0.05, 3600, interval_secs=60)
    headers = {"X-RateLimit-Limit": "10000", "X-RateLimit-Remaining": "9000"}
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            pacer.finished(headers)
    assert pacer.poll_budget.limit == 10_000
    warnings = [entry for entry in logs if entry["event"] == "interval_above_budget"]
    assert [entry["source"] for entry in warnings] == ["fast"]
    assert warnings[0]["log_level"] == "warning"
    assert "sources.fast.interval_secs = 2" in warnings[0]["message"]
    assert "14.4 s between polls" in warnings[0]["message"]
    assert "18% of the quota" in warnings[0]["message"]


def test_polls_reread_a_little_and_the_sweep_reaches_back_past_the_last_sweep() -> None:
    cfg = config(lag_secs=0, poll_overlap_secs=30, overlap_secs=900, late_sweep_secs=300)
    sweeps = LateSweeps()
    checkpoint = Checkpoint("s", cursor=NOW - 10, not_before=NOW - 86400)
    # A fresh process sweeps first, from the cursor.
    assert sweeps.due(cfg, NOW)
    assert sweeps.reread_secs(cfg, checkpoint.cursor, sweep=True) == 900
    sweeps.swept(NOW, NOW)
    # Then polls re-read poll_overlap_secs only.
    later = NOW + 200
    assert not sweeps.due(cfg, later)
    reread = sweeps.reread_secs(cfg, NOW + 190, sweep=False)
    checkpoint.cursor = NOW + 190
    plan = plan_next_pass(checkpoint, cfg, later, RETENTION_SECS, reread)
    assert (plan.start, plan.end) == (NOW + 160, NOW + 200)
    # Dedup remembers back to the next sweep's start.
    assert sweeps.keep_secs(cfg, NOW + 200) == 1100
    # The sweep re-reads from overlap_secs before the previous sweep's end.
    assert sweeps.due(cfg, NOW + 300)
    checkpoint.cursor = NOW + 295
    reread = sweeps.reread_secs(cfg, checkpoint.cursor, sweep=True)
    plan = plan_next_pass(checkpoint, cfg, NOW + 300, RETENTION_SECS, reread)
    assert plan.start == NOW - 900


def test_late_sweep_secs_zero_sweeps_every_poll() -> None:
    cfg = config(late_sweep_secs=0)
    sweeps = LateSweeps()
    sweeps.swept(NOW, NOW)
    assert sweeps.due(cfg, NOW)


def test_delay_summary_median_and_max() -> None:
    summary = DelaySummary()
    assert summary.p50 is None and summary.max is None
    summary.observe(3.0, 2)
    summary.observe(8.0, 5)
    summary.observe(40.25)
    summary.observe(123_456.7, 2)
    assert summary.p50 == 8.0
    assert summary.max == 123_456.7
    assert summary.counts[123_000.0] == 2


@settings(max_examples=300, deadline=None)
@given(
    times=st.lists(st.integers(0, 400_000), min_size=1, max_size=60),
    acked_at=st.floats(400_000, 700_000, allow_nan=False),
)
def test_a_page_timed_at_once_matches_one_click_at_a_time(
    times: list[int], acked_at: float
) -> None:
    """time_delivery's one-observation shortcut must keep every count, total and max
    that observing each click on its own gives."""
    events = [Event("s", f"{i}-0", when, {}) for i, when in enumerate(times)]
    outcome, histogram = CycleOutcome(), delay_histogram()
    outcome.time_delivery(events, acked_at, histogram)
    one_by_one, expected = DelaySummary(), delay_histogram()
    for when in times:
        one_by_one.observe(acked_at - when)
        expected.observe(acked_at - when)
    assert histogram.counts == expected.counts
    assert histogram.total == pytest.approx(expected.total, rel=1e-9)
    assert outcome.delays.counts == one_by_one.counts
    assert outcome.delays.max == one_by_one.max
