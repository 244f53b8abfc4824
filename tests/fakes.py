"""Test doubles shared by several test packages."""

from __future__ import annotations


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
