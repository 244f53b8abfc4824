"""structlog set-up: JSON lines rendered by orjson, or a readable console format.

Logs go to stderr, one line per page or cycle, never one per event. ``source``,
``sink`` and ``cycle_id`` are bound through contextvars. Every line passes
through :func:`scrub_secrets`, so a secret can not reach a log even by accident.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import orjson
import structlog

from collector.secrets import registered_secrets, scrub

LogFormat = Literal["auto", "json", "console"]


def scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace every registered secret value by ``***``."""
    if not registered_secrets():
        return event_dict
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
        elif value is not None and not isinstance(value, int | float | bool):
            event_dict[key] = scrub(str(value))
    return event_dict


def configure_logging(
    level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Configure structlog for the whole process. Safe to call more than once."""
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.dict_tracebacks,
        scrub_secrets,
    ]
    logger_factory: Any
    if fmt == "json":
        renderer: Any = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        logger_factory = structlog.BytesLoggerFactory(out.buffer)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
        logger_factory = structlog.PrintLoggerFactory(out)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=logger_factory,
        cache_logger_on_first_use=False,
    )
