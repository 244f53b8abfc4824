"""The entry point: off a terminal, a process never loads rich (8 MiB, 50 ms)."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys; sys.argv = ['mimecast-collector', 'completion', 'bash'];"
    "from collector.__main__ import main; code = main();"
    "import structlog.dev;"
    "print('loaded' if sys.modules.get('rich') else 'absent', structlog.dev.rich, code,"
    " file=sys.stderr)"
)


def test_off_a_terminal_rich_is_never_imported_and_the_command_still_works() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stderr.split() == ["absent", "None", "0"], done.stderr
    assert "complete -F" in done.stdout  # the command ran to its end
