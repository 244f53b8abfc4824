"""``python -m collector`` and the ``mimecast-collector`` command."""

from __future__ import annotations

import sys


def main() -> int:
    """Entry point of the console script and of ``python -m collector``."""
    if not sys.stderr.isatty():
        # Off a terminal nothing is drawn with rich (no progress bar, no colours), but
        # structlog would import it, and pygments, for tracebacks on import: 8 MiB of
        # RSS and 50 ms of start-up in every process, service or `once` from a timer.
        # A None entry makes `import rich` fail, so structlog uses plain tracebacks.
        sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
    from collector.cli import main as cli_main

    return cli_main(own_process=True)


if __name__ == "__main__":
    raise SystemExit(main())
