"""structlog set-up: JSON lines rendered by orjson, or a readable console format.

Logs go to stderr, one line per page or cycle, never one per event. ``source``,
``sink`` and ``cycle_id`` are bound through contextvars. Every line passes
through :func:`scrub_secrets`, so a secret can not reach a log even by accident.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import orjson
import structlog

from collector.secrets import scrub

LogFormat = Literal["auto", "json", "console"]


def _orjson_text(value: Any, **_: Any) -> str:
    return orjson.dumps(value).decode()


def scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: every registered secret and URL userinfo replaced by ``***``."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
        elif value is not None and not isinstance(value, int | float | bool):
            event_dict[key] = scrub(str(value))
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now, so a progress bar can redirect logs."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Configure structlog for the whole process. Safe to call more than once."""
    out: Any = stream if stream is not None else _CurrentStderr()
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.dict_tracebacks,
        scrub_secrets,
    ]
    # Text, not bytes: the output is whatever sys.stderr is at the time of writing
    # (_CurrentStderr), and the stdlib handler below renders the same way.
    # NO_COLOR (no-color.org): a person who asked for no colours gets none.
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty() and not os.environ.get("NO_COLOR"))
    )
    # Libraries log through the standard library (APScheduler, httpx): render those
    # lines the same way, and keep their routine chatter out.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processor=renderer, foreign_pre_chain=shared)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is expected when a
    # cycle outlasts its interval; the cycle's own log lines say what matters.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
