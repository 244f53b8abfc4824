"""A ``file`` sink whose ``path`` names ``{source}`` or ``{kind}``: one file per expansion.

``path = "/var/log/mimecast/{kind}.ndjson"`` keeps clicks, attachment and impersonation
logs in files of their own, for tailers that read one kind each. Every expanded path is
an ordinary :class:`~collector.sinks.file.FileSink` of its own, opened at its first page,
so each file keeps every guarantee of the sink: whole lines, fsync before the page is
acknowledged, a torn last line cut at open, its own rotation and retention.

A page is split by path, in order, and acknowledged once every part is fsynced. When one
part fails after others were written, the page is sent again; the parts already written
are remembered (by path and event ids) and not written twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import string
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from collector.errors import SinkError
from collector.events import Batch, Event
from collector.sinks import Sink

FIELDS = frozenset({"source", "kind"})
_REMEMBERED_PARTS = 256  # parts of failed pages kept to skip on the resend


def template_fields(path: str) -> set[str]:
    """The ``{field}`` names in ``path``.

    Raises:
        ValueError: a field other than ``{source}`` and ``{kind}``, or a stray brace.
    """
    found: set[str] = set()
    for _, field, spec, conversion in string.Formatter().parse(path):
        if field is None:
            continue
        if field not in FIELDS or spec or conversion:
            raise ValueError(
                f"{{{field}}} is not a path field; use {{source}} and {{kind}} "
                "(a literal brace is written {{ or }})"
            )
        found.add(field)
    return found


def expand(path: str, event: Event) -> Path:
    """The file ``event`` goes to (source names and kinds hold no ``/``: the config checks)."""
    return Path(path.format(source=event.source, kind=event.kind))


class SplitFileSink:
    """Writes each page's events to the file their expanded ``path`` names.

    Args:
        name: the sink's name in the config.
        config: the validated config, whose ``path`` names ``{source}`` or ``{kind}``.
        make: builds the sink of one expanded path (``FileSink`` with that path).
    """

    def __init__(self, name: str, template: Path, make: Callable[[Path], Sink]) -> None:
        self.name = name
        self.template = str(template)
        self._make = make
        self._files: dict[Path, Sink] = {}
        self._lock = asyncio.Lock()
        self._written: OrderedDict[tuple[Path, str], None] = OrderedDict()

    async def start(self) -> None:
        """Nothing to open yet: each file is opened (and repaired) at its first page."""

    async def send(self, events: Batch) -> None:
        """Append each part of the page to its file; return once all are fsynced.

        Raises:
            SinkError: a part is not acknowledged (the file's own error).
        """
        parts: dict[Path, list[Event]] = {}
        for event in events:
            parts.setdefault(expand(self.template, event), []).append(event)
        async with self._lock:  # one page at a time, as the single-file sink
            done: list[tuple[Path, str]] = []
            for path, part in parts.items():
                key = (path, _ids_digest(part))
                if key in self._written:
                    done.append(key)
                    continue  # written before this page's earlier attempt failed
                await (await self._file(path)).send(part)
                self._remember(key)
                done.append(key)
            for key in done:  # the whole page is acknowledged: nothing left to skip
                self._written.pop(key, None)

    async def healthcheck(self) -> None:
        """Check the fixed part of the directory exists (or can be made) and is writable.

        Raises:
            SinkError: naming that directory and the reason.
        """
        fixed = Path(self.template.split("{", 1)[0])
        directory = fixed if self.template.startswith(f"{fixed}/{{") else fixed.parent
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        if not os.access(directory, os.W_OK | os.X_OK):
            raise SinkError(self.name, f"cannot write in '{directory}': permission denied")
        for sink in list(self._files.values()):
            await sink.healthcheck()

    async def aclose(self) -> None:
        """Close every file. Safe to call twice."""
        files, self._files = list(self._files.values()), {}
        for sink in files:
            await sink.aclose()

    async def _file(self, path: Path) -> Sink:
        sink = self._files.get(path)
        if sink is None:
            sink = self._make(path)
            await sink.start()  # cuts a torn tail, finishes old rotations
            self._files[path] = sink
        return sink

    def _remember(self, key: tuple[Path, str]) -> None:
        self._written[key] = None
        while len(self._written) > _REMEMBERED_PARTS:
            self._written.popitem(last=False)


def _ids_digest(part: list[Event]) -> str:
    return hashlib.sha256("\n".join(e.event_id for e in part).encode()).hexdigest()
