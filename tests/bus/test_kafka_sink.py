"""The kafka sink against a real Kafka-protocol broker (Tansu) on 127.0.0.1."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.errors import SinkError, TransientSinkError
from collector.events import Event
from collector.sinks import SinkContext
from collector.sinks.kafka import KafkaSink
from collector.sinks.kafka_config import KafkaSinkConfig

from .brokers import Tansu, free_port


def clicks(count: int, *, source: str = "clicks", pad: int = 0) -> list[Event]:
    return [
        Event(
            source=source,
            event_id=f"e{i}-0",
            time=1_700_000_000 + i,
            data={
                "url": f"https://example.com/{i}",
                "userEmailAddress": f"u{i}@example.com",
                "pad": "x" * pad,
            },
        )
        for i in range(count)
    ]


def sink(tmp_path: Path, bootstrap: str, **options: Any) -> KafkaSink:
    config = KafkaSinkConfig.model_validate(
        {
            "type": "kafka",
            "bootstrap_servers": [bootstrap],
            "security_protocol": "plaintext",
            **options,
        }
    )
    return KafkaSink("bus", config, SinkContext(state_dir=tmp_path / "state"))


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    files = sorted((tmp_path / "state" / "dead-letter" / "bus").glob("*.ndjson"))
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]


async def test_page_is_read_back_keyed_by_event_id(tmp_path: Path, tansu: Tansu) -> None:
    kafka = sink(tmp_path, tansu.bootstrap, topic="mimecast.{source}.{kind}")
    await kafka.start()
    try:
        await kafka.healthcheck()
        await kafka.send(clicks(300))
    finally:
        await kafka.aclose()
    got = tansu.read("mimecast.clicks.url", expect=300)
    assert Counter(key for key, _ in got) == Counter(f"e{i}-0".encode() for i in range(300))
    assert {orjson.loads(value)["url"] for _, value in got} == {
        f"https://example.com/{i}" for i in range(300)
    }


async def test_message_too_large_goes_to_dead_letters(tmp_path: Path, tansu: Tansu) -> None:
    kafka = sink(tmp_path, tansu.bootstrap, topic="big", max_message_bytes=2000)
    page = [*clicks(3), *clicks(1, pad=5000)[0:1]]
    page[-1] = page[-1]._replace(event_id="huge-0")
    await kafka.start()
    try:
        await kafka.send(page)
    finally:
        await kafka.aclose()
    letters = dead_letters(tmp_path)
    assert [letter["event_id"] for letter in letters] == ["huge-0"]
    assert letters[0]["error_type"] == "MSG_SIZE_TOO_LARGE"
    assert kafka.stats.dead_lettered == 1
    assert sorted(key for key, _ in tansu.read("big", expect=3)) == [b"e0-0", b"e1-0", b"e2-0"]


async def test_unreachable_broker_is_a_transient_error_naming_it(tmp_path: Path) -> None:
    kafka = sink(tmp_path, f"127.0.0.1:{free_port()}", delivery_timeout_secs=1)
    await kafka.start()
    try:
        with pytest.raises(TransientSinkError, match="3 of 3 clicks not acknowledged by Kafka"):
            await kafka.send(clicks(3))
        with pytest.raises(SinkError, match="no answer from Kafka"):
            await kafka.healthcheck()
    finally:
        await kafka.aclose()
    assert kafka.unconfirmed_resent == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"bootstrap_servers": ["kafka.example.net:9092"], "security_protocol": "plaintext"},
            "plain text is allowed only to loopback brokers",
        ),
        (
            {"security_protocol": "sasl_ssl", "sasl_mechanism": "PLAIN"},
            "needs sasl_mechanism, sasl_username and sasl_password",
        ),
        ({"topic": "mimecast.{tenant}"}, "unknown field {tenant}"),
        ({"bootstrap_servers": ["no-port"]}, "is not host:port"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    from collector.config import parse_config
    from collector.errors import ConfigError

    sink_options = {"type": "kafka", "bootstrap_servers": ["127.0.0.1:9092"], **options}
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        parse_config(
            {
                "state_dir": str(tmp_path),
                "sources": {
                    "clicks": {
                        "type": "mimecast_ttp_url",
                        "client_id": "id",
                        "client_secret": "secret-value",
                    }
                },
                "sinks": {"bus": sink_options},
            }
        )
    assert "sinks.bus" in str(caught.value)


def test_sasl_password_file_is_a_secret(tmp_path: Path) -> None:
    from collector.secrets import scrub

    secret = tmp_path / "kafka-password"
    secret.write_text("s3cret-kafka-pass\n")
    config = KafkaSinkConfig.model_validate(
        {
            "type": "kafka",
            "bootstrap_servers": ["kafka.example.net:9093"],
            "security_protocol": "sasl_ssl",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "collector",
            "sasl_password_file": str(secret),
        }
    )
    assert config.producer_settings()["sasl.password"] == "s3cret-kafka-pass"
    assert "s3cret" not in repr(config)
    assert scrub("auth failed for s3cret-kafka-pass") == "auth failed for ***"


async def test_missing_client_library_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import fails
    kafka = sink(tmp_path, "127.0.0.1:9092")
    with pytest.raises(SinkError, match=re.escape("pip install 'mimecast-collector[kafka]'")):
        await kafka.start()
