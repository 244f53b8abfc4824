"""A progress bar for `once` draining a backlog in a terminal (and nothing otherwise).

Progress is measured in time, not clicks (Mimecast does not say how many clicks
a window holds until the last page): how much of the pass being read (all its
slices) lies behind the delivered frontiers.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from collector.pipeline import PageListener


@contextlib.contextmanager
def backlog_progress(sources: list[str]) -> Iterator[PageListener | None]:
    """Yield a page listener that drives a rich progress bar, or None off a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[events]:>10,} clicks"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks = {name: progress.add_task(name, total=1.0, events=0) for name in sources}

    def on_page(source: str, fraction: float, events: int) -> None:
        task = tasks[source]
        total = progress.tasks[task].fields["events"] + events
        progress.update(task, completed=fraction, events=total)

    with progress:
        yield on_page
