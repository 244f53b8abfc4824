"""A lean HEC or bulk receiver for S2 and S4: answer as the server would, check afterwards.

::

    python -m bench.fast_receiver {hec|bulk} --out FILE

It follows the receiver contract of :mod:`bench.emulate` (``port=N``, ``ready``, and on
SIGTERM every accepted click in FILE, one JSON line each), but does during the run only
what a real Splunk or Elasticsearch must do before it answers: read the HTTP/1.1
request, check the credentials header, count the bulk actions, answer. The body is
spooled to disk as it came and decoded only after SIGTERM, so the receiver's CPU no
longer competes with the simulator on the helper CPU. The tests' emulators check every
object as strictly as the tests do and spent 1 (HEC) and 2 (bulk) CPU-seconds per
CPU-second of the collector, which made S2 and S4 measure them rather than the sinks;
``--strict-receivers`` still selects them.

The answers are the servers' own shapes: HEC ``{"text":"Success","code":0}``; bulk
``errors: false`` with one ``create`` item per action, each reduced to its status as
the sink's ``filter_path`` asks.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import signal
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from bench.emulate import click_of_document

_FRAME = struct.Struct("<I")  # length of one spooled body
_BUFFER = 4 << 20  # read large bodies in few chunks
_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found"}
_ROOT = orjson.dumps(
    {"name": "bench", "cluster_name": "bench", "version": {"number": "8.15.0"}}
)  # fmt: skip


class Receiver:
    """Answers one kind of request stream and spools every accepted body."""

    def __init__(self, kind: str, spool: BinaryIO) -> None:
        self.kind = kind
        self.spool = spool

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: requests in order until the peer closes."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, path, headers = _parse_head(head)
                length = int(headers.get(b"content-length", b"0"))
                body = await reader.readexactly(length) if length else b""
                if headers.get(b"content-encoding") == b"gzip":
                    body = gzip.decompress(body)
                status, answer = self.answer(method, path, headers, body)
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s"
                    % (status, _REASONS[status], len(answer), answer)
                )
                await writer.drain()
        except asyncio.LimitOverrunError:
            return
        finally:
            writer.close()

    def answer(
        self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes]:
        """The status and JSON answer the real server gives; spools accepted bodies."""
        auth = headers.get(b"authorization", b"")
        if self.kind == "hec":
            if not auth.startswith(b"Splunk "):
                return 401, b'{"text":"Token is required","code":2}'
            if method == b"GET" and path.endswith(b"/health"):
                return 200, b'{"text":"HEC is healthy","code":17}'
            if not body:
                return 400, b'{"text":"No data","code":5}'
            self._keep(body)
            return 200, b'{"text":"Success","code":0}'
        if not auth:
            return 401, b'{"error":{"type":"security_exception","reason":"missing"}}'
        if method == b"GET":
            return (200, _ROOT) if path == b"/" else (200, b'{"status":"green"}')
        if b"_has_privileges" in path:
            return 200, b'{"has_all_requested":true}'
        if not path.split(b"?")[0].endswith(b"/_bulk"):
            return 404, b'{"error":{"type":"no_handler","reason":"unknown path"}}'
        self._keep(body)
        return 200, _bulk_answer(body)

    def _keep(self, body: bytes) -> None:
        self.spool.write(_FRAME.pack(len(body)))
        self.spool.write(body)


def _parse_head(head: bytes) -> tuple[bytes, bytes, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    method, path, _version = lines[0].split(b" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _bulk_answer(body: bytes) -> bytes:
    """``errors: false`` and one ``create`` item per action, as Elasticsearch answers.

    The sink always asks for ``filter_path=errors,items.*.status,...``, which leaves
    each item only its status.
    """
    actions = sum(1 for line in body.split(b"\n")[0::2] if line)
    return b'{"errors":false,"items":[%b]}' % b",".join([b'{"create":{"status":201}}'] * actions)


def spooled(path: Path) -> Iterator[bytes]:
    """Every spooled body, in arrival order."""
    with open(path, "rb") as spool:
        while frame := spool.read(_FRAME.size):
            yield spool.read(_FRAME.unpack(frame)[0])


def clicks_of(kind: str, body: bytes) -> Iterator[dict[str, Any]]:
    """The clicks one accepted body carries (HEC objects back to back, or bulk pairs)."""
    if kind == "bulk":
        for line in body.split(b"\n")[1::2]:
            yield click_of_document(orjson.loads(line))
        return
    # Imported here: only after SIGTERM, and the tests' HEC emulator splits bodies as HEC does.
    from tests.http_sinks.hec_emulator import parse_objects

    objects, error = parse_objects(body)
    if error is not None:
        raise ValueError(f"an accepted HEC body holds invalid JSON at object {error[0]}")
    yield from (obj["event"] for obj in objects)


async def serve(kind: str, out: Path) -> int:
    """Serve until a stop signal, then write what was accepted; return 0."""
    spool_path = out.with_suffix(".spool")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with open(spool_path, "wb") as spool:
        receiver = Receiver(kind, spool)
        server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0, limit=_BUFFER)
        async with server:
            print(f"port={server.sockets[0].getsockname()[1]}")
            print("ready", flush=True)
            await stop.wait()
    with open(out, "wb") as sink:
        for body in spooled(spool_path):
            for click in clicks_of(kind, body):
                sink.write(orjson.dumps(click, option=orjson.OPT_APPEND_NEWLINE))
    spool_path.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.fast_receiver", description=__doc__)
    parser.add_argument("kind", choices=("hec", "bulk"))
    parser.add_argument("--out", type=Path, required=True, help="accepted clicks go here")
    args = parser.parse_args(argv)
    return asyncio.run(serve(args.kind, args.out))


if __name__ == "__main__":
    raise SystemExit(main())
