"""The lean S2/S4 receiver answers the real sinks as their servers do and loses nothing.

Each test starts ``python -m bench.fast_receiver`` as a process, drives the collector's
own ``splunk_hec`` or ``elasticsearch`` sink at it (healthcheck included, so the
answers have the shapes the sinks check), stops it with SIGTERM and compares what it
wrote with what was sent, as multisets.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.delivery import SinkHandle, deliver
from collector.events import Event, content_hash, format_mimecast_date
from collector.sinks import SinkContext
from collector.sinks.registry import sink_config_class

T0 = 1_731_862_950
REPO = Path(__file__).resolve().parents[2]


def _events(count: int) -> list[Event]:
    made: list[Event] = []
    for n in range(count):
        # Every tenth click is byte-identical to the one before: both must arrive.
        page = n - 1 if n % 10 == 9 else n
        click: dict[str, Any] = {"url": f"https://example.org/{page}"}
        click["date"] = format_mimecast_date(T0)
        click |= {"sendingIp": "198.51.100.7", "subject": "Rechnung für Müller", "tagMap": {}}
        seen = sum(1 for earlier in made if earlier.data == click)
        made.append(Event("ttp", f"{content_hash(click)}-{seen}", T0, click))
    return made


class ReceiverProcess:
    """``python -m bench.fast_receiver KIND`` on a free port."""

    def __init__(self, kind: str, out: Path) -> None:
        argv = [sys.executable, "-m", "bench.fast_receiver", kind, "--out", str(out)]
        self.process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        assert port.startswith("port="), port
        assert self.process.stdout.readline().strip() == "ready"
        self.url = f"http://127.0.0.1:{port.removeprefix('port=')}"

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        with self.process:  # closes its stdout
            return self.process.wait(timeout=60)


async def _deliver(options: dict[str, Any], events: list[Event], state: Path) -> None:
    config = sink_config_class(options["type"], key="sinks.out").model_validate(options)
    context = SinkContext(state_dir=state)
    sink = config.build("out", context)
    await sink.start()
    try:
        await sink.healthcheck()
        handle = SinkHandle("out", sink, config.retry_policy(), context.stats)
        for start in range(0, len(events), 70):
            await deliver([handle], events[start : start + 70])
    finally:
        await sink.aclose()


def _received(out: Path) -> Counter[bytes]:
    lines = out.read_bytes().splitlines()
    return Counter(orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS) for line in lines)


def _sent(events: list[Event]) -> Counter[bytes]:
    return Counter(orjson.dumps(event.data, option=orjson.OPT_SORT_KEYS) for event in events)


@pytest.mark.parametrize("compression", ["none", "gzip"])
async def test_hec_receives_every_click_once(tmp_path: Path, compression: str) -> None:
    events = _events(300)
    receiver = ReceiverProcess("hec", tmp_path / "received.ndjson")
    try:
        options = {"type": "splunk_hec", "endpoint": receiver.url, "token": "hec-token-0123"}
        await _deliver({**options, "compression": compression}, events, tmp_path / "state")
    finally:
        assert receiver.stop() == 0
    assert _received(tmp_path / "received.ndjson") == _sent(events)


@pytest.mark.parametrize("ecs", [True, False])
async def test_bulk_receives_every_click_once(tmp_path: Path, ecs: bool) -> None:
    events = _events(300)
    receiver = ReceiverProcess("bulk", tmp_path / "received.ndjson")
    try:
        options: dict[str, Any] = {"type": "elasticsearch", "endpoint": receiver.url}
        options |= {"api_key": "ZW11bGF0b3I6c2VjcmV0LWtleS12YWx1ZQ=="}
        options |= {"format": "ecs", "preserve_original_event": True} if ecs else {"format": "raw"}
        await _deliver(options, events, tmp_path / "state")
    finally:
        assert receiver.stop() == 0
    assert _received(tmp_path / "received.ndjson") == _sent(events)


@pytest.mark.parametrize("kind", ["hec", "bulk"])
async def test_a_request_without_credentials_is_refused_and_not_kept(
    tmp_path: Path, kind: str
) -> None:
    receiver = ReceiverProcess(kind, tmp_path / "received.ndjson")
    body = orjson.dumps({"event": {"url": "x"}})
    try:
        async with httpx.AsyncClient() as client:
            path = "/services/collector/event" if kind == "hec" else "/_bulk"
            reply = await client.post(receiver.url + path, content=body)
    finally:
        assert receiver.stop() == 0
    assert reply.status_code == 401
    assert (tmp_path / "received.ndjson").read_bytes() == b""
