"""The simulator's truth, recomputed by the harness, and the check of what was delivered.

The simulator's clicks are a pure function of (count, span, seed, field set), so the
harness regenerates them in its own process (the floor probe, :mod:`bench.floor`) and
never trusts the process under test to say what it served.

Clicks are compared as **multisets**: byte-identical clicks are real (the dataset holds
about 2% of them) and each copy must arrive exactly once. A click is identified by an
8-byte BLAKE2b digest of its canonical form ``orjson.dumps(click, OPT_SORT_KEYS)``, so
5M clicks take one integer each instead of their 500-byte JSON (a chance collision
among 5M digests is about 1 in 10^6, and would only hide one error, never invent one).
"""

from __future__ import annotations

import gzip
import hashlib
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

_SORT = orjson.OPT_SORT_KEYS


@dataclass(frozen=True, slots=True)
class DataSpec:
    """Which clicks the simulator serves: enough to generate them again anywhere.

    Attributes:
        clicks: how many (duplicates included).
        seed: the dataset seed.
        start: first click date, epoch seconds.
        end: last click date, epoch seconds.
        rich: realistic API 2.0 clicks (the harness's default since issue 13); False
            keeps the 12 documented fields (the ~484-byte clicks performance.md
            measured the floor with).
    """

    clicks: int
    seed: int
    start: int
    end: int
    rich: bool = False

    def simulator_args(self) -> list[str]:
        """The ``simulate`` options that produce exactly these clicks."""
        args = ["--clicks", str(self.clicks), "--seed", str(self.seed)]
        args += ["--start-epoch", str(self.start), "--end-epoch", str(self.end)]
        return args if self.rich else [*args, "--v1-fields"]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the JSON report."""
        return asdict(self)


def digest(raw: bytes) -> int:
    """Return the 64-bit identity of one click given as JSON (any key order, any spacing).

    A delivered envelope (``{"event_id", ..., "log": {click}}``) is reduced to its click,
    so sinks that wrap clicks are checked the same way.
    """
    value = orjson.loads(raw)
    if isinstance(value, dict) and "event_id" in value and isinstance(value.get("log"), dict):
        value = value["log"]
    canonical = orjson.dumps(value, option=_SORT)
    return int.from_bytes(hashlib.blake2b(canonical, digest_size=8).digest(), "little")


def write_truth(blobs: Iterable[bytes], path: Path) -> int:
    """Write the digest of every click to ``path`` (native uint64s); return the count."""
    digests = array("Q", (digest(blob) for blob in blobs))
    with open(path, "wb") as out:
        digests.tofile(out)
    return len(digests)


def load_truth(path: Path) -> Counter[int]:
    """Read a file written by :func:`write_truth` as a multiset of digests."""
    digests = array("Q")
    digests.frombytes(path.read_bytes())
    return Counter(digests)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What was delivered, against the truth.

    Attributes:
        expected: clicks in the truth.
        delivered: lines read from the outputs.
        missing: truth copies never delivered.
        duplicated: deliveries beyond the number of copies in the truth.
        unexpected: deliveries of clicks that are not in the truth at all.
        malformed: lines that are not JSON.
    """

    expected: int
    delivered: int
    missing: int
    duplicated: int
    unexpected: int
    malformed: int

    @property
    def correct(self) -> bool:
        """Every click exactly once, nothing else."""
        return not (self.missing or self.duplicated or self.unexpected or self.malformed)


def verify(lines: Iterable[bytes], truth: Counter[int]) -> Verdict:
    """Compare delivered click lines with the truth, streaming the lines.

    Args:
        lines: one click (or envelope) per item; blank items are skipped.
        truth: from :func:`load_truth`; it is not modified.
    """
    remaining = truth.copy()
    delivered = unexpected = malformed = 0
    for line in lines:
        if not line.strip():
            continue
        delivered += 1
        try:
            key = digest(line)
        except orjson.JSONDecodeError:
            malformed += 1
            continue
        left = remaining.get(key)
        if left is None:
            unexpected += 1
        else:
            remaining[key] = left - 1
    missing = sum(count for count in remaining.values() if count > 0)
    duplicated = -sum(count for count in remaining.values() if count < 0)
    return Verdict(
        expected=truth.total(),
        delivered=delivered,
        missing=missing,
        duplicated=duplicated,
        unexpected=unexpected,
        malformed=malformed,
    )


def output_files(active: Path) -> list[Path]:
    """The file sink's active file and every rotated sibling (``<name>.<time>[.gz]``)."""
    found = sorted(active.parent.glob(active.name + ".*"))
    return [*found, active] if active.exists() else found


def read_lines(paths: Iterable[Path]) -> Iterator[bytes]:
    """Yield every line of ``paths`` in order, gunzipping ``.gz`` files."""
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as stream:
            yield from stream
