"""``[sinks.<name>]`` with ``type = "kafka"``: the options, and the librdkafka settings they make.

Kept apart from :mod:`collector.sinks.kafka` so that reading a config (and generating
the configuration reference) never needs the Kafka client library installed.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.bounds import MAX_DURATION_SECS
from collector.net import is_loopback_host
from collector.sinks import Sink, SinkConfig, SinkContext
from collector.sinks.encoding import Format

# What a topic template may name: the source's name, and the kind of log ("url").
TOPIC_FIELDS = frozenset({"source", "kind"})
# Kafka's own limit on a topic name's length, and its alphabet.
MAX_TOPIC_CHARS = 249
TOPIC_ALPHABET = frozenset(string.ascii_letters + string.digits + "._-")
# librdkafka's ceiling for message.max.bytes.
MAX_MESSAGE_BYTES = 1_000_000_000

SecurityProtocol = Literal["ssl", "sasl_ssl", "plaintext", "sasl_plaintext"]


def _topic_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def split_server(server: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) into its parts. Raises ValueError when malformed."""
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{server!r} is not host:port")
    return host.strip("[]"), int(port)


class KafkaSinkConfig(SinkConfig):
    """``[sinks.<name>]`` with ``type = "kafka"``."""

    type: Literal["kafka"] = Field(description='Sink type: `"kafka"`.')
    bootstrap_servers: list[str] = Field(
        min_length=1, description='Brokers to start from, as `"host:port"`.'
    )
    topic: str = Field(
        default="mimecast.{source}.{kind}",
        description="Topic of each click. `{source}` is replaced by the source's name and "
        '`{kind}` by the kind of log (`"url"`). Characters other than letters, digits, '
        "`.`, `_` and `-` become `_`.",
    )
    key: Literal["event_id", "none"] = Field(
        default="event_id",
        description='`"event_id"`: the message key is the event id, so partitioning is '
        'stable and consumers can drop doubles. `"none"`: no key (round-robin).',
    )
    format: Format = Field(
        default="raw",
        description='`"raw"`: the click as Mimecast returned it. `"envelope"`: '
        "`{event_id, source, time, log}`.",
    )
    compression: Literal["zstd", "lz4", "snappy", "gzip", "none"] = Field(
        default="zstd", description="Compression of the producer's record batches."
    )
    security_protocol: SecurityProtocol = Field(
        default="ssl",
        description='`"ssl"` or `"sasl_ssl"`; `"plaintext"` and `"sasl_plaintext"` are '
        "allowed only when every bootstrap server is a loopback address.",
    )
    ca_file: str | None = Field(
        default=None, description="PEM CA bundle to trust instead of the system store."
    )
    cert_file: str | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with key_file)."
    )
    key_file: str | None = Field(default=None, description="PEM private key of cert_file.")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description='SASL mechanism; needed with `security_protocol = "sasl_*"`.'
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (or `sasl_password_file`)."
    )
    max_message_bytes: int = Field(
        default=1_000_000,
        ge=1000,
        le=MAX_MESSAGE_BYTES,
        description="Largest message sent (librdkafka `message.max.bytes`; keep it at or "
        "below the topic's `max.message.bytes`). A larger click goes to the dead letters.",
    )
    delivery_timeout_secs: float = Field(
        default=30.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="How long the producer keeps retrying one message itself before its "
        "page counts as failed (and is retried within retry_max_secs).",
    )
    linger_secs: float = Field(
        default=0.005,
        ge=0,
        le=60,
        description="How long the producer waits to fill a record batch.",
    )
    dead_letter_dir: Path | None = Field(
        default=None,
        description="Where clicks Kafka refused for good (too large, invalid) are kept, as "
        "NDJSON. Default: <state_dir>/dead-letter/<sink name>/.",
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, servers: list[str]) -> list[str]:
        for server in servers:
            split_server(server)
        return servers

    @field_validator("topic")
    @classmethod
    def _check_topic(cls, template: str) -> str:
        try:
            unknown = _topic_fields(template) - TOPIC_FIELDS
        except ValueError as exc:
            raise ValueError(f"{template!r} is not a valid template: {exc}") from None
        if unknown:
            raise ValueError(f"unknown field {{{sorted(unknown)[0]}}}: use {{source}} or {{kind}}")
        return template

    @model_validator(mode="after")
    def _check_security(self) -> Self:
        if self.security_protocol.startswith("sasl_"):
            if self.sasl_mechanism is None or not self.sasl_username or self.sasl_password is None:
                raise PydanticCustomError(
                    "config_key",
                    "security_protocol = {proto!r} needs sasl_mechanism, sasl_username and "
                    "sasl_password",
                    {"proto": self.security_protocol},
                )
        elif self.sasl_mechanism is not None:
            raise PydanticCustomError(
                "config_key",
                'sasl_mechanism: needs security_protocol = "sasl_ssl" (or "sasl_plaintext")',
                {},
            )
        if self.security_protocol.endswith("plaintext"):
            remote = [s for s in self.bootstrap_servers if not is_loopback_host(split_server(s)[0])]
            if remote:
                raise PydanticCustomError(
                    "config_key",
                    "security_protocol = {proto!r}: plain text is allowed only to loopback "
                    'brokers, not {server!r}; use "ssl" or "sasl_ssl"',
                    {"proto": self.security_protocol, "server": remote[0]},
                )
        if self.key_file is not None and self.cert_file is None:
            raise PydanticCustomError(
                "config_key", "key_file: needs cert_file (the client certificate)", {}
            )
        return self

    def producer_settings(self) -> dict[str, str | int | float | bool]:
        """The librdkafka producer settings: idempotent, acks from every in-sync replica."""
        settings: dict[str, str | int | float | bool] = {
            "bootstrap.servers": ",".join(self.bootstrap_servers),
            "client.id": "mimecast-collector",
            # Exactly-once per partition while the producer lives: its own retries never
            # write a message twice or out of order.
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": self.compression,
            "message.max.bytes": self.max_message_bytes,
            "message.timeout.ms": int(self.delivery_timeout_secs * 1000),
            "linger.ms": self.linger_secs * 1000,
            "security.protocol": self.security_protocol,
        }
        if self.security_protocol.endswith("ssl"):
            # Always verified; the broker's name must match its certificate.
            settings["enable.ssl.certificate.verification"] = True
            settings["ssl.endpoint.identification.algorithm"] = "https"
            optional = {
                "ssl.ca.location": self.ca_file,
                "ssl.certificate.location": self.cert_file,
                "ssl.key.location": self.key_file,
            }
            settings.update({k: v for k, v in optional.items() if v is not None})
        if self.sasl_mechanism is not None and self.sasl_password is not None:
            settings["sasl.mechanism"] = self.sasl_mechanism
            settings["sasl.username"] = self.sasl_username or ""
            settings["sasl.password"] = self.sasl_password.get_secret_value()
        return settings

    def build(self, name: str, context: SinkContext) -> Sink:
        """Return the sink this config describes, not started yet."""
        # Imported here: the config module must not need the sink's (an import cycle).
        from collector.sinks.kafka import KafkaSink

        return KafkaSink(name, self, context)
