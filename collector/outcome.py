"""What one cycle of a source did: counts, and how fresh the clicks it delivered were."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from collector.events import Event
from collector.stats import DelaySummary, Histogram


@dataclass(slots=True)
class CycleOutcome:
    """What one cycle did."""

    pages: int = 0
    events: int = 0
    duplicates: int = 0
    caught_up: bool = False
    interrupted: bool = False
    requests: int = 0
    sweep: bool = False
    """A late sweep was planned (the whole overlap re-read)."""
    catchup: bool = False
    """A pass was cut into slices: a catch-up, which keeps the whole quota."""
    delays: DelaySummary = field(default_factory=DelaySummary)
    """Seconds from each new click's date to its acknowledgement by every sink."""

    def time_delivery(self, events: Sequence[Event], acked_at: float, into: Histogram) -> None:
        """Observe the delivery delay of ``events``, acknowledged at ``acked_at``.

        Clicks whose delays share a histogram bucket and a summary key (a catch-up
        page's delays are days, kept to three digits) are one observation of their
        exact total: the dates are sorted, and each run of them is found by bisection,
        so a page costs a few observations instead of one per click.
        """
        times = sorted([event.time for event in events])
        start, count = 0, len(times)
        while start < count:
            longest = acked_at - times[start]
            run = (into.bucket_of(longest), self.delays.key_of(longest))
            # Both parts only shrink as the dates grow: the run is a prefix of the rest.
            low, high = start + 1, count
            while low < high:
                middle = (low + high) // 2
                delay = acked_at - times[middle]
                if (into.bucket_of(delay), self.delays.key_of(delay)) == run:
                    low = middle + 1
                else:
                    high = middle
            clicks = low - start
            into.observe_total(longest, clicks, acked_at * clicks - sum(times[start:low]))
            self.delays.observe(longest, clicks)
            start = low

    def summary(self) -> dict[str, object]:
        """The ``once`` summary of a source: what it delivered, and how fresh."""
        worst = self.delays.max
        return {
            "events": self.events,
            "pages": self.pages,
            "delay_p50_secs": self.delays.p50,
            "delay_max_secs": None if worst is None else round(worst, 3),
        }
