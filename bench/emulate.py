"""Run one of the tests' protocol emulators as a receiver process, for S2 and S4.

The HEC and Elasticsearch emulators of ``tests/http_sinks/`` are in-process servers
(async context managers that keep what they accepted). This wrapper gives them the
process contract every benchmark receiver follows::

    python -m bench.emulate {hec|bulk} --out FILE

prints ``port=N`` and ``ready``, serves on 127.0.0.1 until SIGTERM/SIGINT, then writes
every click it accepted to FILE, one JSON line each, and exits 0. The emulators check
the protocol as strictly as the tests do, so their own CPU cost is reported as the
receiver's share; they are not tuned for speed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

EMULATORS = {
    "hec": ("tests.http_sinks.hec_emulator", "HecEmulator"),
    "bulk": ("tests.http_sinks.bulk_emulator", "BulkEmulator"),
}
"""Receiver kind -> (module, class) of the tests' emulator."""


def accepted_clicks(kind: str, emulator: Any) -> Iterator[dict[str, Any]]:
    """The clicks an emulator holds: HEC ``event`` bodies, or bulk documents."""
    if kind == "hec":
        for stored in emulator.stored:
            yield stored["event"]
        return
    for documents in emulator.indices.values():
        for document in documents.values():
            yield click_of_document(document)


def click_of_document(document: dict[str, Any]) -> dict[str, Any]:
    """The click an Elasticsearch document was made from."""
    ecs_event = document.get("event")
    original = ecs_event.get("original") if isinstance(ecs_event, dict) else None
    if isinstance(original, str):
        # format = "ecs" with preserve_original_event: the click as received.
        click: dict[str, Any] = orjson.loads(original)
        return click
    # format = "raw" documents are the click plus the @timestamp the sink adds.
    return {key: value for key, value in document.items() if key != "@timestamp"}


async def serve(kind: str, out: Path) -> int:
    """Serve until a stop signal, then write what was accepted; return 0."""
    module_name, class_name = EMULATORS[kind]
    emulator = getattr(importlib.import_module(module_name), class_name)()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with emulator:
        print(f"port={urlsplit(emulator.url).port}")
        print("ready", flush=True)
        await stop.wait()
    line = orjson.OPT_APPEND_NEWLINE
    with open(out, "wb") as sink:
        for click in accepted_clicks(kind, emulator):
            sink.write(orjson.dumps(click, option=line))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.emulate", description=__doc__)
    parser.add_argument("kind", choices=sorted(EMULATORS))
    parser.add_argument("--out", type=Path, required=True, help="accepted clicks go here")
    args = parser.parse_args(argv)
    return asyncio.run(serve(args.kind, args.out))


if __name__ == "__main__":
    raise SystemExit(main())
