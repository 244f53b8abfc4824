"""``python -m collector`` is the same as the ``mimecast-collector`` command."""

from collector.cli import main

raise SystemExit(main())
