"""``mimecast-collector simulate``: run the simulator until SIGINT or SIGTERM.

On start it prints one ``name=value`` fact per line (base URL, credentials, data
range), then ``ready``, so a parent process can read what it needs and go. On
stop it prints ``stats=<json>`` with the counters and the CPU time used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time

import orjson

from collector.events import format_iso
from collector.simulator.config import SimulatorConfig
from collector.simulator.dataset import ClickDataset
from collector.simulator.faults import RETRYABLE_FAULTS, FaultPlan, QuotaConfig
from collector.simulator.server import Simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 = any free")
    parser.add_argument("--clicks", type=int, default=10_000, help="clicks to generate")
    parser.add_argument(
        "--days", type=float, default=7.0, help="spread the clicks over the last N days"
    )
    parser.add_argument(
        "--start-epoch",
        type=int,
        default=None,
        metavar="SECS",
        help="first click date (epoch seconds); default: --days before the end",
    )
    parser.add_argument(
        "--end-epoch",
        type=int,
        default=None,
        metavar="SECS",
        help="last click date (epoch seconds); default: now. With --start-epoch, the data "
        "no longer depends on when the simulator starts, so another process can "
        "regenerate the same clicks from the seed (the benchmark's truth)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for data and faults")
    parser.add_argument(
        "--v1-fields",
        action="store_true",
        help="only the 12 documented click fields (smaller clicks, as in the benchmarks)",
    )
    parser.add_argument(
        "--live-rate", type=float, default=0.0, help="new clicks per second (0 = no live mode)"
    )
    parser.add_argument(
        "--late-fraction", type=float, default=0.2, help="share of live clicks published late"
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="probability that a get-logs request gets a random retryable fault "
        f"({', '.join(RETRYABLE_FAULTS)})",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every get-logs answer"
    )
    parser.add_argument(
        "--quota",
        type=_quota,
        default=None,
        metavar="LIMIT/PERIOD_SECS",
        help="request quota, e.g. 100/36 (429 when exceeded)",
    )
    parser.add_argument(
        "--quota-body",
        choices=("fail", "detail"),
        default="fail",
        help="429 body style: Mimecast fail[] or API 2.0 gateway detail",
    )
    parser.add_argument(
        "--page-token-ttl-secs", type=float, default=None, help="reject older page tokens"
    )
    parser.add_argument(
        "--empty-page-with-next",
        action="store_true",
        help="last pages keep a next token that leads to an empty page",
    )


async def serve(args: argparse.Namespace) -> int:
    """Run the simulator described by ``args`` until SIGINT/SIGTERM; return 0 (2: bad span)."""
    try:
        start, end = data_span(args, now=int(time.time()))
    except ValueError as error:
        print(f"simulate: usage error: {error}", file=sys.stderr)
        return 2
    dataset = ClickDataset.generate(
        args.clicks, start=start, end=end, seed=args.seed, rich=not args.v1_fields
    )
    rates = None
    if args.fault_rate > 0:
        rates = {kind: args.fault_rate / len(RETRYABLE_FAULTS) for kind in RETRYABLE_FAULTS}
    quota = args.quota
    if quota is not None and args.quota_body != quota.body_style:
        quota = QuotaConfig(quota.limit, quota.period_secs, args.quota_body)
    config = SimulatorConfig(
        host=args.host,
        port=args.port,
        latency_secs=args.latency_ms / 1000,
        quota=quota,
        page_token_ttl_secs=args.page_token_ttl_secs,
        empty_page_with_next=args.empty_page_with_next,
        seed=args.seed,
    )
    simulator = Simulator(config, dataset, FaultPlan(seed=args.seed, rates=rates))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    await simulator.start()
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        facts = {
            "base_url": simulator.base_url,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "app_id": config.app_id,
            "app_key": config.app_key,
            "access_key": config.access_key,
            "secret_key": config.secret_key,
            "clicks": len(dataset),
            "from": format_iso(start),
            "to": format_iso(end),
        }
        for name, value in facts.items():
            print(f"{name}={value}")
        print("ready", flush=True)
        if args.live_rate > 0:
            simulator.start_live(args.live_rate, late_fraction=args.late_fraction)
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
        await simulator.stop()
    summary = simulator.stats.as_dict() | {"cpu_secs": round(time.process_time(), 3)}
    print(f"stats={orjson.dumps(summary).decode()}", flush=True)
    return 0


def data_span(args: argparse.Namespace, *, now: int) -> tuple[int, int]:
    """Return the ``(start, end)`` epoch seconds the generated clicks are spread over.

    Raises:
        ValueError: the span ends before it starts.
    """
    end = now if args.end_epoch is None else args.end_epoch
    start = end - int(args.days * 86_400) if args.start_epoch is None else args.start_epoch
    if start > end:
        raise ValueError(f"--start-epoch {start} is after the end of the data ({end})")
    return start, end


def _quota(text: str) -> QuotaConfig:
    limit, sep, period = text.partition("/")
    try:
        if not sep:
            raise ValueError(text)
        return QuotaConfig(int(limit), float(period))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected LIMIT/PERIOD_SECS such as 100/36, got {text!r}"
        ) from error
