"""The stdout sink: exact bytes on the stream, flushed per page, errors as SinkError."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pytest
from pydantic import ValidationError

from collector.errors import SinkError
from collector.events import Event
from collector.sinks import Sink, SinkContext
from collector.sinks.registry import sink_config_class
from collector.sinks.stdout import StdoutSink, StdoutSinkConfig


def make_page(page: int, size: int = 3) -> list[Event]:
    return [
        Event(
            source="ttp",
            event_id=f"{page:016x}{n:016x}-0",
            time=1_731_862_950,
            data={"url": f"https://example.org/{page}/{n}", "subject": "Grüße\nzwei", "n": n},
        )
        for n in range(size)
    ]


def raw(events: list[Event]) -> bytes:
    return b"".join(orjson.dumps(e.data) + b"\n" for e in events)


class FlushCounter(io.BytesIO):
    """A BytesIO that counts flushes, to prove each page is flushed before the ack."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


@pytest.fixture
def broken_pipe() -> Iterator[BinaryIO]:
    """The writing end of a pipe whose reader is gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "wb") as stream:
        yield stream
        # Drop what the failed flush left buffered, or closing would raise again.
        stream.raw.close()


async def test_raw_page_is_written_and_flushed() -> None:
    stream = FlushCounter()
    sink = StdoutSink("out", stream=stream)
    await sink.start()
    first, second = make_page(1), make_page(2)

    await sink.send(first)
    await sink.send(second)

    assert stream.getvalue() == raw(first) + raw(second)
    assert stream.flushes == 2
    assert len(stream.getvalue().splitlines()) == 6


async def test_envelope_format() -> None:
    stream = io.BytesIO()
    sink = StdoutSink("out", "envelope", stream=stream)
    await sink.start()
    page = make_page(1, size=2)

    await sink.send(page)

    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [list(line) for line in lines] == [["event_id", "source", "kind", "time", "log"]] * 2
    assert [line["event_id"] for line in lines] == [e.event_id for e in page]
    assert lines[0]["log"] == page[0].data


async def test_default_stream_is_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    sink = StdoutSink("out")
    await sink.start()
    page = make_page(1)

    await sink.send(page)

    assert capsysbinary.readouterr().out == raw(page)


async def test_empty_batch_writes_nothing() -> None:
    stream = FlushCounter()

    await StdoutSink("out", stream=stream).send([])

    assert (stream.getvalue(), stream.flushes) == (b"", 0)


async def test_broken_pipe_is_a_sink_error(broken_pipe: BinaryIO) -> None:
    sink = StdoutSink("out", stream=broken_pipe)
    await sink.start()

    with pytest.raises(SinkError) as raised:
        await sink.send(make_page(1))

    assert str(raised.value) == "sink out: cannot write to stdout: Broken pipe"
    assert raised.value.sink == "out"


async def test_closed_stream_fails_send_and_healthcheck() -> None:
    stream = io.BytesIO()
    sink = StdoutSink("out", stream=stream)
    await sink.start()
    await sink.healthcheck()
    stream.close()

    with pytest.raises(SinkError, match="cannot write to stdout"):
        await sink.send(make_page(1))
    with pytest.raises(SinkError, match="closed"):
        await sink.healthcheck()


async def test_concurrent_sends_keep_pages_whole() -> None:
    stream = io.BytesIO()
    sink = StdoutSink("out", stream=stream)
    await sink.start()
    pages = [make_page(p, size=50) for p in range(40)]

    await asyncio.gather(*(sink.send(page) for page in pages))

    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2000
    blocks = [lines[i : i + 50] for i in range(0, 2000, 50)]
    assert sorted(block[0]["url"] for block in blocks) == sorted(p[0].data["url"] for p in pages)
    for block in blocks:
        assert [line["n"] for line in block] == list(range(50))
        assert len({line["url"].rsplit("/", 1)[0] for line in block}) == 1


async def test_lifecycle_is_a_sink(tmp_path: Path) -> None:
    sink = StdoutSinkConfig(type="stdout").build("out", SinkContext(state_dir=tmp_path))

    await sink.start()
    await sink.aclose()
    await sink.aclose()

    assert isinstance(sink, Sink)
    assert sink.name == "out"


def test_config_validates_and_registers() -> None:
    config_class = sink_config_class("stdout", key="sinks.console")

    config = config_class.model_validate({"type": "stdout", "format": "envelope"})

    assert config_class is StdoutSinkConfig
    assert isinstance(config, StdoutSinkConfig)
    assert config.format == "envelope"
    assert StdoutSinkConfig.model_validate({"type": "stdout"}).format == "raw"
    assert all(field.description for field in StdoutSinkConfig.model_fields.values())


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"type": "stdout", "path": "/tmp/x"}, "extra_forbidden"),
        ({"type": "stdout", "format": "json"}, "literal_error"),
        ({"type": "file"}, "literal_error"),
    ],
)
def test_bad_config_is_rejected(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as raised:
        StdoutSinkConfig.model_validate(options)

    assert [e["type"] for e in raised.value.errors()] == [error]
