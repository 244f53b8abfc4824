"""Test doubles shared by several test packages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.sources.mimecast.pacer import QuotaPacer


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it; sleeps are kept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def past_the_first_request(pacer: QuotaPacer) -> None:
    """A credential's first request goes alone (nothing is known of its quota yet);
    the pacer tests that use this are about what comes after it, so it gets no answer."""
    pacer.finished(None, ticket=await pacer.acquire())
