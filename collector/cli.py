"""The ``mimecast-collector`` command line. Exit codes are decided here and only here.

0: everything worked. 1: collection or delivery failed (runtime). 2: the config
file or the command line is wrong. Errors are printed as one line each, never
as a traceback.

Commands (:mod:`collector.commands`) return a :class:`~collector.result.CommandResult`
or raise; this module prints its lines, scrubbed of secrets, and maps it to 0 or 1,
and an error to 1 or 2.

Only what every command needs is imported at the top: ``run``, ``once``, ``check``
and ``health`` (the container's HEALTHCHECK, every 30 s) never load the simulator.
Its options are added to the ``simulate`` parser only when that parser is used.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import structlog

from collector import __version__
from collector.errors import CollectorError, ConfigError, first_leaf
from collector.logging import configure_logging
from collector.result import CommandResult, Stream
from collector.secrets import scrub

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 2; ``deferred`` adds arguments only when the parser is used."""

    def __init__(
        self,
        *args: Any,
        deferred: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._deferred = deferred

    def add_deferred_arguments(self) -> None:
        """Add the arguments whose definition is expensive to import (once)."""
        add, self._deferred = self._deferred, None
        if add is not None:
            add(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        # A sub-command's parser is only asked to parse when its command was given.
        self.add_deferred_arguments()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self.add_deferred_arguments()
        return super().format_usage()

    def format_help(self) -> str:
        self.add_deferred_arguments()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: usage error: {message}\n")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", required=True, type=Path, metavar="FILE", help="TOML config file"
    )


def _add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    from collector.simulator.cli import add_arguments

    add_arguments(parser)


def build_parser(*, every_option: bool = False) -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job.

    ``simulate``'s options come from the simulator, imported when that parser is first
    used, or at once with ``every_option`` (shell completion lists them all).
    """
    parser = _Parser(
        prog="mimecast-collector",
        description="Collect Mimecast URL Protection click logs into your SIEM.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run as a daemon, one cycle per source every interval")
    _config_arg(run)
    once = commands.add_parser("once", help="collect every source until caught up, then exit")
    _config_arg(once)
    check = commands.add_parser(
        "check", help="validate the config, authenticate to Mimecast, check every sink"
    )
    _config_arg(check)
    backfill = commands.add_parser(
        "backfill", help="collect a past time range of one source in parallel slices"
    )
    _config_arg(backfill)
    backfill.add_argument("--source", required=True, help="the [sources.NAME] to backfill")
    backfill.add_argument("--from", dest="from_time", required=True, metavar="ISO8601")
    backfill.add_argument("--to", dest="to_time", required=True, metavar="ISO8601")
    backfill.add_argument(
        "--parallel", type=int, default=4, metavar="N", help="time slices read at once (default 4)"
    )
    health = commands.add_parser(
        "health", help="exit 0 if every source completed a cycle within 3 intervals, else 1"
    )
    _config_arg(health)

    checkpoint = commands.add_parser("checkpoint", help="show or reset checkpoints")
    actions = checkpoint.add_subparsers(dest="action", required=True, parser_class=_Parser)
    show = actions.add_parser("show", help="print every source's checkpoint")
    _config_arg(show)
    reset = actions.add_parser("reset", help="forget a source's progress")
    _config_arg(reset)
    reset.add_argument("--source", required=True, help="the [sources.NAME] to reset")
    reset.add_argument(
        "--from",
        dest="from_time",
        metavar="ISO8601",
        help="start collecting again from this time (default: initial_lookback_secs ago)",
    )

    simulate = commands.add_parser(
        "simulate",
        help="serve a Mimecast API simulator (no credentials needed)",
        deferred=_add_simulator_arguments,
    )
    if every_option:
        simulate.add_deferred_arguments()
    demo = commands.add_parser(
        "demo", help="collect from a built-in simulator into ./demo-out/, then stop"
    )
    demo.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory")
    demo.add_argument("--clicks", type=int, default=5000, help="clicks in the simulated tenant")
    dlq = commands.add_parser("dlq", help="dead letters: events a receiver refused for good")
    dlq_actions = dlq.add_subparsers(dest="action", required=True, parser_class=_Parser)
    replay = dlq_actions.add_parser("replay", help="send a sink's dead letters again")
    _config_arg(replay)
    replay.add_argument("--sink", required=True, metavar="NAME", help="the [sinks.NAME] to replay")
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh"])
    return parser


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run one command; returns the process exit code.

    ``own_process``: the command has the process to itself (the console script,
    ``python -m collector``), so it may tune process-wide settings (the garbage
    collector) that an embedding program, such as the tests, must keep.
    """
    args = build_parser().parse_args(argv)
    args.own_process = own_process
    # Until the config says otherwise: stderr, so stdout stays for output (stdout sink).
    configure_logging()
    try:
        return asyncio.run(_dispatch(args))
    except (Exception, KeyboardInterrupt, BaseExceptionGroup) as exc:  # noqa: BLE001
        return _report(exc)


def _show(stream: Stream, text: str) -> None:
    """Print one line of a command's result, as it comes; no secret ever leaves here."""
    print(scrub(text), file=sys.stdout if stream == "stdout" else sys.stderr, flush=True)


def _report(error: BaseException) -> int:
    """Print one line for ``error`` and return its exit code."""
    # Errors from inside a TaskGroup arrive wrapped; the first one names the cause.
    exc = first_leaf(error)
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            print(scrub(f"config error: {problem}"), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, CollectorError):
        # A peer's answer quoted in an error may echo a credential: never print it.
        print(scrub(f"error: {exc}"), file=sys.stderr)
        return EXIT_FAILED
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_FAILED
    # A bug must still end in one clear line (the log above has its traceback).
    structlog.get_logger("collector.cli").exception("internal_error")
    print(
        scrub(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            "please report it with the log above"
        ),
        file=sys.stderr,
    )
    return EXIT_FAILED


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "simulate":
        # The simulator's own command line (shared with `python -m collector.simulator`).
        from collector.simulator.cli import serve

        return await serve(args)
    result = await _run_command(args, CommandResult(_show))
    return EXIT_OK if result.ok else EXIT_FAILED


def _settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the hot path.

    A catch-up allocates several containers per click, nearly all freed by reference
    counting as soon as their page is delivered. With the default thresholds (700, 10,
    10) the collector still ran about 960 times per 200k clicks, rescanning every
    imported module's objects in its full passes: 0.6-0.7 CPU-s, a sixth of the run
    (measured with ``gc.callbacks``). Everything imported so far is moved out of its
    sight (``gc.freeze``), and young objects are examined every 5,000 allocations
    instead of 700: 28 collections, 0.07 CPU-s. Real cycles (exceptions with their
    tracebacks) are still collected.
    """
    gc.freeze()
    gc.set_threshold(5_000, 20, 20)


async def _run_command(args: argparse.Namespace, result: CommandResult) -> CommandResult:
    # Imported here so `--help`, `--version` and `completion` stay fast.
    if args.command == "completion":
        from collector.completion import bash_script, zsh_script

        script = bash_script if args.shell == "bash" else zsh_script
        result.say(script(build_parser(every_option=True)).removesuffix("\n"))
        return result
    if args.command == "health":
        from collector.probe import health

        return await health(args.config, result)
    if args.command == "demo":
        from collector.demo import run_demo

        return await run_demo(args.out, args.clicks, result)
    from collector import commands

    if args.own_process:
        _settle_garbage_collector()
    if args.command == "dlq":
        return await commands.dlq_replay(args.config, args.sink, result)
    if args.command == "backfill":
        return await commands.backfill(args, result)
    if args.command == "checkpoint":
        return commands.checkpoint(args.config, args.action, args, result)
    handler = {
        "run": commands.run,
        "once": commands.once,
        "check": commands.check,
    }
    return await handler[args.command](args.config, result)


if __name__ == "__main__":
    raise SystemExit(main())
