"""A file sink whose path names {source} and {kind}: one file per kind, same guarantees."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from collector.errors import SinkError
from collector.events import Event
from collector.sinks import Sink, SinkContext
from collector.sinks.file import FileSinkConfig
from collector.sinks.file_split import SplitFileSink

T0 = 1_731_862_950

RECORDS = {
    "url": {
        "url": "https://example.org/x",
        "userEmailAddress": "a@example.com",
        "date": "2024-11-17T17:02:30+0000",
    },
    "attachment": {
        "fileName": "numbers.pdf",
        "fileHash": "eaeef09b60a59b913e9bfc0a4373e25d6182beff388957473fba517cc09345e3",
        "result": "malicious",
        "date": "2024-11-17T17:02:30+0000",
    },
    "impersonation": {
        "id": "MTOKEN:eNqrVkouLS7Jz00tSs5PSVWy",
        "identifiers": ["internal_user_name"],
        "taggedMalicious": True,
        "eventTime": "2024-11-17T17:02:30+0000",
    },
}
SOURCES = {"url": "clicks", "attachment": "attachments", "impersonation": "impersonation"}


def page(number: int, per_kind: int = 2) -> list[Event]:
    """Clicks, attachment and impersonation logs interleaved, as three sources send them."""
    return [
        Event(SOURCES[kind], f"{number:04x}{n:04x}{kind}-0", T0, {**RECORDS[kind], "n": n}, kind)
        for n in range(per_kind)
        for kind in RECORDS
    ]


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Sink] = []

    async def build(path: str, **options: Any) -> Any:
        config = FileSinkConfig.model_validate(
            {"type": "file", "path": path, "format": "envelope", **options}
        )
        sink = config.build("out", SinkContext(state_dir=tmp_path / "state"))
        assert isinstance(sink, Sink)
        await sink.start()
        made.append(sink)
        return sink

    yield build
    for sink in made:
        await sink.aclose()


async def test_each_kind_gets_its_own_file_in_order(make: Any, tmp_path: Path) -> None:
    sink = await make(str(tmp_path / "out" / "mimecast-{kind}.ndjson"))
    assert isinstance(sink, SplitFileSink)
    sent = page(1) + page(2)
    await sink.send(sent[:6])
    await sink.send(sent[6:])
    for kind in RECORDS:
        written = lines(tmp_path / "out" / f"mimecast-{kind}.ndjson")
        assert [w["event_id"] for w in written] == [e.event_id for e in sent if e.kind == kind]
        assert {w["kind"] for w in written} == {kind}
        assert written[0]["log"] == {**RECORDS[kind], "n": 0}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "mimecast-attachment.ndjson",
        "mimecast-impersonation.ndjson",
        "mimecast-url.ndjson",
    ]


async def test_source_may_name_a_directory(make: Any, tmp_path: Path) -> None:
    sink = await make(str(tmp_path / "{source}" / "{kind}.ndjson"))
    await sink.send(page(1))
    assert len(lines(tmp_path / "attachments" / "attachment.ndjson")) == 2
    assert len(lines(tmp_path / "clicks" / "url.ndjson")) == 2


async def test_a_torn_last_line_is_cut_when_the_file_is_first_opened(
    make: Any, tmp_path: Path
) -> None:
    target = tmp_path / "attachment.ndjson"
    target.write_bytes(b'{"whole":1}\n{"torn":')
    sink = await make(str(tmp_path / "{kind}.ndjson"))
    await sink.send(page(1))
    assert target.read_bytes().startswith(b'{"whole":1}\n{"event_id"')
    assert len(lines(target)) == 3


async def test_each_file_rotates_on_its_own(make: Any, tmp_path: Path) -> None:
    sink = await make(str(tmp_path / "{kind}.ndjson"), max_bytes=600)
    for number in range(3):
        await sink.send(
            [e for e in page(number, per_kind=1) if e.kind != "url"] if number else page(0, 1)
        )
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    rotated = [name for name in names if name.count(".") > 1]
    assert rotated and all(not name.startswith("url.") for name in rotated)
    assert "url.ndjson" in names
    total = sum(len(lines(tmp_path / name)) for name in names if name.startswith("attachment."))
    assert total == 3


async def test_a_page_that_fails_halfway_is_not_doubled_when_sent_again(
    make: Any, tmp_path: Path
) -> None:
    sink = await make(str(tmp_path / "{kind}.ndjson"))
    blocker = tmp_path / "impersonation.ndjson"
    blocker.mkdir()  # the impersonation part cannot be written: a directory is in the way
    sent = page(1)
    with pytest.raises(SinkError, match=r"impersonation\.ndjson"):
        await sink.send(sent)
    blocker.rmdir()
    await sink.send(sent)
    for kind in RECORDS:
        written = lines(tmp_path / f"{kind}.ndjson")
        assert [w["event_id"] for w in written] == [e.event_id for e in sent if e.kind == kind]
    # Once acknowledged, the same page sent again (a re-read) is written again, as ever.
    await sink.send(sent)
    assert len(lines(tmp_path / "url.ndjson")) == 4


async def test_healthcheck_names_a_directory_it_cannot_use(make: Any, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    sink = await make(str(tmp_path / "{kind}.ndjson"))
    await sink.healthcheck()
    broken = await make(str(tmp_path / "file" / "{kind}.ndjson"))
    with pytest.raises(SinkError, match=r"cannot write in '.*file'"):
        await broken.healthcheck()


@pytest.mark.parametrize(
    "path", ["/var/log/{date}.ndjson", "/var/log/{kind!r}.ndjson", "/var/log/{kind"]
)
def test_only_source_and_kind_are_path_fields(path: str) -> None:
    with pytest.raises(ValidationError, match="path"):
        FileSinkConfig.model_validate({"type": "file", "path": path})
