"""Dead-letter files and ``dlq replay``: re-sent, removed, never lost, never taken in use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.commands import replay_dead_letters
from collector.config import CollectorConfig, parse_config
from collector.errors import ConfigError, SinkError
from collector.result import CommandResult
from collector.sinks.http.dead_letter import DeadLetterStore, Rejection

from .bulk_emulator import BulkEmulator
from .helpers import click, event_of, events


async def replay(config: CollectorConfig, sink: str) -> CommandResult:
    """``dlq replay --sink <sink>``, its output kept in the result."""
    return await replay_dead_letters(config, sink, CommandResult())


STREAM = "logs-mimecast.ttp_url-default"


def collector_config(tmp_path: Path, emulator: BulkEmulator, **sink: Any) -> CollectorConfig:
    return parse_config(
        {
            "state_dir": str(tmp_path / "state"),
            "sources": {"s": {"type": "mimecast_ttp_url", "client_id": "i", "client_secret": "x"}},
            "sinks": {
                "es": {
                    "type": "elasticsearch",
                    "endpoint": emulator.url,
                    "api_key": emulator.api_key,
                    "retry_initial_backoff_secs": 0.01,
                    "retry_max_backoff_secs": 0.02,
                    **sink,
                }
            },
        }
    )


def letter_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state" / "dead-letter" / "es").glob("*.ndjson"))


async def test_replay_resends_what_was_refused_once_the_cause_is_fixed(
    bulk: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await bulk()
    bad = event_of(click(7, category={"nested": 1}))
    sink = await make_sink(
        {"type": "elasticsearch", "endpoint": emulator.url, "api_key": emulator.api_key}, name="es"
    )
    await sink.send([*events(2), bad])
    await sink.aclose()  # the collector stopped; its file is no longer in use
    assert bad.event_id not in emulator.stored(STREAM)
    [path] = letter_files(tmp_path)

    emulator.mappings.clear()  # "fixed the mapping"
    result = await replay(collector_config(tmp_path, emulator), "es")
    assert result.ok
    assert emulator.stored(STREAM)[bad.event_id]["mimecast"]["category"] == {"nested": 1}
    assert not path.exists()
    assert "replayed 1 events from 1 file(s); 0 refused again" in result.output()


async def test_a_failed_replay_keeps_exactly_the_lines_not_yet_sent(
    bulk: Any, tmp_path: Path
) -> None:
    emulator = await bulk()
    store = DeadLetterStore("es", tmp_path / "state" / "dead-letter" / "es")
    page = events(700)
    await store.write([(e, Rejection(400, "mapper_parsing_exception", "x")) for e in page])
    await store.aclose()
    # Every document of the second batch of 500 keeps being refused with a 403.
    for event in page[500:]:
        emulator.fail_item(event.event_id, 403, "cluster_block_exception", "read-only", count=99)
    config = collector_config(tmp_path, emulator, retry_max_secs=0.2)
    assert (await replay(config, "es")).failed
    assert set(emulator.stored(STREAM)) == {e.event_id for e in page[:500]}
    [path] = letter_files(tmp_path)
    kept = [orjson.loads(line)["event_id"] for line in path.read_bytes().splitlines()]
    assert kept == [e.event_id for e in page[500:]]


async def test_replay_skips_a_file_a_running_collector_still_writes(
    bulk: Any, tmp_path: Path
) -> None:
    emulator = await bulk()
    store = DeadLetterStore("es", tmp_path / "state" / "dead-letter" / "es")
    await store.write([(events(1)[0], Rejection(400, "t", "r"))])
    try:
        result = await replay(collector_config(tmp_path, emulator), "es")
        assert result.ok
        assert "1 file(s) in use by a running collector skipped" in result.output()
        assert emulator.log == []
        assert len(letter_files(tmp_path)) == 1
    finally:
        await store.aclose()


async def test_replay_of_an_unknown_sink_or_of_nothing(bulk: Any, tmp_path: Path) -> None:
    emulator = await bulk()
    config = collector_config(tmp_path, emulator)
    with pytest.raises(ConfigError, match="--sink: unknown sink 'nope' \\(sinks: es\\)"):
        await replay(config, "nope")
    result = await replay(config, "es")
    assert result.ok
    assert "no dead letters" in result.output()


async def test_a_dead_letter_record_holds_everything_to_replay_it(tmp_path: Path) -> None:
    store = DeadLetterStore("es", tmp_path / "dl")
    event = events(1)[0]
    path = await store.write([(event, Rejection(400, "document_parsing_exception", "why"))])
    await store.aclose()
    [record] = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert record["event"] == event.data
    assert (record["event_id"], record["source"], record["time"]) == (
        event.event_id,
        event.source,
        event.time,
    )
    assert (record["sink"], record["status"], record["error_type"], record["reason"]) == (
        "es",
        400,
        "document_parsing_exception",
        "why",
    )
    assert path.stat().st_mode & 0o777 == 0o600


async def test_an_unwritable_dead_letter_directory_fails_the_page(
    bulk: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await bulk()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    sink = await make_sink(
        {
            "type": "elasticsearch",
            "endpoint": emulator.url,
            "api_key": emulator.api_key,
            "dead_letter_dir": str(blocked / "dl"),
        }
    )
    bad = event_of(click(3, category={"nested": 1}))
    await sink.send(events(1))
    with pytest.raises(SinkError, match=r"cannot write dead letters in .*blocked/dl"):
        await sink.send([bad])
    assert sink.stats.dead_lettered == 0
