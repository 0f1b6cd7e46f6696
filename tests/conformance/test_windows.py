"""chunks and tumbling / sliding / session windows against RxJS ``bufferCount-spec.ts``,
``bufferTime-spec.ts``, aiostream ``test_transform.py`` (``chunks``), Kotlin ``chunked``
and the windowing shapes of Flink/Beam docs (in our own words); frames of 1 s on the
virtual clock, both backends.

Processing-time windows are aligned to the start of iteration (time 0 here); an item
arriving exactly on a boundary may land on either side (documented), so no case puts an
item on a boundary.
"""

from __future__ import annotations

from typing import Any

import pytest

from anystream import Stream, chunks, session_window, sliding_window, tumbling_window
from anystream.testing import record

from ._marble import Boom, src

pytestmark = pytest.mark.anyio


def _label(row: Any) -> str:
    items = row.items if hasattr(row, "items") and not isinstance(row, list) else row
    return "".join(str(v) for v in items)


async def run(stream: Stream[Any]) -> tuple[list[tuple[float, str]], Any]:
    """(time, joined items) of every emission, and ("|" or "#", end time) or None."""
    rec = await record(stream, until=60, catch=Boom)
    end = None if rec.end_time is None else ("#" if rec.error else "|", rec.end_time)
    return [(t, _label(row)) for t, row in rec.events], end


CHUNKS: list[tuple[str, str, int, float | None, list[tuple[int, str]], Any]] = [
    # rxjs bufferCount-spec "should emit buffers at intervals": a list every n items, the
    # rest at completion
    (
        "rxjs bufferCount: every 3",
        "--a--b--c--d--e--|",
        3,
        None,
        [(8, "abc"), (17, "de")],
        ("|", 17),
    ),
    # "should emit full buffer at completion" with an exact multiple: no empty tail
    ("rxjs bufferCount: exact multiple", "-a-b-c-d|", 2, None, [(3, "ab"), (7, "cd")], ("|", 8)),
    # "should emit buffers when source is empty": nothing (RxJS also emits nothing)
    ("rxjs bufferCount: empty", "|", 2, None, [], ("|", 0)),
    # "should work with never"
    ("rxjs bufferCount: never", "-", 2, None, [], None),
    # "should raise error if source raise error": the partial buffer is lost
    ("rxjs bufferCount: error", "--a--b--c--#", 2, None, [(5, "ab")], ("#", 11)),
    # aiostream test_chunks: chunks(3) of 0..4 -> [0,1,2], [3,4]
    ("aiostream chunks", "(01234|)", 3, None, [(0, "012"), (0, "34")], ("|", 0)),
    # Kotlin chunked(2) doc: the last chunk may be smaller
    ("kotlin chunked", "abc|", 2, None, [(1, "ab"), (3, "c")], ("|", 3)),
    # chunks(n, timeout): the timer starts at a list's first item (docs/operators.md:
    # this differs from RxJS bufferTime(t, null, n), which ticks from subscription and
    # also emits empty buffers)
    ("anystream chunks timeout", "-a------b|", 3, 4, [(5, "a"), (9, "b")], ("|", 9)),
    # ... a full list before the timer goes out at once and restarts the timer
    ("chunks timeout: full first", "-ab-c-----|", 2, 4, [(2, "ab"), (8, "c")], ("|", 10)),
    # ... an item pending at completion is flushed at the end
    ("chunks timeout: flush at end", "-a-b|", 3, 10, [(4, "ab")], ("|", 4)),
    # ... the error still loses the pending list
    ("chunks timeout: error", "-a-#", 3, 10, [], ("#", 3)),
]


@pytest.mark.parametrize(
    ("given", "n", "after", "events", "end"),
    [c[1:] for c in CHUNKS],
    ids=[c[0] for c in CHUNKS],
)
async def test_chunks(
    given: str, n: int, after: float | None, events: list[tuple[int, str]], end: Any
) -> None:
    assert await run(src(given) | chunks(n, after)) == (events, end)


TUMBLING: list[tuple[str, str, dict[str, Any], list[tuple[int, str]], Any]] = [
    # rxjs bufferTime-spec "should emit buffers at intervals" (processing time): windows of
    # 4 s from the start; empty windows skipped (RxJS emits [] for them: emit_empty=True)
    (
        "rxjs bufferTime: intervals",
        "-a-b---c------d-|",
        {},
        [(4, "ab"), (8, "c"), (16, "d")],
        ("|", 16),
    ),
    # the same with emit_empty=True: every window, empty or not, like bufferTime
    (
        "rxjs bufferTime: with empties",
        "-a-b---c------d|",
        {"emit_empty": True},
        [(4, "ab"), (8, "c"), (12, ""), (15, "d")],
        ("|", 15),
    ),
    # "should emit the last buffer at completion": the partial window is flushed at the end
    ("rxjs bufferTime: flush at completion", "-a---b|", {}, [(4, "a"), (6, "b")], ("|", 6)),
    # "should handle empty" / "never" (no window ever has items)
    ("rxjs bufferTime: empty", "|", {}, [], ("|", 0)),
    ("rxjs bufferTime: never", "-", {}, [], None),
    # "should handle errors": the open window is lost
    ("rxjs bufferTime: error", "-a---b-#", {}, [(4, "a")], ("#", 7)),
    # a window is emitted when its time is up even with no further item
    ("processing time: no later item", "-a-------", {}, [(4, "a")], None),
    # simultaneous items land in the same window, in order
    ("same frame", "-(abc)|", {}, [(4, "abc")], ("|", 6)),
]


@pytest.mark.parametrize(
    ("given", "kwargs", "events", "end"),
    [c[1:] for c in TUMBLING],
    ids=[c[0] for c in TUMBLING],
)
async def test_tumbling_window(
    given: str, kwargs: dict[str, Any], events: list[tuple[int, str]], end: Any
) -> None:
    assert await run(src(given) | tumbling_window(4, **kwargs)) == (events, end)


SLIDING: list[tuple[str, str, float, float, list[tuple[int, str]], Any]] = [
    # rxjs bufferTime-spec "should emit buffers that have been created at intervals and
    # close after the specified delay" (bufferTime(size, step)): overlapping windows; a
    # window that started before time 0 exists too (documented), so the first one ends
    # at step
    (
        "rxjs bufferTime(size, step)",
        "-a---b---c---|",
        8,
        4,
        [(4, "a"), (8, "ab"), (12, "bc"), (13, "c")],
        ("|", 13),
    ),
    # step == size is a tumbling window
    ("step == size", "-a---b--|", 4, 4, [(4, "a"), (8, "b")], ("|", 8)),
    # "should handle empty" / "never" / "errors"
    ("rxjs bufferTime(size, step): empty", "|", 8, 4, [], ("|", 0)),
    ("rxjs bufferTime(size, step): never", "-", 8, 4, [], None),
    ("rxjs bufferTime(size, step): error", "-a---#", 8, 4, [(4, "a")], ("#", 5)),
]


@pytest.mark.parametrize(
    ("given", "size", "step", "events", "end"),
    [c[1:] for c in SLIDING],
    ids=[c[0] for c in SLIDING],
)
async def test_sliding_window(
    given: str, size: float, step: float, events: list[tuple[int, str]], end: Any
) -> None:
    assert await run(src(given) | sliding_window(size, step)) == (events, end)


SESSION: list[tuple[str, str, list[tuple[int, str]], Any]] = [
    # the operator's docstring shape: a session closes gap s after its last item
    ("two bursts", "-a-b-----------c-d-|", [(7, "ab"), (19, "cd")], ("|", 19)),
    # an item inside the gap extends the session
    ("extended", "a--b--c------|", [(10, "abc")], ("|", 13)),
    # (an item exactly gap s after the last one is not tested: the docs do not say which
    # of the item and the session's timer comes first)
    # pending session at completion is flushed at the end
    ("flush at end", "-a-b|", [(4, "ab")], ("|", 4)),
    ("empty", "|", [], ("|", 0)),
    ("never", "-", [], None),
    # an error loses the open session, closed ones stay out
    ("error", "a-------b-#", [(4, "a")], ("#", 10)),
]


@pytest.mark.parametrize(
    ("given", "events", "end"), [c[1:] for c in SESSION], ids=[c[0] for c in SESSION]
)
async def test_session_window(given: str, events: list[tuple[int, str]], end: Any) -> None:
    assert await run(src(given) | session_window(4)) == (events, end)


async def test_tumbling_event_time() -> None:
    # Flink/Beam-style event-time tumbling windows of 4 aligned at 0: a window is emitted
    # when the watermark (largest time seen) passes its end, in order of end; at the end
    # of input every open window is flushed.
    times = {"a": 1, "b": 5, "c": 2, "d": 9, "e": 3}
    stream = src("abcde|", **times) | tumbling_window(4, time=lambda t: t)
    rec = await record(stream, until=60)
    got = [(t, w.start, w.end, list(w.items)) for t, w in rec.events]
    # b (5) moves the watermark past 4, which closes [0, 4): c (2) and e (3) come after
    # it, so they are late and dropped (counted in the stats, not silently lost).
    assert [w[1:] for w in got] == [(0, 4, [1]), (4, 8, [5]), (8, 12, [9])]
    assert rec.end_time == 5


async def test_tumbling_event_time_counts_late_items() -> None:
    # the same input: the two late items are counted as dropped, none lost silently
    stream = src("abcde|", a=1, b=5, c=2, d=9, e=3) | tumbling_window(4, time=lambda t: t)
    await record(stream, until=60)
    assert stream.stats()["tumbling_window"].dropped == {"late": 2}


async def test_tumbling_event_time_allowed_lateness() -> None:
    # Flink's allowedLateness / Beam's withAllowedLateness: the watermark lags the largest
    # time by 2, so c (2) still reaches [0, 4), which closes when d (9) comes at 3; e (3)
    # comes after that and is late; the other windows are flushed at the end (5).
    stream = src("abcde|", a=1, b=5, c=2, d=9, e=3) | tumbling_window(
        4, time=lambda t: t, allowed_lateness=2
    )
    rec = await record(stream, until=60)
    assert [(t, w.start, list(w.items)) for t, w in rec.events] == [
        (3, 0, [1, 2]),
        (5, 4, [5]),
        (5, 8, [9]),
    ]


async def test_session_window_event_time_merge() -> None:
    # Beam/Flink session windows in event time: an item that bridges two sessions merges
    # them into one: the merged sessions' items in the order of their starts, then the
    # bridging item, which (as any item) is added in arrival order. With gap 4, a gives
    # [1, 5), b [7, 11), and c (4) [4, 8) overlaps both; the lateness of 5 keeps [1, 5)
    # open until c comes.
    stream = src("abc|", a=1, b=7, c=4) | session_window(4, time=lambda t: t, allowed_lateness=5)
    rec = await record(stream, until=60)
    assert [(w.start, w.end, list(w.items)) for _, w in rec.events] == [(1, 11, [1, 7, 4])]


async def test_session_window_event_time_late_is_counted() -> None:
    # without lateness [1, 5) is closed by b (7), so c (2) fits no open session and its
    # own [2, 6) would already be closed: late, and counted.
    stream = src("abc|", a=1, b=7, c=2) | session_window(4, time=lambda t: t)
    rec = await record(stream, until=60)
    assert [list(w.items) for _, w in rec.events] == [[1], [7]]
    assert stream.stats()["session_window"].dropped == {"late": 1}
