"""``python -m bench``: the benchmark harness (see :mod:`bench.cli`)."""

from bench.cli import main

raise SystemExit(main())
