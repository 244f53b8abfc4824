"""Sinks: where click events go. The contract every sink follows lives here.

A sink is built from its config model (``SinkConfig.build``), then:

1. ``await sink.start()`` opens what it needs (files, connections, TLS files). It may
   fail with :class:`~collector.errors.SinkError`, or with a
   :class:`~collector.errors.ConfigError` naming the key of a file it cannot load.
2. ``await sink.send(events)`` makes **one attempt** at delivering one page of events.
   **Returning is the acknowledgement**: every event has been durably accepted
   (written and fsynced, acknowledged by the receiver, set aside as a dead letter,
   ...). Anything less raises ``SinkError``; the checkpoint then stays where it was
   and the page is sent again later. ``send`` may be called concurrently by several
   sources and must be safe for that.
3. ``await sink.healthcheck()`` does what the sink would do to deliver, without
   delivering (Vector's rule: lean towards passing). Raises ``SinkError``.
4. ``await sink.aclose()`` releases everything. Safe to call twice.

``send`` and ``healthcheck`` before ``start`` has been called (or after ``aclose``)
raise ``SinkError("send() before start() or after aclose()")`` in every sink, rather
than starting lazily: the collector starts every sink before the first cycle, so a
send that finds its sink unstarted is a bug in the caller, and loading TLS files in the
middle of a delivery would turn a config error into a delivery failure. (Connections
are still opened at first use, and opened again when lost.)

**Who retries.** A sink never waits and tries again: :mod:`collector.delivery` owns
every retry of every sink, with one budget per sink (``retry_max_secs``, see
:meth:`SinkConfig.retry_policy`), and dead-letter replay goes through it too. A
failure worth retrying is raised as :class:`~collector.errors.TransientSinkError`;
any other ``SinkError`` fails the page at once. Why there, and not inside ``send``:
one budget cannot be spent twice (a sink retrying inside a retried ``send`` would
double it), the retries and errors of every sink, plug-ins included, are counted in
one place, and partial progress is not lost, because a sink that delivered part of a
page (an HTTP sink whose batches were half indexed) says what is left in the error's
``pending``, and the next attempt sends only that.

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
from collector.errors import SinkError
from collector.events import Batch
from collector.retry import RetryPolicy
from collector.secrets import SecretsModel
from collector.stats import SinkStats


@runtime_checkable
class Sink(Protocol):
    """What the pipeline needs from a sink. See the module docstring for the contract."""

    name: str

    async def start(self) -> None:
        """Open files or connections. Raise SinkError when that is impossible."""

    async def send(self, events: Batch) -> None:
        """One attempt at a page; return only once every event is durably accepted.

        Raise TransientSinkError (with ``pending`` when part of the page was accepted)
        for what is worth retrying, SinkError for anything else.
        """

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
        stats: this sink's counters, and the only place its counts go; delivery
            counts events, batches, retries and errors itself, the sink adds what
            only it sees (``bytes``, ``dead_lettered``, ``truncated``,
            ``already_stored``, ``resent``).
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

    def retry_policy(self) -> RetryPolicy:
        """The budget (and backoff) :mod:`collector.delivery` retries this sink's pages with."""
        return RetryPolicy(max_secs=self.retry_max_secs)


def not_started(sink: str, what: str = "send()") -> SinkError:
    """The error of a sink used before ``start()`` or after ``aclose()`` (see the contract)."""
    return SinkError(sink, f"{what} before start() or after aclose()")


__all__ = ["Batch", "Sink", "SinkConfig", "SinkContext", "not_started"]
