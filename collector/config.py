"""Loading and validating the TOML config file.

Every problem is reported as one line naming the exact key, e.g.
``sources.url_clicks.page_size: must be <= 500``. ``${VAR}`` in any string is
replaced by the environment variable VAR (``$${`` writes a literal ``${``), and
any secret may be given as ``<key>_file`` instead (see :mod:`collector.secrets`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collector.errors import ConfigError
from collector.fsutil import NotARegularFileError, read_regular_file
from collector.metrics_config import MetricsConfig
from collector.sinks import SinkConfig
from collector.sinks.registry import sink_config_class
from collector.sources.mimecast.config import CREDENTIAL_KEYS, MimecastSourceConfig

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
# Far more than any real config; a device such as /dev/zero must not exhaust memory.
MAX_CONFIG_FILE_BYTES = 1024 * 1024


class LogConfig(BaseModel):
    """``[log]``: how the collector writes its own logs (to stderr)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Least severe level written."
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description='"json" lines, a readable "console" format, or "auto": console when '
        "stderr is a terminal, JSON otherwise.",
    )


def _check_names(names: dict[str, Any]) -> dict[str, Any]:
    for name in names:
        if not _NAME.match(name):
            raise ValueError(
                f"{name!r} is not a valid name: use letters, digits, '_', '-' or '.', "
                "starting with a letter or digit (it is used in file names)"
            )
    return names


class _FileModel(BaseModel):
    """The top level of the file; sinks are validated afterwards by their own models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(description="Directory for checkpoints and dead letters.")
    sources: dict[str, MimecastSourceConfig] = Field(min_length=1)
    sinks: dict[str, dict[str, Any]] = Field(min_length=1)
    log: LogConfig = LogConfig()
    metrics: MetricsConfig | None = None

    @field_validator("sources", "sinks", mode="before")
    @classmethod
    def _valid_names(cls, value: Any) -> Any:
        return _check_names(value) if isinstance(value, dict) else value


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """The whole validated configuration."""

    state_dir: Path
    sources: dict[str, MimecastSourceConfig]
    sinks: dict[str, SinkConfig]
    log: LogConfig
    metrics: MetricsConfig | None = None

    def sinks_for(self, source: str) -> list[str]:
        """Names of the sinks that take events from ``source``."""
        return [
            name
            for name, sink in self.sinks.items()
            if sink.inputs is None or source in sink.inputs
        ]


def expand_env(value: Any, key: str, problems: list[str]) -> Any:
    """Replace ``${VAR}`` in every string of a parsed TOML tree; collect problems."""
    if isinstance(value, dict):
        return {k: expand_env(v, f"{key}.{k}" if key else k, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        variable = match.group(1)
        if variable not in os.environ:
            problems.append(f"{key}: environment variable {variable} is not set")
            return ""
        return os.environ[variable]

    return _ENV_REFERENCE.sub(replace, value)


_MESSAGES: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "unknown key",
    "less_than_equal": "must be <= {le}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "greater_than": "must be > {gt}",
    "literal_error": "must be {expected}",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "int_parsing_size": "is far too large (see docs/configuration.md for its maximum)",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "list_type": "must be a list",
    "too_short": "must not be empty",
    "path_type": "must be a path",
}


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into one ``key.path: problem`` line per problem."""
    lines = []
    for item in error.errors(include_url=False):
        parts = [prefix] if prefix else []
        parts += [str(part) for part in item["loc"]]
        template = _MESSAGES.get(item["type"])
        context = item.get("ctx") or {}
        if template is not None:
            message = template.format(**context)
        else:
            message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "config_key":
            # Our own errors already start with the key they are about.
            lines.append(".".join([*parts, message]))
        else:
            lines.append(f"{'.'.join(parts) or '(top level)'}: {message}")
    return lines


def _validate_sink(
    name: str, raw: dict[str, Any], sources: set[str], problems: list[str]
) -> SinkConfig | None:
    key = f"sinks.{name}"
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        problems.append(f'{key}.type: is required (e.g. "file")')
        return None
    try:
        sink = sink_config_class(type_name, key=key).model_validate(raw)
    except ConfigError as exc:
        problems += exc.problems
        return None
    except ValidationError as exc:
        problems += format_validation_error(exc, key)
        return None
    for source in sink.inputs or []:
        if source not in sources:
            known = ", ".join(sorted(sources))
            problems.append(f"{key}.inputs: unknown source {source!r} (sources: {known})")
    return sink


def parse_config(document: dict[str, Any]) -> CollectorConfig:
    """Validate a parsed TOML document. Raises ConfigError listing every problem."""
    problems: list[str] = []
    expanded = expand_env(document, "", problems)
    if problems:
        raise ConfigError(problems)
    _share_credentials(expanded, problems)
    if problems:
        raise ConfigError(problems)
    try:
        top = _FileModel.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None

    sinks: dict[str, SinkConfig] = {}
    for name, raw in top.sinks.items():
        sink = _validate_sink(name, raw, set(top.sources), problems)
        if sink is not None:
            sinks[name] = sink
    for source in top.sources:
        if sinks and not any(s.inputs is None or source in s.inputs for s in sinks.values()):
            # Delivering to no sink would move the checkpoint past clicks sent nowhere.
            problems.append(f"sources.{source}: no sink takes this source (check sinks.*.inputs)")
    if problems:
        raise ConfigError(problems)
    return CollectorConfig(
        state_dir=top.state_dir,
        sources=dict(top.sources),
        sinks=sinks,
        log=top.log,
        metrics=top.metrics,
    )


def _share_credentials(document: dict[str, Any], problems: list[str]) -> None:
    """``credentials = "<source>"``: take that source's credentials (one quota, one gate).

    Done on the raw tables, so the referenced source's ``*_file`` secrets and ``${VAR}``
    are read the same way as its own.
    """
    sources = document.get("sources")
    if not isinstance(sources, dict):
        return
    for name, table in sources.items():
        if not isinstance(table, dict) or table.get("credentials") is None:
            continue
        key = f"sources.{name}.credentials"
        other_name = table["credentials"]
        other = sources.get(other_name) if isinstance(other_name, str) else None
        if not isinstance(other, dict) or other_name == name:
            known = ", ".join(sorted(n for n in sources if n != name)) or "none"
            problems.append(f"{key}: no other source named {other_name!r} (sources: {known})")
            continue
        if other.get("credentials") is not None:
            problems.append(
                f"{key}: {other_name!r} uses credentials of its own reference; name "
                "the source that holds them"
            )
            continue
        for field in CREDENTIAL_KEYS:
            for spelled in (field, f"{field}_file"):
                if spelled in table:
                    problems.append(
                        f"sources.{name}.{spelled}: not allowed with credentials = {other_name!r}"
                    )
                elif spelled in other:
                    table[spelled] = other[spelled]


def load_config(path: Path) -> CollectorConfig:
    """Read, expand and validate a config file. Raises ConfigError with every problem."""
    try:
        text = read_regular_file(path, MAX_CONFIG_FILE_BYTES).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not UTF-8 text") from None
    except NotARegularFileError as exc:
        raise ConfigError(f"config file '{path}' {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None
    return parse_config(document)
