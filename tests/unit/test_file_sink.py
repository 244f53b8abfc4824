"""The file sink, on real files in tmp_path: exact bytes, rotation, retention, gzip, repair."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import resource
import signal
import stat
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from collector.errors import SinkError
from collector.events import Event
from collector.sinks import Sink, SinkContext
from collector.sinks.file import FileSink, FileSinkConfig
from collector.sinks.registry import sink_config_class

T0 = 1_731_862_950.0  # 2024-11-17T17:02:30Z
STAMP0 = "20241117T170230Z"
ROTATED = re.compile(r"\.\d{8}T\d{6}Z(-[1-9][0-9]*)?(\.gz)?")


def click(page: int, n: int) -> dict[str, Any]:
    """A Mimecast-shaped click (~480 bytes); fixed widths make every page the same size."""
    return {
        "userEmailAddress": f"user{page:04d}.{n:04d}@example.com",
        "fromUserEmailAddress": "billing@example.net",
        "url": f"https://example.org/track/{page:04d}/{n:04d}?utm=newsletter&id=" + "x" * 60,
        "ttpDefinition": "Default URL Protection Definition",
        "subject": "Rechnung für Müller 🚀\nzweite Zeile",
        "action": "allow",
        "adminOverride": "N/A",
        "userOverride": "None",
        "scanResult": "clean",
        "category": "Business",
        "sendingIp": "198.51.100.7",
        "userAwarenessAction": "NA",
        "date": "2024-11-17T17:02:30+0000",
        "route": "inbound",
        "messageId": f"<{page:04d}.{n:04d}@mail.example.net>",
    }


def make_page(page: int, size: int = 5) -> list[Event]:
    return [
        Event(source="ttp", event_id=f"{page:016x}{n:016x}-0", time=int(T0), data=click(page, n))
        for n in range(size)
    ]


def raw(events: list[Event]) -> bytes:
    return b"".join(orjson.dumps(e.data) + b"\n" for e in events)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


SinkFactory = Callable[..., FileSink]


@pytest.fixture
async def make_sink(tmp_path: Path) -> AsyncIterator[SinkFactory]:
    made: list[FileSink] = []

    def make(clock: Callable[[], float] | None = None, **options: Any) -> FileSink:
        options.setdefault("path", str(tmp_path / "clicks.ndjson"))
        config = FileSinkConfig.model_validate({"type": "file", **options})
        sink = FileSink("out", config, clock=clock or Clock())
        made.append(sink)
        return sink

    yield make
    for sink in made:
        await sink.aclose()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def rotated_files(active: Path) -> list[Path]:
    """Rotated files, oldest first, found the way a tailer's glob would find them."""
    return sorted(
        (p for p in active.parent.iterdir() if ROTATED.fullmatch(p.name[len(active.name) :])),
        key=lambda p: p.name,
    )


def content(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


# --- what is written -------------------------------------------------------------------


async def test_raw_lines_are_byte_exact(make_sink: SinkFactory, tmp_path: Path) -> None:
    sink = make_sink()
    await sink.start()
    first, second = make_page(1), make_page(2, size=3)

    await sink.send(first)
    await sink.send(second)

    data = (tmp_path / "clicks.ndjson").read_bytes()
    assert data == raw(first) + raw(second)
    lines = data.splitlines()
    assert len(lines) == 8  # the "\n" inside subject is escaped, not a line break
    assert [list(orjson.loads(line)) for line in lines] == [list(click(0, 0))] * 8
    assert "für Müller 🚀".encode() in lines[0]


async def test_envelope_format(make_sink: SinkFactory, tmp_path: Path) -> None:
    sink = make_sink(format="envelope")
    await sink.start()
    page = make_page(1, size=2)

    await sink.send(page)

    lines = [orjson.loads(line) for line in (tmp_path / "clicks.ndjson").read_bytes().splitlines()]
    assert [line["event_id"] for line in lines] == [e.event_id for e in page]
    assert [list(line) for line in lines] == [["event_id", "source", "kind", "time", "log"]] * 2
    assert lines[0]["time"] == "2024-11-17T17:02:30Z"
    assert lines[1]["log"] == page[1].data


async def test_empty_batch_does_not_touch_the_file(make_sink: SinkFactory, tmp_path: Path) -> None:
    sink = make_sink()

    await sink.send([])

    assert listing(tmp_path) == []


async def test_unencodable_click_is_a_sink_error(make_sink: SinkFactory) -> None:
    sink = make_sink()
    await sink.start()
    bad = Event(source="ttp", event_id="x-0", time=0, data={"not json": {1, 2}})

    with pytest.raises(SinkError, match="cannot encode"):
        await sink.send([bad])


async def test_created_file_has_file_mode_whatever_the_umask(
    make_sink: SinkFactory, tmp_path: Path
) -> None:
    sink = make_sink(file_mode=0o604)
    old_umask = os.umask(0o077)
    try:
        await sink.start()
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE((tmp_path / "clicks.ndjson").stat().st_mode) == 0o604


# --- rotation ----------------------------------------------------------------------------


async def test_size_rotation_keeps_pages_whole(make_sink: SinkFactory, tmp_path: Path) -> None:
    page_bytes = len(raw(make_page(0)))
    # Two pages fit, a third would not: rotation before pages 3, 5 and 7.
    sink = make_sink(max_bytes=2 * page_bytes + 10)
    await sink.start()
    pages = [make_page(p) for p in range(1, 8)]

    for page in pages:
        await sink.send(page)
    await sink.aclose()

    active = tmp_path / "clicks.ndjson"
    assert listing(tmp_path) == [
        "clicks.ndjson",
        f"clicks.ndjson.{STAMP0}",
        f"clicks.ndjson.{STAMP0}-1",
        f"clicks.ndjson.{STAMP0}-2",
    ]
    ordered = [*rotated_files(active), active]
    assert [p.read_bytes() for p in ordered] == [
        raw(pages[0]) + raw(pages[1]),
        raw(pages[2]) + raw(pages[3]),
        raw(pages[4]) + raw(pages[5]),
        raw(pages[6]),
    ]
    written = Counter(line for p in ordered for line in p.read_bytes().splitlines())
    assert written == Counter(line for page in pages for line in raw(page).splitlines())


async def test_page_larger_than_max_bytes_goes_alone(
    make_sink: SinkFactory, tmp_path: Path
) -> None:
    sink = make_sink(max_bytes=1)
    await sink.start()
    pages = [make_page(p, size=2) for p in range(3)]

    for page in pages:
        await sink.send(page)

    active = tmp_path / "clicks.ndjson"
    ordered = [*rotated_files(active), active]
    assert [p.read_bytes() for p in ordered] == [raw(page) for page in pages]


async def test_rotated_names_sort_in_age_order(make_sink: SinkFactory, tmp_path: Path) -> None:
    clock = Clock()
    sink = make_sink(clock=clock, max_bytes=1)
    await sink.start()
    # Rotations happen at pages 1-5: two in one second, one in the next, then the clock
    # steps back 30 s, then forward again.
    for page, now in enumerate([T0, T0, T0, T0 + 1, T0 - 30, T0 + 2]):
        clock.now = now
        await sink.send(make_page(page, size=1))

    active = tmp_path / "clicks.ndjson"
    names = [p.name for p in rotated_files(active)]
    assert names == [
        f"clicks.ndjson.{STAMP0}",
        f"clicks.ndjson.{STAMP0}-1",
        "clicks.ndjson.20241117T170231Z",
        "clicks.ndjson.20241117T170231Z-1",  # stepped back: stays after the newest
        "clicks.ndjson.20241117T170232Z",
    ]
    assert [p.read_bytes() for p in rotated_files(active)] == [
        raw(make_page(page, size=1)) for page in range(5)
    ]


async def test_keep_deletes_the_oldest(make_sink: SinkFactory, tmp_path: Path) -> None:
    clock = Clock()
    sink = make_sink(clock=clock, max_bytes=1, keep=2)
    await sink.start()
    pages = [make_page(p, size=1) for p in range(6)]

    for second, page in enumerate(pages):
        clock.now = T0 + second
        await sink.send(page)
    await sink.aclose()

    active = tmp_path / "clicks.ndjson"
    assert listing(tmp_path) == [
        "clicks.ndjson",
        "clicks.ndjson.20241117T170234Z",
        "clicks.ndjson.20241117T170235Z",
    ]
    assert [p.read_bytes() for p in rotated_files(active)] == [raw(pages[3]), raw(pages[4])]
    assert active.read_bytes() == raw(pages[5])


async def test_keep_zero_keeps_only_the_active_file(make_sink: SinkFactory, tmp_path: Path) -> None:
    sink = make_sink(max_bytes=1, keep=0)
    await sink.start()

    for p in range(3):
        await sink.send(make_page(p, size=1))
    await sink.aclose()

    assert listing(tmp_path) == ["clicks.ndjson"]


async def test_compress_gzips_all_but_the_newest(make_sink: SinkFactory, tmp_path: Path) -> None:
    clock = Clock()
    sink = make_sink(clock=clock, max_bytes=1, compress=True, file_mode=0o600)
    await sink.start()
    pages = [make_page(p) for p in range(4)]

    for second, page in enumerate(pages):
        clock.now = T0 + second
        await sink.send(page)
    await sink.aclose()

    assert listing(tmp_path) == [
        "clicks.ndjson",
        "clicks.ndjson.20241117T170231Z.gz",
        "clicks.ndjson.20241117T170232Z.gz",
        # The newest rotated file stays plain: a tailer may still be reading it.
        "clicks.ndjson.20241117T170233Z",
    ]
    active = tmp_path / "clicks.ndjson"
    rotated = rotated_files(active)
    assert [content(p) for p in rotated] == [raw(page) for page in pages[:3]]
    for gz in rotated[:2]:
        assert gz.read_bytes()[:2] == b"\x1f\x8b"
        assert stat.S_IMODE(gz.stat().st_mode) == 0o600


async def test_age_rotation(make_sink: SinkFactory, tmp_path: Path) -> None:
    clock = Clock(1000.0)
    sink = make_sink(clock=clock, max_age_secs=60)
    await sink.start()
    pages = [make_page(p, size=1) for p in range(4)]
    active = tmp_path / "clicks.ndjson"

    await sink.send(pages[0])
    clock.now = 1059.0
    await sink.send(pages[1])
    assert rotated_files(active) == []
    clock.now = 1060.0
    await sink.send(pages[2])
    clock.now = 1119.0
    await sink.send(pages[3])

    assert [p.name for p in rotated_files(active)] == ["clicks.ndjson.19700101T001740Z"]
    assert rotated_files(active)[0].read_bytes() == raw(pages[0]) + raw(pages[1])
    assert active.read_bytes() == raw(pages[2]) + raw(pages[3])


async def test_age_of_a_file_found_at_start_is_its_mtime(
    make_sink: SinkFactory, tmp_path: Path
) -> None:
    active = tmp_path / "clicks.ndjson"
    active.write_bytes(b'{"old":1}\n')
    os.utime(active, (T0 - 61, T0 - 61))
    sink = make_sink(clock=Clock(T0), max_age_secs=60)
    await sink.start()

    await sink.send(make_page(1, size=1))

    assert [p.read_bytes() for p in rotated_files(active)] == [b'{"old":1}\n']
    assert active.read_bytes() == raw(make_page(1, size=1))


async def test_idle_empty_file_is_not_rotated(make_sink: SinkFactory, tmp_path: Path) -> None:
    clock = Clock(1000.0)
    sink = make_sink(clock=clock, max_age_secs=60)
    await sink.start()
    active = tmp_path / "clicks.ndjson"

    clock.now = 5000.0
    await sink.send(make_page(1, size=1))
    clock.now = 5059.0
    await sink.send(make_page(2, size=1))
    assert rotated_files(active) == []
    clock.now = 5060.0
    await sink.send(make_page(3, size=1))

    assert [p.read_bytes() for p in rotated_files(active)] == [
        raw(make_page(1, size=1)) + raw(make_page(2, size=1))
    ]


async def test_concurrent_sends_never_interleave(make_sink: SinkFactory, tmp_path: Path) -> None:
    sink = make_sink(max_bytes=4 * len(raw(make_page(0, size=20))), keep=100)
    await sink.start()
    pages = {p: make_page(p, size=20) for p in range(80)}

    async def source(first: int) -> None:
        for p in range(first, first + 10):
            await sink.send(pages[p])

    await asyncio.gather(*(source(first) for first in range(0, 80, 10)))
    await sink.aclose()

    active = tmp_path / "clicks.ndjson"
    files = [*rotated_files(active), active]
    assert len(files) == 20  # 80 pages, 4 per file
    seen: list[int] = []
    for path in files:
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        # Each file holds whole pages, each page's 20 lines together and in order.
        for start in range(0, len(lines), 20):
            block = lines[start : start + 20]
            page = int(block[0]["messageId"][1:5])
            assert block == [click(page, n) for n in range(20)]
            seen.append(page)
    assert sorted(seen) == list(range(80))


# --- recovery at start -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b'{"a":1}\n{"a":2}\n{"a":', b'{"a":1}\n{"a":2}\n'),
        (b'{"a":1}\n{"a":2}\n', b'{"a":1}\n{"a":2}\n'),
        (b'{"partial', b""),
        (b'{"a":1}\n' + b"x" * 200_000, b'{"a":1}\n'),  # tail longer than a read chunk
        (b"y" * 200_000, b""),
    ],
    ids=["torn", "whole", "no-newline", "long-tail", "long-no-newline"],
)
async def test_start_repairs_a_torn_tail(
    make_sink: SinkFactory, tmp_path: Path, before: bytes, after: bytes
) -> None:
    active = tmp_path / "clicks.ndjson"
    active.write_bytes(before)
    sink = make_sink()

    await sink.start()
    assert active.read_bytes() == after
    page = make_page(1, size=2)
    await sink.send(page)

    assert active.read_bytes() == after + raw(page)


async def test_start_finishes_an_interrupted_compression(
    make_sink: SinkFactory, tmp_path: Path
) -> None:
    (tmp_path / "clicks.ndjson").write_bytes(b"")
    (tmp_path / "clicks.ndjson.20240101T000000Z").write_bytes(b'{"gen":1}\n')
    (tmp_path / "clicks.ndjson.20240101T000000Z.gz.tmp").write_bytes(b"\x1f\x8b half")
    # Crashed after the rename to .gz, before the plain file was removed.
    (tmp_path / "clicks.ndjson.20240102T000000Z").write_bytes(b'{"gen":2}\n')
    (tmp_path / "clicks.ndjson.20240102T000000Z.gz").write_bytes(gzip.compress(b'{"gen":2}\n'))
    (tmp_path / "clicks.ndjson.20240103T000000Z").write_bytes(b'{"gen":3}\n')
    sink = make_sink(compress=True)

    await sink.start()

    assert listing(tmp_path) == [
        "clicks.ndjson",
        "clicks.ndjson.20240101T000000Z.gz",
        "clicks.ndjson.20240102T000000Z.gz",
        "clicks.ndjson.20240103T000000Z",
    ]
    rotated = rotated_files(tmp_path / "clicks.ndjson")
    assert [content(p) for p in rotated] == [b'{"gen":1}\n', b'{"gen":2}\n', b'{"gen":3}\n']


async def test_start_without_compress_drops_leftovers_and_applies_keep(
    make_sink: SinkFactory, tmp_path: Path
) -> None:
    for day in range(1, 6):
        (tmp_path / f"clicks.ndjson.2024010{day}T000000Z").write_bytes(b"{}\n")
    (tmp_path / "clicks.ndjson.20240105T000000Z.gz.tmp").write_bytes(b"junk")
    (tmp_path / "other.log.20240101T000000Z").write_bytes(b"not ours")
    sink = make_sink(keep=2)

    await sink.start()

    assert listing(tmp_path) == [
        "clicks.ndjson",
        "clicks.ndjson.20240104T000000Z",
        "clicks.ndjson.20240105T000000Z",
        "other.log.20240101T000000Z",
    ]


# --- errors and recovery -----------------------------------------------------------------


async def test_unwritable_path_names_path_and_reason_then_recovers(
    make_sink: SinkFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "logs"
    blocker.write_bytes(b"a file where a directory should be")
    path = blocker / "clicks.ndjson"
    sink = make_sink(path=str(path))
    expected = f"sink out: cannot write '{path}': Not a directory"

    with pytest.raises(SinkError) as started:
        await sink.start()
    with pytest.raises(SinkError) as sent:
        await sink.send(make_page(1))
    with pytest.raises(SinkError) as checked:
        await sink.healthcheck()

    assert str(started.value) == str(sent.value) == str(checked.value) == expected
    assert sent.value.sink == "out"
    blocker.unlink()
    blocker.mkdir()
    await sink.send(make_page(2))
    await sink.healthcheck()
    assert path.read_bytes() == raw(make_page(2))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_disk_full_is_reported(make_sink: SinkFactory) -> None:
    sink = make_sink(path="/dev/full")
    await sink.start()

    with pytest.raises(SinkError, match=r"^sink out: cannot write '/dev/full': No space left"):
        await sink.send(make_page(1))


@pytest.fixture
def file_size_limit() -> Iterator[Callable[[int | None], None]]:
    """Set RLIMIT_FSIZE for this process (None: as it was).

    A write that crosses the limit is cut short; the next one fails with EFBIG.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us

    def limit(size: int | None) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft if size is None else size, hard))

    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


async def test_failed_write_leaves_no_part_of_the_page(
    make_sink: SinkFactory, tmp_path: Path, file_size_limit: Callable[[int | None], None]
) -> None:
    sink = make_sink()
    await sink.start()
    first, second = make_page(1), make_page(2, size=200)
    await sink.send(first)
    active = tmp_path / "clicks.ndjson"

    # The kernel accepts half of the page, then refuses the rest.
    file_size_limit(len(raw(first)) + len(raw(second)) // 2)
    with pytest.raises(SinkError, match="File too large"):
        await sink.send(second)
    assert active.read_bytes() == raw(first)
    file_size_limit(None)
    await sink.send(second)

    assert active.read_bytes() == raw(first) + raw(second)


async def test_file_moved_or_deleted_by_someone_else(
    make_sink: SinkFactory, tmp_path: Path
) -> None:
    sink = make_sink()
    await sink.start()
    active = tmp_path / "clicks.ndjson"
    await sink.send(make_page(1))

    active.rename(tmp_path / "moved.ndjson")  # as logrotate's `create` mode would
    await sink.send(make_page(2))
    active.unlink()
    await sink.send(make_page(3))

    assert (tmp_path / "moved.ndjson").read_bytes() == raw(make_page(1))
    assert active.read_bytes() == raw(make_page(3))


async def test_aclose_twice_and_healthcheck(make_sink: SinkFactory, tmp_path: Path) -> None:
    sink = make_sink()
    await sink.start()
    await sink.healthcheck()

    await sink.aclose()
    await sink.aclose()

    assert (tmp_path / "clicks.ndjson").exists()
    assert isinstance(sink, Sink)


# --- config ------------------------------------------------------------------------------

EXAMPLE = """
type = "file"
path = "/var/log/mimecast/url-clicks.ndjson"
max_bytes = 104857600
keep = 10
compress = true
"""


def test_documented_example_validates() -> None:
    config = FileSinkConfig.model_validate(tomllib.loads(EXAMPLE))

    assert config.path == Path("/var/log/mimecast/url-clicks.ndjson")
    assert (config.max_bytes, config.keep, config.compress) == (104_857_600, 10, True)
    assert (config.format, config.max_age_secs, config.file_mode) == ("raw", None, 0o640)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"rotate": True}, "extra_forbidden"),
        ({"max_bytes": 0}, "greater_than_equal"),
        ({"max_age_secs": 0}, "greater_than_equal"),
        ({"keep": -1}, "greater_than_equal"),
        ({"file_mode": 0o1000}, "less_than_equal"),
        ({"format": "xml"}, "literal_error"),
        ({"type": "stdout"}, "literal_error"),
        ({"path": None}, "path_type"),
    ],
)
def test_bad_config_is_rejected(change: dict[str, Any], error: str) -> None:
    options = {**tomllib.loads(EXAMPLE), **change}

    with pytest.raises(ValidationError) as raised:
        FileSinkConfig.model_validate(options)

    assert [e["type"] for e in raised.value.errors()] == [error]


def test_every_field_is_described() -> None:
    assert all(field.description for field in FileSinkConfig.model_fields.values())


def test_registry_builds_a_file_sink(tmp_path: Path) -> None:
    config_class = sink_config_class("file", key="sinks.archive")
    config = config_class.model_validate({"type": "file", "path": str(tmp_path / "a.ndjson")})

    sink = config.build("archive", SinkContext(state_dir=tmp_path))

    assert config_class is FileSinkConfig
    assert isinstance(sink, FileSink)
    assert sink.name == "archive"
