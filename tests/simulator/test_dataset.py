"""ClickDataset: generation (count, determinism, shape, duplicates, bursts) and the store."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest

from collector.events import parse_mimecast_date
from collector.simulator import ClickDataset

from .helpers import T0, canon, click

V1_FIELDS = {
    "category",
    "userEmailAddress",
    "url",
    "userAwarenessAction",
    "route",
    "adminOverride",
    "date",
    "scanResult",
    "action",
    "ttpDefinition",
    "userOverride",
    "emailPartsDescription",
}
RICH_FIELDS = V1_FIELDS | {
    "fromUserEmailAddress",
    "subject",
    "sendingIp",
    "actions",
    "creationMethod",
    "messageId",
}


@pytest.fixture(scope="module")
def generated() -> ClickDataset:
    return ClickDataset.generate(20_000, start=T0, end=T0 + 86_400, seed=7)


@pytest.mark.parametrize("count", [0, 1, 2, 49, 1000, 3333])
def test_generate_makes_exactly_count_clicks(count: int) -> None:
    dataset = ClickDataset.generate(count, start=T0, end=T0 + 3600, seed=1)
    assert len(dataset) == count
    assert len(dataset.truth()) == count


def test_generate_keeps_the_count_even_with_many_duplicates() -> None:
    dataset = ClickDataset.generate(3, start=T0, end=T0 + 10, duplicate_fraction=0.9)
    assert len(dataset) == 3
    assert len({orjson.dumps(c) for c in dataset.truth()}) == 1


def test_generate_is_deterministic_for_a_seed() -> None:
    first = ClickDataset.generate(2000, start=T0, end=T0 + 3600, seed=42)
    second = ClickDataset.generate(2000, start=T0, end=T0 + 3600, seed=42)
    other = ClickDataset.generate(2000, start=T0, end=T0 + 3600, seed=43)
    assert first.truth() == second.truth()
    assert canon(first.truth()) != canon(other.truth())


def test_dates_are_sorted_and_within_range(generated: ClickDataset) -> None:
    dates = [parse_mimecast_date(c["date"]) for c in generated.truth()]
    assert dates == sorted(dates)
    assert dates[0] >= T0 and dates[-1] <= T0 + 86_400
    # Uniform: each quarter of the day holds roughly a quarter of the clicks.
    quarters = Counter((d - T0) * 4 // 86_401 for d in dates)
    assert all(4000 <= quarters[q] <= 6000 for q in range(4)), quarters


def test_about_duplicate_fraction_are_byte_identical_copies(generated: ClickDataset) -> None:
    counts = Counter(orjson.dumps(c) for c in generated.truth())
    copies = sum(n - 1 for n in counts.values())
    assert copies == round(20_000 * 0.02)


def test_no_duplicates_when_fraction_is_zero() -> None:
    dataset = ClickDataset.generate(5000, start=T0, end=T0 + 86_400, duplicate_fraction=0.0)
    assert len({orjson.dumps(c) for c in dataset.truth()}) == 5000


@pytest.mark.parametrize(("fraction", "low", "high"), [(0.1, 0.09, 0.12), (0.0, 0.0, 0.01)])
def test_same_second_bursts_of_distinct_clicks(fraction: float, low: float, high: float) -> None:
    # A sparse spread (10k clicks over 30 days), so chance collisions stay rare.
    dataset = ClickDataset.generate(
        10_000, start=T0, end=T0 + 30 * 86_400, burst_fraction=fraction, duplicate_fraction=0.0
    )
    per_second = Counter(c["date"] for c in dataset.truth())
    in_bursts = sum(n for n in per_second.values() if n >= 2)
    assert low * 10_000 <= in_bursts <= high * 10_000
    assert max(per_second.values()) <= 20


def test_rich_clicks_look_like_api_v2(generated: ClickDataset) -> None:
    clicks = generated.truth()
    for c in clicks[:500]:
        assert RICH_FIELDS <= c.keys() <= RICH_FIELDS | {"tagMap", "advancedPhishingResult"}
        assert 80 <= len(c["url"]) <= 200
        assert c["date"].endswith("+0000") and len(c["date"]) == 24
        assert c["route"] in {"inbound", "outbound", "internal"}
        assert c["scanResult"] in {"clean", "malicious"}
        assert c["action"] in {"allow", "warn", "block"}
        assert isinstance(c["emailPartsDescription"], list)
    assert {c["scanResult"] for c in clicks} == {"clean", "malicious"}
    assert {c["route"] for c in clicks} == {"inbound", "outbound", "internal"}
    subjects = {c["subject"] for c in clicks}
    assert any(not s.isascii() for s in subjects)
    assert any(ch in s for s in subjects for ch in '"')
    assert any("\\" in s for s in subjects) and any("|" in s for s in subjects)
    assert any("=" in s for s in subjects) and any("\n" in s for s in subjects)
    ips = {c["sendingIp"] for c in clicks}
    assert "Internal IP" in ips and any(":" in ip for ip in ips)
    assert any("tagMap" in c for c in clicks) and any("advancedPhishingResult" in c for c in clicks)
    # Distribution lists: one message clicked by several recipients.
    by_message = Counter(c["messageId"] for c in {orjson.dumps(c): c for c in clicks}.values())
    assert max(by_message.values()) >= 2


def test_v1_clicks_have_only_the_12_documented_fields() -> None:
    dataset = ClickDataset.generate(200, start=T0, end=T0 + 60, rich=False)
    assert all(c.keys() == V1_FIELDS for c in dataset.truth())


def test_add_keeps_date_then_insertion_order() -> None:
    dataset = ClickDataset()
    dataset.add(click(T0 + 5, 1))
    dataset.add(click(T0 + 1, 2))
    dataset.add(click(T0 + 5, 3))
    dataset.extend([click(T0 + 3, 4), click(T0 + 1, 5)])
    users = [c["userEmailAddress"] for c in dataset.truth()]
    assert users == [f"user{n}@corp.example" for n in (2, 5, 4, 1, 3)]


def test_future_publish_time_is_pending_until_then() -> None:
    dataset = ClickDataset()
    dataset.add(click(T0, 1))
    dataset.add(click(T0 + 1, 2), published_at=time.time() + 0.2)
    assert len(dataset) == 2
    assert dataset.pending_count() == 1
    assert [c["userEmailAddress"] for c in dataset.truth()] == ["user1@corp.example"]
    assert len(dataset.truth(published_only=False)) == 2
    time.sleep(0.25)
    assert dataset.pending_count() == 0
    assert len(dataset.truth()) == 2


def test_generate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="before start"):
        ClickDataset.generate(10, start=T0, end=T0 - 1)
    with pytest.raises(ValueError, match="duplicate_fraction"):
        ClickDataset.generate(10, start=T0, end=T0, duplicate_fraction=1.0)
