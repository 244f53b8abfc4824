"""Sinks: where click events go. The contract every sink follows lives here.

A sink is built from its config model (``SinkConfig.build``), then:

1. ``await sink.start()`` opens what it needs (files, connections). It may fail
   with :class:`~collector.errors.SinkError`.
2. ``await sink.send(events)`` delivers one page of events. **Returning is the
   acknowledgement**: every event has been durably accepted (written and fsynced,
   acknowledged by the receiver, ...). Anything less raises ``SinkError``; the
   checkpoint then stays where it was and the page is sent again later. ``send``
   may be called concurrently by several sources and must be safe for that.
3. ``await sink.healthcheck()`` does what the sink would do to deliver, without
   delivering (Vector's rule: lean towards passing). Raises ``SinkError``.
4. ``await sink.aclose()`` releases everything. Safe to call twice.

Built-in sinks are registered by ``type`` in :mod:`collector.sinks.registry`;
third-party sinks register a ``SinkConfig`` subclass in the entry-point group
``mimecast_collector.sinks`` under their ``type`` name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import Field

from collector.bounds import MAX_DURATION_SECS
from collector.events import Batch
from collector.secrets import SecretsModel
from collector.stats import SinkStats


@runtime_checkable
class Sink(Protocol):
    """What the pipeline needs from a sink. See the module docstring for the contract."""

    name: str

    async def start(self) -> None:
        """Open files or connections. Raise SinkError when that is impossible."""

    async def send(self, events: Batch) -> None:
        """Deliver a page; return only once every event is durably accepted."""

    async def healthcheck(self) -> None:
        """Check the sink could deliver now. Raise SinkError with the reason if not."""

    async def aclose(self) -> None:
        """Release files and connections."""


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink may use from the collector when it is built.

    Attributes:
        state_dir: the collector's ``state_dir`` (dead letters go under
            ``<state_dir>/dead-letter/<sink name>/`` unless configured otherwise).
        stats: this sink's counters; the pipeline counts events, batches, retries
            and errors itself, the sink adds ``bytes`` and ``dead_lettered``.
    """

    state_dir: Path
    stats: SinkStats = field(default_factory=SinkStats)


class SinkConfig(SecretsModel):
    """Base of every sink's config model. Subclasses add ``type: Literal[...]``.

    Unknown keys are errors, the model is frozen, and every ``SecretStr`` field
    ``foo`` may instead be given as ``foo_file`` (see :mod:`collector.secrets`).
    """

    type: str
    inputs: list[str] | None = Field(
        default=None,
        description="Names of the sources this sink takes. Default: every source.",
    )
    retry_max_secs: float = Field(
        default=300.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="How long a page may keep being retried on this sink (receiver down, "
        "timeouts, 5xx) before the cycle fails; the checkpoint then stays where it was "
        "and the next cycle sends the page again.",
    )

    def build(self, name: str, context: SinkContext) -> Sink:
        """Return the sink this config describes, not started yet."""
        raise NotImplementedError(f"sink type {self.type!r} does not implement build()")


__all__ = ["Batch", "Sink", "SinkConfig", "SinkContext"]
