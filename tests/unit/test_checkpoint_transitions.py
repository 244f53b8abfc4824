"""The checkpoint's transitions, driven directly, with a crash between every two of them.

A pass over the pages of one window, a page token Mimecast refuses once (the window is
read again from its frontier), then the end of the pass. After every transition the checkpoint is saved; a crash at any point means the
next process starts from the last saved JSON and does the rest. Whatever the crash
point, every click is delivered (nothing lost), only the page in flight is delivered
twice with the same event ids, and the final checkpoint is the one a run without a
crash leaves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from collector.checkpoint import Checkpoint, Window
from collector.dedup import admit_page
from collector.events import format_mimecast_date

OVERLAP = 60
Page = tuple[list[tuple[int, str]], str | None]


def mimecast(token: str | None, start: int, refused: bool) -> Page | None:
    """The endpoint: three pages from 100; t2 is refused once; None means refused."""
    if token is None:
        if start == 100:
            return [(100, "a"), (100, "a"), (101, "b")], "t1"
        return [(d, w) for d, w in ((102, "d"), (103, "e")) if d >= start], None
    if token == "t1":
        return [(101, "c"), (102, "d")], "t2"
    return None if not refused else ([(103, "e")], None)


def click(date: int, who: str) -> dict[str, object]:
    return {"userEmailAddress": who, "date": format_mimecast_date(date)}


@dataclass
class World:
    """The sink's file and the saved checkpoint: what survives a crash."""

    saved: bytes
    delivered: list[str] = field(default_factory=list)


def run(world: World, crash_after: int | None) -> int:
    """Resume from the saved checkpoint and read to the end; stop ("crash") after
    ``crash_after`` transitions. Returns the transitions done."""
    checkpoint = Checkpoint.from_json(world.saved, "s")
    done = 0

    def save() -> bool:
        nonlocal done
        world.saved = checkpoint.to_json()
        done += 1
        return crash_after is not None and done >= crash_after

    if checkpoint.target is None and checkpoint.cursor is None:
        checkpoint.begin_pass([Window(100, 200)], 100, 200)
        if save():
            return done
    while checkpoint.windows:
        window = checkpoint.windows[0]
        page = mimecast(window.page_token, window.start, "refused" in world.delivered)
        if page is None:
            world.delivered.append("refused")
            checkpoint.restart_window(window)
            if save():
                return done
            continue
        records, next_token = page
        admission = admit_page([click(*r) for r in records], window, checkpoint.delivered, "s")
        world.delivered += [event.event_id for event in admission.events]  # the sink's ack
        checkpoint.record_page(window, admission.progress, next_token, OVERLAP)
        if save():
            return done
    if checkpoint.target is not None:
        checkpoint.finish_pass(OVERLAP)
        save()
    return done


def clean_run() -> World:
    world = World(Checkpoint("s").to_json())
    run(world, None)
    return world


@pytest.mark.parametrize("crash_after", range(1, 7))
def test_a_crash_between_any_two_transitions_loses_nothing(crash_after: int) -> None:
    reference = clean_run()
    world = World(Checkpoint("s").to_json())
    done = run(world, crash_after)
    assert done == crash_after
    run(world, None)  # the next process
    ids = Counter(i for i in world.delivered if i != "refused")
    expected = Counter(i for i in reference.delivered if i != "refused")
    assert set(ids) == set(expected), "every click delivered, with the same ids"
    assert all(ids[i] >= expected[i] for i in expected)
    assert world.saved == reference.saved, "the same final checkpoint"


def test_the_clean_run_delivers_identical_clicks_as_distinct_events() -> None:
    world = clean_run()
    ids = [i for i in world.delivered if i != "refused"]
    assert len(ids) == 6 and len(set(ids)) == 6
    final = Checkpoint.from_json(world.saved, "s")
    assert (final.cursor, final.target, final.windows) == (200, None, [])


def test_transitions_refuse_what_makes_no_sense() -> None:
    checkpoint = Checkpoint("s")
    checkpoint.begin_pass([Window(0, 10)], 0, 10)
    with pytest.raises(ValueError, match="already in progress"):
        checkpoint.begin_pass([Window(0, 10)], 0, 10)
    with pytest.raises(ValueError, match="no finished pass"):
        checkpoint.finish_pass(OVERLAP)
