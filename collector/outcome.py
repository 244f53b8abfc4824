"""What one cycle of a source did: counts, and how fresh the clicks it delivered were."""

from __future__ import annotations

from collections import Counter
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

        A catch-up page's delays (days, kept to three digits) usually share one
        histogram bucket and one summary key: then the page is one observation of its
        exact total. Otherwise one observation per distinct date.
        """
        if not events:
            return
        times = [event.time for event in events]
        longest, shortest = acked_at - min(times), acked_at - max(times)
        if into.same_bucket(shortest, longest) and self.delays.same_key(shortest, longest):
            into.observe_total(longest, len(times), acked_at * len(times) - sum(times))
            self.delays.observe(shortest, len(times) - 1)
            self.delays.observe(longest)
            return
        for date, clicks in Counter(times).items():
            delay = acked_at - date
            into.observe(delay, clicks)
            self.delays.observe(delay, clicks)

    def summary(self) -> dict[str, object]:
        """The ``once`` summary of a source: what it delivered, and how fresh."""
        worst = self.delays.max
        return {
            "events": self.events,
            "pages": self.pages,
            "delay_p50_secs": self.delays.p50,
            "delay_max_secs": None if worst is None else round(worst, 3),
        }
