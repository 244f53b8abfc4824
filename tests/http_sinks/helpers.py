"""Events, virtual time and truth comparisons for the HTTP sink tests."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson

from collector.events import Event, content_hash, format_mimecast_date
from collector.retry import RetryPolicy

T0 = 1_731_862_950  # 2024-11-17T17:02:30Z


def click(n: int, **changes: Any) -> dict[str, Any]:
    """A Mimecast-shaped click log; ``n`` makes it unique."""
    data: dict[str, Any] = {
        "userEmailAddress": f"user{n}@example.com",
        "fromUserEmailAddress": "billing@example.net",
        "url": f"https://example.org/track/{n}?id=x{n}",
        "ttpDefinition": "Default Inbound URL Protect Definition",
        "subject": "Rechnung für Müller",
        "action": "allow",
        "adminOverride": "N/A",
        "userOverride": "None",
        "scanResult": "clean",
        "category": "Business",
        "sendingIp": "198.51.100.7",
        "userAwarenessAction": "NA",
        "date": format_mimecast_date(T0 + n),
        "actions": "Allow",
        "route": "inbound",
        "creationMethod": "User Click",
        "emailPartsDescription": ["Body"],
        "messageId": f"<{n}@mail.example.net>",
    }
    data.update(changes)
    return data


def event_of(data: dict[str, Any], *, source: str = "ttp", occurrence: int = 0) -> Event:
    """The Event the pipeline would make of ``data``."""
    from collector.events import parse_mimecast_date

    return Event(
        source=source,
        event_id=f"{content_hash(data)}-{occurrence}",  # as collector.dedup makes it
        time=parse_mimecast_date(data["date"]),
        data=data,
    )


def events(count: int, *, start: int = 0) -> list[Event]:
    """``count`` distinct events."""
    return [event_of(click(n)) for n in range(start, start + count)]


class VirtualTime:
    """A clock and a sleep for RetryPolicy: waits are recorded, not waited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, secs: float) -> None:
        self.waits.append(secs)
        self.now += secs
        await asyncio.sleep(0)

    def policy(self, max_secs: float = 300.0) -> RetryPolicy:
        return RetryPolicy(
            max_secs=max_secs,
            initial_backoff_secs=1.0,
            max_backoff_secs=8.0,
            sleep=self.sleep,
            clock=self.clock,
            rng=random.Random(7),
        )


def canonical(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def multiset(clicks: Iterable[Any]) -> Counter[bytes]:
    """Clicks as a multiset of canonical JSON, for exactly-once comparisons."""
    return Counter(canonical(c) for c in clicks)


def missing_and_doubled(stored: Iterable[Any], truth: Iterable[Any]) -> tuple[int, int]:
    """How many truth clicks are missing from ``stored``, and how many are extra."""
    have, want = multiset(stored), multiset(truth)
    return sum((want - have).values()), sum((have - want).values())
