"""The orjson floor probe (performance.md section 3a), on the benchmark's own pages.

Two steps, each a fresh process started by the harness:

1. ``prepare`` regenerates the simulator's clicks from the seed, writes the truth
   (:mod:`bench.truth`) and the same clicks serialized as the simulator's response
   pages (envelope and ``next``/``previous`` tokens included) to a pages file.
2. ``measure``, pinned to the collector's CPU, reads the pages back 200 at a time
   (untimed) and times, per page::

       orjson.loads(page); orjson.dumps(ev, option=OPT_APPEND_NEWLINE) per event;
       one os.write of the joined lines to a file in the collector's output directory.

That is the least work any collector must do per page; every ratio in the report
divides by it. The timing runs in its own small process on purpose: a process that
still holds 1M generated clicks runs the same loop ~25% slower (a bigger heap), which
would flatter every ratio. Each step prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from bench.truth import DataSpec, write_truth
from collector.simulator import ClickDataset
from collector.simulator.paging import PageToken
from collector.simulator.query import Query

CHUNK_PAGES = 200
"""Pages read at once between timed sections: ~50 MB at page size 500."""

_LENGTH = struct.Struct("<I")

_HEAD = b'{"meta":{"status":200,"pagination":'
_OPEN = b'},"data":[{"clickLogs":['
_CLOSE = b']}],"fail":[]}'


def page_chunks(blobs: list[bytes], page_size: int, snapshot: float) -> Iterator[list[bytes]]:
    """Yield the pages of ``blobs`` as the simulator serves them, ``CHUNK_PAGES`` at a time."""
    total = len(blobs)
    query = Query(0, 2**31, "all", "all", True, snapshot)
    chunk: list[bytes] = []
    for offset in range(0, total, page_size):
        page = blobs[offset : offset + page_size]
        end = offset + len(page)
        pagination: dict[str, object] = {"pageSize": len(page), "totalCount": total}
        if end < total:
            pagination["next"] = PageToken(query, end, page_size, snapshot).encode()
        if offset:
            prev = max(0, offset - page_size)
            pagination["previous"] = PageToken(query, prev, page_size, snapshot).encode()
        head = _HEAD + orjson.dumps(pagination) + _OPEN
        chunk.append(head + b",".join(page) + _CLOSE)
        if len(chunk) == CHUNK_PAGES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_pages(blobs: list[bytes], page_size: int, path: Path) -> int:
    """Write the response pages of ``blobs`` to ``path``, length-prefixed; return the count."""
    pages = 0
    with open(path, "wb") as out:
        for chunk in page_chunks(blobs, page_size, time.time()):
            for page in chunk:
                out.write(_LENGTH.pack(len(page)))
                out.write(page)
            pages += len(chunk)
    return pages


def read_pages(path: Path) -> Iterator[list[bytes]]:
    """Read back :func:`write_pages`' file, ``CHUNK_PAGES`` pages at a time."""
    with open(path, "rb") as source:
        while True:
            chunk = []
            for _ in range(CHUNK_PAGES):
                head = source.read(_LENGTH.size)
                if not head:
                    break
                chunk.append(source.read(_LENGTH.unpack(head)[0]))
            if not chunk:
                return
            yield chunk


def _timed(pages: list[bytes], fd: int) -> tuple[int, float, float]:
    """The floor loop over ``pages``: (events, wall seconds, CPU seconds)."""
    loads, dumps, write = orjson.loads, orjson.dumps, os.write
    line = orjson.OPT_APPEND_NEWLINE
    events = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for page in pages:
        clicks = loads(page)["data"][0]["clickLogs"]
        data = b"".join([dumps(click, option=line) for click in clicks])
        written = write(fd, data)
        if written != len(data):  # regular files take everything; be exact anyway
            view = memoryview(data)[written:]
            while view:
                view = view[write(fd, view) :]
        events += len(clicks)
    return events, time.perf_counter() - wall0, time.process_time() - cpu0


def measure(pages: Path, target: Path, max_chunks: int | None = None) -> dict[str, float]:
    """One timed pass over every page (or the first ``max_chunks`` chunks) into ``target``."""
    events, wall, cpu = 0, 0.0, 0.0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for index, chunk in enumerate(read_pages(pages)):
            if max_chunks is not None and index >= max_chunks:
                break
            n, w, c = _timed(chunk, fd)
            events, wall, cpu = events + n, wall + w, cpu + c
    finally:
        os.close(fd)
        target.unlink(missing_ok=True)
    return {
        "events": events,
        "wall_secs": round(wall, 4),
        "cpu_secs": round(cpu, 4),
        "events_per_sec": round(events / wall, 1) if wall else 0.0,
        "cpu_s_per_100k": round(cpu / events * 100_000, 4) if events else 0.0,
    }


def click_shape(blobs: list[bytes], sample: int = 20_000) -> dict[str, object]:
    """What the clicks look like, from an even sample: mean size and field presence.

    Returns ``mean_click_bytes`` and ``fields``: each field name with the share of
    clicks carrying it, so the report shows which shape (v1 or API 2.0) was measured.
    """
    if not blobs:
        return {"mean_click_bytes": 0, "fields": {}}
    step = max(1, len(blobs) // sample)
    picked = blobs[::step]
    seen: dict[str, int] = {}
    for blob in picked:
        for name in orjson.loads(blob):
            seen[name] = seen.get(name, 0) + 1
    return {
        "mean_click_bytes": round(sum(map(len, picked)) / len(picked)),
        "fields": {name: round(count / len(picked), 3) for name, count in seen.items()},
    }


def prepare(args: argparse.Namespace) -> dict[str, object]:
    """Regenerate the clicks; write the truth digests and the pages file."""
    spec = DataSpec(args.clicks, args.seed, args.start, args.end, args.rich)
    started = time.perf_counter()
    dataset = ClickDataset.generate(
        spec.clicks, start=spec.start, end=spec.end, seed=spec.seed, rich=spec.rich
    )
    blobs = dataset.select(
        start=spec.start, stop=spec.end + 1, route="all", scan_result="all", snapshot=time.time()
    )
    del dataset  # only the serialized clicks are needed from here on
    return {
        "clicks": len(blobs),
        **click_shape(blobs),
        "truth_count": write_truth(blobs, args.truth),
        "pages": write_pages(blobs, args.page_size, args.pages),
        "page_size": args.page_size,
        "prepare_secs": round(time.perf_counter() - started, 2),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    """Time ``args.reps`` passes over the pages file, after a one-chunk warm-up."""
    target = args.dir / f"floor-{os.getpid()}.ndjson"
    measure(args.pages, target, max_chunks=1)
    reps = [measure(args.pages, target) for _ in range(args.reps)]
    return {"reps": reps, "cpus": sorted(os.sched_getaffinity(0))}


def main(argv: list[str] | None = None) -> int:
    """``prepare`` or ``measure``; prints the result as one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    prep = steps.add_parser("prepare", help="write the truth and the pages file")
    prep.add_argument("--clicks", type=int, required=True)
    prep.add_argument("--seed", type=int, default=1)
    prep.add_argument("--start", type=int, required=True, help="first click date, epoch s")
    prep.add_argument("--end", type=int, required=True, help="last click date, epoch s")
    prep.add_argument("--rich", action="store_true", help="API 2.0 clicks (else v1 fields)")
    prep.add_argument("--page-size", type=int, default=500)
    prep.add_argument("--truth", type=Path, required=True, help="truth digests file to write")
    prep.add_argument("--pages", type=Path, required=True, help="pages file to write")
    timed = steps.add_parser("measure", help="time the floor over a pages file")
    timed.add_argument("--pages", type=Path, required=True)
    timed.add_argument("--reps", type=int, default=5, help="timed passes after a warm-up")
    timed.add_argument("--dir", type=Path, required=True, help="where the floor writes")
    args = parser.parse_args(argv)
    result = prepare(args) if args.step == "prepare" else run(args)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
