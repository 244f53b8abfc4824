"""``simulate``'s options for the attachment and impersonation endpoints.

``--attachments N`` and ``--impersonations N`` fill those endpoints (default: empty,
so an old command line serves what it always did); ``--deny-kind KIND`` makes an
endpoint answer as if the application role lacked its permission, in the style of
``--permission-error``; ``--live-kind KIND`` picks the endpoints live mode feeds.
"""

from __future__ import annotations

import argparse
from typing import Any

from collector.simulator.config import LOG_KINDS
from collector.simulator.ttp_datasets import AttachmentDataset, ImpersonationDataset


def add_kind_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the per-endpoint options to ``parser``."""
    parser.add_argument(
        "--attachments", type=int, default=0, help="attachment logs to generate (default 0)"
    )
    parser.add_argument(
        "--impersonations", type=int, default=0, help="impersonation logs to generate (default 0)"
    )
    parser.add_argument(
        "--deny-kind",
        choices=LOG_KINDS,
        action="append",
        default=[],
        metavar="KIND",
        help="the application role may not read this endpoint (repeatable); "
        f"kinds: {', '.join(LOG_KINDS)}",
    )
    parser.add_argument(
        "--permission-error",
        choices=("http_403", "fail"),
        default="http_403",
        help="how a denied endpoint answers: HTTP 403 err_xdk_forbidden, or HTTP 200 "
        "with a non-retryable err_xdk_forbidden in fail[]",
    )
    parser.add_argument(
        "--live-kind",
        choices=LOG_KINDS,
        action="append",
        default=None,
        metavar="KIND",
        help="an endpoint live mode adds records to (repeatable; default: url)",
    )


def kind_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Return the ``SimulatorConfig`` fields the per-endpoint options set."""
    return {"denied_kinds": frozenset(args.deny_kind), "permission_error": args.permission_error}


def kind_datasets(
    args: argparse.Namespace, *, start: int, end: int
) -> tuple[AttachmentDataset, ImpersonationDataset]:
    """Return the attachment and impersonation logs the options ask for."""
    if args.attachments < 0 or args.impersonations < 0:
        raise ValueError("--attachments and --impersonations must be >= 0")
    return (
        AttachmentDataset.generate(args.attachments, start=start, end=end, seed=args.seed),
        ImpersonationDataset.generate(args.impersonations, start=start, end=end, seed=args.seed),
    )
