"""The configuration reference (docs/configuration.md), generated from the models.

Run ``python -m collector.reference > docs/configuration.md`` after changing a
config model; a test fails while the committed file is stale.
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from collector.config import LogConfig
from collector.metrics_config import MetricsConfig
from collector.sinks.registry import BUILTIN_SINKS, sink_config_class
from collector.sources.mimecast.config import MimecastSourceConfig

HEADER = """# Configuration reference

Generated from the config models by `python -m collector.reference`; do not edit by hand.
A commented example is in [config/collector.example.toml](../config/collector.example.toml).

- Unknown keys are errors, reported with their full key path.
- `${VAR}` anywhere is replaced by the environment variable VAR (`$${` is a literal `${`).
- Every secret (type `secret`) may instead be given as `<key>_file`: the path of a file
  holding it. A relative path is read from `$CREDENTIALS_DIRECTORY` when systemd sets it.
- A secret file, and the config file itself, must be a regular file (symbolic links are
  followed): at most 64 KiB for a secret, 1 MiB for the config. A FIFO, a device or a
  directory is a config error naming the key.
- Every number has bounds, shown with its type: durations are at most 7 days (604800 s)
  unless shown otherwise, and `nan` or `inf` are refused.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is SecretStr:
        return "secret"
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" (optional)" if type(None) in args else "")
    if origin in (list, tuple, set):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: Any) -> str:
    limits = []
    for item in field.metadata:
        for attribute, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(item, attribute, None)
            if value is not None:
                limits.append(f"{symbol} {value}")
    return f", {', '.join(limits)}" if limits else ""


def _default(name: str, field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "see section"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, int) and name.endswith("_mode"):
        return f"`{oct(value)}`"
    return f"`{value}`"


def model_table(model: type[BaseModel]) -> str:
    """One markdown table row per field of ``model``."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in ("sources", "sinks"):
            continue
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        kind = _type_name(field.annotation) + _bounds(field)
        rows.append(f"| `{name}` | {kind} | {_default(name, field)} | {description} |")
    return "\n".join(rows)


def render() -> str:
    """The whole reference, as markdown."""
    parts = [
        HEADER,
        "## Top level\n",
        "| key | type | default | description |\n|---|---|---|---|\n"
        "| `state_dir` | path | **required** | Directory for checkpoints, the health file "
        "and dead letters. |\n",
        "## `[log]`\n",
        model_table(LogConfig) + "\n",
        "## `[metrics]`\n",
        "Optional. When present, `run` serves `/metrics`, `/healthz` and `/readyz`.\n",
        model_table(MetricsConfig) + "\n",
        '## `[sources.<name>]` with `type = "mimecast_ttp_url"`\n',
        model_table(MimecastSourceConfig) + "\n",
    ]
    for type_name in BUILTIN_SINKS:
        model = sink_config_class(type_name, key=f"sinks.{type_name}")
        parts.append(f'## `[sinks.<name>]` with `type = "{type_name}"`\n')
        parts.append(model_table(model) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
