"""Every number in every config model is bounded, and a bad one is one line naming its key.

The keys are read from the models themselves, so a number added later is covered
without touching this file. Each case goes through the real CLI (`check`), which
must exit 2 before it contacts anything.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from collector.cli import main
from collector.config import LogConfig
from collector.errors import CollectorError, ConfigError, first_leaf
from collector.metrics_config import MetricsConfig
from collector.sinks.registry import BUILTIN_SINKS, sink_config_class
from collector.sources.mimecast.config import MimecastSourceConfig

# The least each table needs to be valid (no network is used: `check` stops at the config).
SOURCE = {"type": "mimecast_ttp_url", "client_id": "id", "client_secret": "secret"}
SINKS: dict[str, dict[str, Any]] = {
    "file": {"path": "out/clicks.ndjson"},
    "stdout": {},
    "splunk_hec": {"endpoint": "https://hec.example:8088", "token": "hec-token"},
    "elasticsearch": {"endpoint": "https://es.example:9200", "api_key": "es-key"},
    "http": {"endpoint": "https://collector.example/ingest"},
    "syslog": {"address": "siem.example:6514"},
    "kafka": {"bootstrap_servers": ["kafka.example:9093"]},
    "otlp": {"endpoint": "https://otel.example:4318"},
}
# Not a number a sink of ours could use: too large, negative, or not finite.
BAD_VALUES = ["1e15", "1e20", "-1e20", "9223372036854775807", "-1", "nan", "inf", "-inf"]


def _numeric(annotation: Any) -> bool:
    """int or float (optional or not); bool and Literal are not numbers here."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_numeric(a) for a in typing.get_args(annotation) if a is not type(None))
    return annotation in (int, float)


def _numeric_keys(model: type[BaseModel], prefix: str) -> list[tuple[str, str]]:
    """(table, key) of every numeric field, nested tables included."""
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _numeric_keys(annotation, f"{prefix}.{name}")
        elif _numeric(annotation):
            keys.append((prefix, name))
    return keys


def _tables(sink_type: str) -> dict[str, dict[str, Any]]:
    return {
        "sources.s": dict(SOURCE),
        "sinks.o": {"type": sink_type, **SINKS[sink_type]},
    }


CASES: list[tuple[str, str, str]] = (
    [("file", table, key) for table, key in _numeric_keys(LogConfig, "log")]
    + [("file", table, key) for table, key in _numeric_keys(MetricsConfig, "metrics")]
    + [("file", table, key) for table, key in _numeric_keys(MimecastSourceConfig, "sources.s")]
    + [
        (sink_type, table, key)
        for sink_type in BUILTIN_SINKS
        for table, key in _numeric_keys(sink_config_class(sink_type, key="x"), "sinks.o")
    ]
)


def _write(tmp_path: Path, tables: dict[str, dict[str, Any]], raw: dict[str, str]) -> Path:
    """A TOML file; ``raw`` holds ``table.key`` entries written as literal TOML."""
    lines = [f"state_dir = {orjson.dumps(str(tmp_path / 'state')).decode()}"]
    for table in sorted({*tables, *(k.rpartition(".")[0] for k in raw)}):
        lines.append(f"[{table}]")
        for key, value in tables.get(table, {}).items():
            lines.append(f"{key} = {orjson.dumps(value).decode()}")
        lines += [f"{k.rpartition('.')[2]} = {v}" for k, v in raw.items() if k.startswith(table)]
    path = tmp_path / "collector.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_cases_cover_every_sink_and_the_known_durations() -> None:
    assert set(SINKS) == set(BUILTIN_SINKS)  # a new sink type needs its minimal table here
    keys = {key for _, _, key in CASES}
    assert {"interval_secs", "retry_max_secs", "read_timeout_secs", "ack_timeout_secs"} <= keys
    assert {"write_timeout_secs", "max_batch_bytes", "max_age_secs", "keep"} <= keys


def test_the_minimal_tables_are_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from collector.config import load_config

    for sink_type in SINKS:
        config = load_config(_write(tmp_path, _tables(sink_type), {}))
        assert config.sinks["o"].type == sink_type
    capsys.readouterr()


@pytest.mark.parametrize(
    ("sink_type", "table", "key"), CASES, ids=[f"{t}.{k}[{s}]" for s, t, k in CASES]
)
def test_a_number_out_of_bounds_exits_2_naming_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sink_type: str, table: str, key: str
) -> None:
    for value in BAD_VALUES:
        path = _write(tmp_path, _tables(sink_type), {f"{table}.{key}": value})
        code = main(["check", "-c", str(path)])
        out, err = capsys.readouterr()
        assert code == 2, f"{key} = {value} was accepted: {out}{err}"
        assert err.startswith(f"config error: {table}.{key}: "), err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert "OK" not in out


@pytest.mark.parametrize(
    ("sink_type", "table", "key"), CASES, ids=[f"{t}.{k}[{s}]" for s, t, k in CASES]
)
def test_every_default_is_within_its_own_bounds(
    tmp_path: Path, sink_type: str, table: str, key: str
) -> None:
    from collector.config import load_config

    model: type[BaseModel] = {
        "log": LogConfig,
        "metrics": MetricsConfig,
        "sources.s": MimecastSourceConfig,
    }.get(table) or sink_config_class(sink_type, key="x")
    default = model.model_fields[key].default
    if default is None:
        return
    tables = _tables(sink_type)
    tables.setdefault(table, {})[key] = default
    load_config(_write(tmp_path, tables, {}))  # pydantic does not check defaults itself


def test_interval_of_1e15_is_a_config_error_not_an_overflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, _tables("file"), {"sources.s.interval_secs": "1e15"})
    assert main(["once", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: sources.s.interval_secs: ")
    assert "Overflow" not in err


HMAC = {"auth": "hmac", "app_id": "app", "app_key": "app-key", "access_key": "access"}


@pytest.mark.parametrize("secret_key", ["abc", "not base64!", "dGVzdA", "====", ""])
def test_a_secret_key_that_is_not_base64_is_named_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], secret_key: str
) -> None:
    tables = _tables("file")
    tables["sources.s"] = {"type": "mimecast_ttp_url", **HMAC, "secret_key": secret_key}
    for command in ("check", "once"):
        assert main([command, "-c", str(_write(tmp_path, tables, {}))]) == 2
        out, err = capsys.readouterr()
        assert err.startswith("config error: sources.s.secret_key: "), err
        assert len(err.splitlines()) == 1 and "OK" not in out and "TaskGroup" not in err
        if len(secret_key) > 3:
            assert secret_key not in err  # the reason never quotes the key


def test_a_base64_secret_key_is_accepted(tmp_path: Path) -> None:
    from collector.config import load_config

    tables = _tables("file")
    tables["sources.s"] = {"type": "mimecast_ttp_url", **HMAC, "secret_key": "c2VjcmV0LWtleQ=="}
    assert load_config(_write(tmp_path, tables, {})).sources["s"].secret_key is not None


def test_an_exception_group_is_reported_by_its_first_leaf(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from collector.cli import _report

    nested = ExceptionGroup("unhandled errors in a TaskGroup", [ValueError("Incorrect padding")])
    group = ExceptionGroup("unhandled errors in a TaskGroup", [nested, KeyError("x")])
    assert first_leaf(group).args == ("Incorrect padding",)
    assert _report(group) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error: internal error (ValueError: Incorrect padding)")
    config = ExceptionGroup("g", [ConfigError("sources.s.page_size: must be <= 500")])
    assert _report(config) == 2
    assert capsys.readouterr().err == "config error: sources.s.page_size: must be <= 500\n"
    runtime = BaseExceptionGroup("g", [CollectorError("sink o: refused"), KeyboardInterrupt()])
    assert _report(runtime) == 1
    assert capsys.readouterr().err == "error: sink o: refused\n"


def test_once_reports_a_source_failure_by_its_cause() -> None:
    from collector.daemon import _named_error

    padding = ValueError("Incorrect padding")
    bug = _named_error("s", ExceptionGroup("unhandled errors in a TaskGroup", [padding] * 4))
    assert isinstance(bug, CollectorError)
    assert str(bug).startswith("internal error (ValueError: Incorrect padding)")
    refused = CollectorError("sink o: refused")
    assert _named_error("s", ExceptionGroup("g", [refused])) is refused
    assert _named_error("s", None) is None
