"""Window planning: lag, overlap, retention clamp and the gap warning."""

from __future__ import annotations

from collector.checkpoint import Checkpoint
from collector.sources.mimecast.config import RETENTION_SECS, MimecastSourceConfig
from collector.window import RETENTION_MARGIN_SECS, plan_next_window

NOW = 1_750_000_000


def config(**overrides: object) -> MimecastSourceConfig:
    settings = {"type": "mimecast_ttp_url", "client_id": "c", "client_secret": "s"} | overrides
    return MimecastSourceConfig.model_validate(settings)


def test_first_window_uses_initial_lookback_and_lag() -> None:
    checkpoint = Checkpoint("s")
    plan = plan_next_window(checkpoint, config(initial_lookback_secs=3600, lag_secs=60), NOW)
    assert plan.window is not None
    assert (plan.window.start, plan.window.end) == (NOW - 60 - 3600, NOW - 60)
    assert checkpoint.not_before == NOW - 60 - 3600
    assert plan.gap is None and not plan.clamped_lookback


def test_first_window_is_clamped_to_retention() -> None:
    plan = plan_next_window(Checkpoint("s"), config(initial_lookback_secs=90 * 86400), NOW)
    assert plan.window is not None
    assert plan.window.start == NOW - RETENTION_SECS + RETENTION_MARGIN_SECS
    assert plan.clamped_lookback


def test_next_window_overlaps_but_never_before_not_before() -> None:
    cfg = config(overlap_secs=900, lag_secs=0)
    checkpoint = Checkpoint("s", cursor=NOW - 300, not_before=NOW - 1000)
    plan = plan_next_window(checkpoint, cfg, NOW)
    assert plan.window is not None
    assert (plan.window.start, plan.window.end) == (NOW - 1000, NOW)
    checkpoint = Checkpoint("s", cursor=NOW - 300, not_before=NOW - 5000)
    plan = plan_next_window(checkpoint, cfg, NOW)
    assert plan.window is not None and plan.window.start == NOW - 1200


def test_nothing_to_read_until_the_end_moves_past_the_cursor() -> None:
    checkpoint = Checkpoint("s", cursor=NOW - 60)
    assert plan_next_window(checkpoint, config(lag_secs=60), NOW).window is None
    assert plan_next_window(checkpoint, config(lag_secs=60), NOW + 1).window is not None


def test_checkpoint_older_than_retention_reports_the_gap() -> None:
    cursor = NOW - 40 * 86400
    plan = plan_next_window(Checkpoint("s", cursor=cursor), config(), NOW)
    oldest = NOW - RETENTION_SECS + RETENTION_MARGIN_SECS
    assert plan.gap == (cursor, oldest)
    assert plan.window is not None and plan.window.start == oldest
