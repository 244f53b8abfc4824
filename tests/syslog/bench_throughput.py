"""Throughput of a 200k-click backlog: file sink vs syslog sink over TCP and TLS to rsyslog.

Not a test (pytest does not collect it). Run: ``.venv/bin/python -m tests.syslog.bench_throughput``.

For each sink, in the same process and against the same simulated backlog: a fresh
state dir, a fresh in-process Simulator serving the dataset, then
config dict -> parse_config -> Collector -> run_once, timed end to end (the Mimecast
client, dedup, checkpoints and the sink all included). For syslog, the time until
rsyslog has written every message is reported too, and the output is checked:
whether every click arrived, and how many twice.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import trustme

from collector.app import Collector
from collector.config import parse_config
from collector.daemon import run_once
from collector.events import Event
from collector.logging import configure_logging
from collector.simulator import ClickDataset, Simulator
from collector.sinks.syslog import SyslogSinkConfig
from collector.sinks.syslog.sink import page_encoder

from .parsers import parse_5424
from .rsyslog import Rsyslogd, TlsFiles


async def _run(dataset: ClickDataset, sink: dict[str, Any], state: Path) -> tuple[float, int]:
    async with Simulator(dataset=dataset) as sim:
        config = parse_config(
            {
                "state_dir": str(state),
                "sources": {
                    "url_clicks": {
                        "type": "mimecast_ttp_url",
                        "base_url": sim.base_url,
                        "client_id": sim.config.client_id,
                        "client_secret": sim.config.client_secret,
                        "initial_lookback_secs": 86400,
                    }
                },
                "sinks": {"out": sink},
            }
        )
        async with Collector(config) as collector:
            started = time.perf_counter()
            results = await run_once(collector, asyncio.Event())
            elapsed = time.perf_counter() - started
            assert results["url_clicks"] is None, results
            stats = collector.sinks["out"].stats
            if stats.retries:
                print(f"  ({stats.retries} retries: {dict(stats.errors)})")
            return elapsed, stats.events


def _check(daemon: Rsyslogd, app: str, truth: Counter[bytes], started: float) -> str:
    """Wait until rsyslog wrote everything; compare its MSGs with the truth."""
    path, expected = daemon.out / f"{app}.jsonl", sum(truth.values())
    deadline = time.monotonic() + 300
    while (path.read_bytes().count(b"\n") if path.exists() else 0) < expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    drained = time.perf_counter() - started
    time.sleep(1)  # let any extra copy arrive before counting
    received = Counter(_msg(line) for line in path.read_bytes().splitlines())
    missing = sum((truth - received).values())
    extra = sum((received - truth).values())
    return f"rsyslog wrote all in {drained:.2f} s; {missing} missing, {extra} extra"


def _msg(line: bytes) -> bytes:
    if line.startswith(b"{"):  # a JSON record of the tests' receiver
        return str(orjson.loads(line)["msg"]).encode()
    return parse_5424(line).msg  # a raw message


def _encode_rate(dataset: ClickDataset, fmt: str) -> float:
    config = SyslogSinkConfig.model_validate(
        {"type": "syslog", "address": "x", "mode": "tcp", "format": fmt}
    )
    encoder = page_encoder(config, hostname="bench.example", procid="1")
    clicks = dataset.truth()
    events = [Event("url_clicks", f"{n:032x}-0", 1_731_862_950, c) for n, c in enumerate(clicks)]
    started = time.perf_counter()
    for i in range(0, len(events), 500):
        encoder.encode(events[i : i + 500])
    return len(events) / (time.perf_counter() - started)


async def main(count: int, rounds: int, raw_only: bool) -> None:
    configure_logging("warning")
    root = Path(tempfile.mkdtemp(prefix="syslog-bench-"))
    now = int(time.time())
    dataset = ClickDataset.generate(count, start=now - 80_000, end=now - 600, seed=42)
    truth = Counter(orjson.dumps(c) for c in dataset.truth())
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(root / "ca.pem")
    server.cert_chain_pems[0].write_to_path(root / "server.pem")
    server.private_key_pem.write_to_path(root / "server.key")
    tls = TlsFiles(root / "ca.pem", root / "server.pem", root / "server.key")
    plain_daemon = Rsyslogd(root / "rs-plain", raw_only=raw_only)
    tls_daemon = Rsyslogd(root / "rs-tls", tls, raw_only=raw_only)
    plain_daemon.start()
    tls_daemon.start()
    receiver = "raw lines" if raw_only else "JSON records of 14 properties"
    print(f"{count} clicks, {len(truth)} distinct; rsyslog writes {receiver}")
    try:
        for round_no in range(rounds):
            kinds: list[tuple[str, dict[str, Any], Rsyslogd | None]] = [
                ("file", {"type": "file", "path": str(root / f"out-{round_no}.ndjson")}, None),
                ("syslog tcp", _syslog(plain_daemon, "tcp", f"bench-tcp-{round_no}"), plain_daemon),
                (
                    "syslog tls",
                    _syslog(tls_daemon, "tls", f"bench-tls-{round_no}", root),
                    tls_daemon,
                ),
            ]
            for name, sink, daemon in kinds:
                state = root / f"state-{name.replace(' ', '-')}-{round_no}"
                elapsed, events = await _run(dataset, sink, state)
                line = f"round {round_no + 1} {name:10s} {events / elapsed:9,.0f} ev/s ({elapsed:.2f} s)"
                if daemon is not None:
                    started = time.perf_counter() - elapsed
                    line += "; " + await asyncio.to_thread(
                        _check, daemon, sink["app_name"], truth, started
                    )
                print(line, flush=True)
        for fmt in ("json", "cef", "leef"):
            print(f"encoder alone, {fmt}: {_encode_rate(dataset, fmt):,.0f} ev/s")
    finally:
        plain_daemon.stop()
        tls_daemon.stop()
        shutil.rmtree(root)  # hundreds of MB of output


def _syslog(daemon: Rsyslogd, mode: str, app: str, root: Path | None = None) -> dict[str, Any]:
    sink: dict[str, Any] = {
        "type": "syslog",
        "address": f"127.0.0.1:{daemon.tcp_port}",
        "mode": mode,
        "app_name": app,
        "hostname": "bench.example",
    }
    if root is not None:
        sink["ca_file"] = str(root / "ca.pem")
    return sink


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--raw", action="store_true", help="rsyslog writes raw lines only")
    args = parser.parse_args()
    asyncio.run(main(args.clicks, args.rounds, args.raw))
