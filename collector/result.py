"""What a command did, for :mod:`collector.cli` to render: lines for the user, and success.

Commands never print and never choose an exit code. They add lines to a
:class:`CommandResult` and mark it failed (or raise a
:class:`~collector.errors.CollectorError`); ``collector.cli`` alone turns the result
into output, scrubbed of secrets, and into exit code 0, 1 or 2.

The CLI gives each command a result that shows every line as soon as it is added, so
a long command shows its progress as it goes (``check`` answers source by source,
``backfill`` says it is resuming before it reads). A result made without ``show``
only collects its lines, which is what tests read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Stream = Literal["stdout", "stderr"]
Show = Callable[[Stream, str], None]


class CommandResult:
    """The lines a command has for the user, in order, and whether it succeeded."""

    def __init__(self, show: Show | None = None) -> None:
        self.failed = False
        self.lines: list[tuple[Stream, str]] = []
        self._show = show

    @property
    def ok(self) -> bool:
        """True unless the command marked a failure."""
        return not self.failed

    def say(self, text: str) -> None:
        """A line of output (stdout)."""
        self._add("stdout", text)

    def warn(self, text: str) -> None:
        """A line about a problem (stderr); it does not make the command fail."""
        self._add("stderr", text)

    def fail(self, text: str, stream: Stream = "stderr") -> None:
        """A line naming a failure; the command then ends with exit code 1."""
        self.failed = True
        self._add(stream, text)

    def output(self, stream: Stream = "stdout") -> str:
        """Every line written to ``stream`` so far, joined (for tests and callers)."""
        return "".join(f"{text}\n" for where, text in self.lines if where == stream)

    def _add(self, stream: Stream, text: str) -> None:
        self.lines.append((stream, text))
        if self._show is not None:
            self._show(stream, text)
