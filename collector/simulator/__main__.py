"""``python -m collector.simulator``: the simulator without the collector's CLI."""

from __future__ import annotations

import argparse
import asyncio

from collector.simulator.cli import add_arguments, serve


def main() -> int:
    """Parse the command line and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m collector.simulator",
        description="Serve a simulated Mimecast URL Protection logs API.",
    )
    add_arguments(parser)
    return asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
