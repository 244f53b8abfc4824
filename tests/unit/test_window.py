"""Pass planning: lag, overlap, retention clamp, the gap warning, and catch-up slices."""

from __future__ import annotations

import itertools

from collector.checkpoint import Checkpoint
from collector.sources.mimecast.config import RETENTION_SECS, MimecastSourceConfig
from collector.window import RETENTION_MARGIN_SECS, Plan, plan_next_pass, slice_range

NOW = 1_750_000_000


def config(**overrides: object) -> MimecastSourceConfig:
    settings = {"type": "mimecast_ttp_url", "client_id": "c", "client_secret": "s"} | overrides
    return MimecastSourceConfig.model_validate(settings)


def begin(checkpoint: Checkpoint, settings: MimecastSourceConfig, now: int) -> Plan:
    """Plan the next pass, and begin it as a cycle does when there is one."""
    planned = plan_next_pass(checkpoint, settings, now, RETENTION_SECS)
    if planned.windows:
        checkpoint.begin_pass(planned.windows, planned.start, planned.end)
    return planned


def test_first_pass_uses_initial_lookback_and_lag() -> None:
    checkpoint = Checkpoint("s")
    plan = begin(checkpoint, config(initial_lookback_secs=3600, lag_secs=60), NOW)
    assert [(w.start, w.end) for w in plan.windows] == [(NOW - 60 - 3600, NOW - 60)]
    assert checkpoint.not_before == NOW - 60 - 3600
    assert (checkpoint.pass_start, checkpoint.target) == (NOW - 3660, NOW - 60)
    assert checkpoint.windows == plan.windows
    assert plan.gap is None and not plan.clamped_lookback


def test_first_pass_is_clamped_to_retention() -> None:
    plan = begin(Checkpoint("s"), config(initial_lookback_secs=90 * 86400), NOW)
    assert plan.windows[0].start == NOW - RETENTION_SECS + RETENTION_MARGIN_SECS
    assert plan.clamped_lookback


def test_next_pass_overlaps_but_never_before_not_before() -> None:
    cfg = config(overlap_secs=900, lag_secs=0)
    plan = begin(Checkpoint("s", cursor=NOW - 300, not_before=NOW - 1000), cfg, NOW)
    assert [(w.start, w.end) for w in plan.windows] == [(NOW - 1000, NOW)]
    plan = begin(Checkpoint("s", cursor=NOW - 300, not_before=NOW - 5000), cfg, NOW)
    assert plan.windows[0].start == NOW - 1200


def test_nothing_to_read_until_the_end_moves_past_the_cursor() -> None:
    checkpoint = Checkpoint("s", cursor=NOW - 60)
    assert begin(checkpoint, config(lag_secs=60), NOW).windows == []
    assert checkpoint.target is None
    assert begin(checkpoint, config(lag_secs=60), NOW + 1).windows != []


def test_checkpoint_older_than_retention_reports_the_gap() -> None:
    cursor = NOW - 40 * 86400
    plan = begin(Checkpoint("s", cursor=cursor), config(), NOW)
    oldest = NOW - RETENTION_SECS + RETENTION_MARGIN_SECS
    assert plan.gap == (cursor, oldest)
    assert plan.windows[0].start == oldest


def test_a_long_pass_is_sliced_and_a_short_one_is_not() -> None:
    cfg = config(catchup_slice_secs=3600, catchup_parallel=4, lag_secs=0)
    short = begin(Checkpoint("s", cursor=NOW - 1800), cfg, NOW)
    assert len(short.windows) == 1
    long = begin(Checkpoint("s", cursor=NOW - 10 * 3600), cfg, NOW)
    assert len(long.windows) == 4
    single = begin(
        Checkpoint("s", cursor=NOW - 10 * 3600), config(catchup_parallel=1, lag_secs=0), NOW
    )
    assert len(single.windows) == 1


def test_slices_partition_the_range_without_sharing_a_second() -> None:
    windows = slice_range(1000, 2001, 3)
    assert windows[0].start == 1000 and windows[-1].end == 2001
    for left, right in itertools.pairwise(windows):
        # The left slice asks up to the right one's start (read whatever `to` means)
        # but keeps only what is dated before it.
        assert left.end == right.start == left.keep_until
        assert left.last_second == right.start - 1
    assert windows[-1].keep_until is None and windows[-1].last_second == 2001
    owned = [second for w in windows for second in range(w.start, w.last_second + 1)]
    assert owned == list(range(1000, 2002))


def test_progress_counts_every_slice() -> None:
    checkpoint = Checkpoint("s", cursor=NOW - 4000)
    begin(checkpoint, config(catchup_slice_secs=600, lag_secs=0, overlap_secs=0), NOW)
    assert checkpoint.progress() < 0.01
    for window in checkpoint.windows:
        window.frontier = window.last_second
    assert checkpoint.progress() == 1.0
