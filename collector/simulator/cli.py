"""``mimecast-collector simulate``: run the simulator until SIGINT or SIGTERM.

On start it prints one ``name=value`` fact per line (base URL, credentials, data
range), then ``ready``, so a parent process can read what it needs and go. On
stop it prints ``stats=<json>`` with the counters, the number of requests that
crossed a 429's wait (``gate_violations``) and the CPU time used.

``--quirk NAME[=VALUE]`` and ``--fault KIND=RATE`` switch on the quirk matrix and
any fault kind (docs/simulator.md); cli_kinds.py has the attachment and
impersonation endpoints' options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

import orjson

from collector.events import format_iso
from collector.simulator.cli_kinds import add_kind_arguments, kind_datasets, kind_settings
from collector.simulator.config import SimulatorConfig
from collector.simulator.dataset import ClickDataset
from collector.simulator.faults import FAULT_KINDS, RETRYABLE_FAULTS, FaultPlan, QuotaConfig
from collector.simulator.quirks import QUIRKS, parse_quirk
from collector.simulator.recording import GateViolation
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
        help="last pages keep a next token that leads to an empty page "
        "(the same as --quirk empty_page=fresh_token)",
    )
    parser.add_argument(
        "--quirk",
        type=_quirk,
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="switch on a quirk (repeatable): "
        + "; ".join(f"{name}{text}" for name, (_, text) in QUIRKS.items()),
    )
    parser.add_argument(
        "--gate-slack-ms",
        type=float,
        default=50.0,
        help="stats' gate_violations: a request this soon after a 429 was in flight already",
    )
    parser.add_argument(
        "--gate-assumed-wait-ms",
        type=float,
        default=None,
        help="stats' gate_violations: the wait of a 429 whose Reset is absent, 0, negative "
        "or nan (default: such 429s are not checked)",
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND=RATE",
        help="inject fault KIND into this share of get-logs requests (repeatable); "
        f"kinds: {', '.join(FAULT_KINDS)}",
    )
    add_kind_arguments(parser)


async def serve(args: argparse.Namespace) -> int:
    """Run the simulator described by ``args`` until SIGINT/SIGTERM; return 0 (2: bad options)."""
    try:
        start, end = data_span(args, now=int(time.time()))
        config = simulator_config(args)
        faults = FaultPlan(seed=args.seed, rates=fault_rates(args))
        attachments, impersonations = kind_datasets(args, start=start, end=end)
    except ValueError as error:
        print(f"simulate: usage error: {error}", file=sys.stderr)
        return 2
    dataset = ClickDataset.generate(
        args.clicks, start=start, end=end, seed=args.seed, rich=not args.v1_fields
    )
    simulator = Simulator(
        config, dataset, faults, attachments=attachments, impersonations=impersonations
    )
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
            "attachments": len(attachments),
            "impersonations": len(impersonations),
            "from": format_iso(start),
            "to": format_iso(end),
        }
        for name, value in facts.items():
            print(f"{name}={value}")
        print("ready", flush=True)
        if args.live_rate > 0:
            simulator.start_live(
                args.live_rate, late_fraction=args.late_fraction, kinds=args.live_kind or ("url",)
            )
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
        await simulator.stop()
    summary = simulator.stats.as_dict() | {
        "gate_violations": len(gate_violations(simulator, args)),
        "cpu_secs": round(time.process_time(), 3),
    }
    print(f"stats={orjson.dumps(summary).decode()}", flush=True)
    return 0


def simulator_config(args: argparse.Namespace) -> SimulatorConfig:
    """Return the settings the options ask for; ``--quirk`` wins over the older flags.

    Raises:
        ValueError: the options contradict each other or a value is out of range.
    """
    quota = args.quota
    if quota is not None and args.quota_body != quota.body_style:
        quota = QuotaConfig(quota.limit, quota.period_secs, args.quota_body)
    settings: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "latency_secs": args.latency_ms / 1000,
        "quota": quota,
        "page_token_ttl_secs": args.page_token_ttl_secs,
        "empty_page_with_next": args.empty_page_with_next,
        "seed": args.seed,
        **kind_settings(args),
    }
    settings.update(args.quirk)
    if settings.get("empty_page", "fresh_token") != "fresh_token":
        settings["empty_page_with_next"] = False
    return SimulatorConfig(**settings)


def gate_violations(simulator: Simulator, args: argparse.Namespace) -> list[GateViolation]:
    """The requests that crossed a 429's wait, with the ``--gate-*`` options."""
    assumed_ms = args.gate_assumed_wait_ms
    return simulator.stats.gate_violations(
        slack_secs=args.gate_slack_ms / 1000,
        assumed_wait_secs=assumed_ms / 1000 if assumed_ms is not None else None,
    )


def fault_rates(args: argparse.Namespace) -> dict[str, float] | None:
    """Return the fault rates of ``--fault-rate`` and ``--fault`` (None: no faults)."""
    rates: dict[str, float] = {}
    if args.fault_rate > 0:
        rates = {kind: args.fault_rate / len(RETRYABLE_FAULTS) for kind in RETRYABLE_FAULTS}
    for kind, rate in args.fault:
        rates[kind] = rates.get(kind, 0.0) + rate
    return rates or None


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


def _quirk(text: str) -> tuple[str, Any]:
    try:
        return parse_quirk(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _fault(text: str) -> tuple[str, float]:
    kind, sep, rate_text = text.partition("=")
    if kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(
            f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}"
        )
    try:
        rate = float(rate_text) if sep else float("nan")
    except ValueError:
        rate = float("nan")
    if not 0.0 < rate <= 1.0:
        raise argparse.ArgumentTypeError(f"expected KIND=RATE with 0 < RATE <= 1, got {text!r}")
    return kind, rate
