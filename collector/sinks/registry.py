"""Sink types by name: the built-in ones, then those plugged in by entry points."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from collector.errors import ConfigError
from collector.sinks import SinkConfig

ENTRY_POINT_GROUP = "mimecast_collector.sinks"

# type name -> "module:ConfigClass"; imported lazily so an unused sink costs nothing.
BUILTIN_SINKS: dict[str, str] = {
    "file": "collector.sinks.file:FileSinkConfig",
    "stdout": "collector.sinks.stdout:StdoutSinkConfig",
    "splunk_hec": "collector.sinks.http.splunk_hec:SplunkHecSinkConfig",
    "elasticsearch": "collector.sinks.http.elasticsearch:ElasticsearchSinkConfig",
    "http": "collector.sinks.http.generic:HttpSinkConfig",
    "syslog": "collector.sinks.syslog:SyslogSinkConfig",
    "kafka": "collector.sinks.kafka_config:KafkaSinkConfig",
    "otlp": "collector.sinks.otlp:OtlpSinkConfig",
}


def _load(target: str) -> type[SinkConfig]:
    module_name, _, attribute = target.partition(":")
    loaded = getattr(importlib.import_module(module_name), attribute)
    if not (isinstance(loaded, type) and issubclass(loaded, SinkConfig)):
        raise TypeError(f"{target} is not a SinkConfig subclass")
    return loaded


def sink_types() -> dict[str, str]:
    """Every known sink type, built-in first; a plug-in cannot shadow a built-in."""
    known = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    known.update(BUILTIN_SINKS)
    return known


def sink_config_class(type_name: str, *, key: str) -> type[SinkConfig]:
    """Return the config model of sink type ``type_name``; ``key`` names it in errors."""
    # Built-ins first, without scanning every installed package's entry points.
    target = BUILTIN_SINKS.get(type_name)
    if target is None:
        known = sink_types()
        target = known.get(type_name)
    if target is None:
        choices = ", ".join(sorted(known))
        raise ConfigError(f"{key}.type: unknown sink type {type_name!r} (known: {choices})")
    try:
        return _load(target)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{key}.type: sink type {type_name!r} cannot be loaded: {exc}") from exc
