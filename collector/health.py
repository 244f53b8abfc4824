"""Liveness and readiness: one rule, answered over HTTP and from the command line.

Ready means every source completed a cycle (caught up) within 3 x its
``interval_secs``. A fresh process is not ready until each source has done so
once; a source failing for three intervals in a row makes it not ready again.

The daemon also writes the facts to ``<state_dir>/health.json`` (mode 0600) after
every cycle, so ``mimecast-collector health`` can answer without the metrics server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from collector.fsutil import write_atomically
from collector.polling import readiness_interval_secs
from collector.secrets import scrub

if TYPE_CHECKING:
    from collector.app import Collector

READY_WITHIN_INTERVALS = 3
HEALTH_FILE = "health.json"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What readiness needs to know about one source."""

    interval_secs: int
    last_success_at: float | None
    last_error: str | None = None


def readiness_problems(sources: Mapping[str, SourceHealth], now: float) -> list[str]:
    """Why the collector is not ready; an empty list means ready."""
    problems = []
    for name, health in sorted(sources.items()):
        limit = READY_WITHIN_INTERVALS * health.interval_secs
        reason = f"; last error: {health.last_error}" if health.last_error else ""
        if health.last_success_at is None:
            problems.append(f"source {name}: no cycle has completed yet{reason}")
        elif now - health.last_success_at > limit:
            age = int(now - health.last_success_at)
            problems.append(
                f"source {name}: last completed cycle {age}s ago (limit {limit}s){reason}"
            )
    return problems


def snapshot(collector: Collector) -> dict[str, SourceHealth]:
    """The readiness facts of a running collector's sources, errors scrubbed of every secret.

    The one place they are built: both ``/readyz`` (no authentication) and
    ``health.json`` come from here, and an error may quote a peer that echoed a credential.
    """
    return {
        name: SourceHealth(
            readiness_interval_secs(
                collector.config.sources[name].interval_secs, stats.poll_interval_secs
            ),
            stats.last_success_at,
            None if stats.last_error is None else scrub(stats.last_error),
        )
        for name, stats in collector.source_stats.items()
    }


def write_health_file(state_dir: Path, sources: Mapping[str, SourceHealth]) -> None:
    """Atomically replace ``<state_dir>/health.json``, mode 0600 (no fsync: it is advisory).

    0600 because it carries error messages, which may name hosts, paths and a peer's
    words; its only readers (`mimecast-collector health`, a probe) run as the same user.
    """
    document = {
        name: {
            "interval_secs": health.interval_secs,
            "last_success_at": health.last_success_at,
            "last_error": health.last_error,
        }
        for name, health in sources.items()
    }
    write_atomically(state_dir / HEALTH_FILE, orjson.dumps(document), mode=0o600, durable=False)


def read_health_file(state_dir: Path) -> dict[str, SourceHealth]:
    """Read what a running daemon wrote; raises OSError or ValueError."""
    document = orjson.loads((state_dir / HEALTH_FILE).read_bytes())
    return {
        name: SourceHealth(int(item["interval_secs"]), item["last_success_at"], item["last_error"])
        for name, item in document.items()
    }
