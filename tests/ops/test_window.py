"""Window family: chunks, tumbling_window, sliding_window, session_window.

Processing-time tests run on the virtual clock (both backends) and assert exact emission
times; event-time tests check the watermark rules (emit as soon as the watermark reaches
a window's end, in order of end; late items counted, never lost).
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream import (
    Operator,
    Window,
    chunks,
    from_iterable,
    session_window,
    sliding_window,
    take,
    tumbling_window,
)
from anystream.testing import ScriptedSource, at, end, hang, raise_, record, scripted

pytestmark = pytest.mark.anyio


def shape(w: Window[Any]) -> tuple[Any, ...]:
    """A window as a tuple: (start, end, key, items or value, count)."""
    return (w.start, w.end, w.key, w.items if w.value is None else w.value, w.count)


def first(e: tuple[float, Any]) -> float:
    return e[0]


# -- chunks -------------------------------------------------------------------------------


async def test_chunks_by_count() -> None:
    assert await (from_iterable(range(7)) | chunks(3)).collect() == [[0, 1, 2], [3, 4, 5], [6]]
    assert await (from_iterable(range(6)) | chunks(3)).collect() == [[0, 1, 2], [3, 4, 5]]
    assert await (from_iterable([]) | chunks(3)).collect() == []


async def test_chunks_with_timeout_from_first_item_of_each_chunk() -> None:
    script = [at(0, "a"), at(1, "b"), at(10, "c"), at(10.5, "d"), at(11, "e"), at(20, end())]
    rec = await record(scripted(*script) | chunks(3, timeout=2))
    assert rec.events == [(2, ["a", "b"]), (11, ["c", "d", "e"])]
    assert rec.end_time == 20


async def test_chunks_with_timeout_flushes_at_end() -> None:
    rec = await record(scripted(at(0, "a"), at(1, end())) | chunks(3, timeout=5))
    assert rec.events == [(1, ["a"])]


# -- processing time ----------------------------------------------------------------------


async def test_tumbling_processing_time() -> None:
    script = [at(0.5, "a"), at(1, "b"), at(3, "c"), at(4.1, "d"), at(5, end())]
    rec = await record(scripted(*script) | tumbling_window(2))
    assert [(t, shape(w)) for t, w in rec.events] == [
        (2, (0, 2, None, ["a", "b"], 2)),
        (4, (2, 4, None, ["c"], 1)),
        (5, (4, 6, None, ["d"], 1)),  # flushed at end of input with its nominal end
    ]


async def test_tumbling_processing_time_emit_empty_and_aggregate() -> None:
    script = [at(0.5, 1), at(1, 2), at(5, 3), at(5.5, end())]
    rec = await record(
        scripted(*script) | tumbling_window(2, emit_empty=True, aggregate=(int, op.add))
    )
    assert [(t, shape(w)) for t, w in rec.events] == [
        (2, (0, 2, None, 3, 2)),
        (4, (2, 4, None, 0, 0)),
        (5.5, (4, 6, None, 3, 1)),
    ]
    assert all(w.items == [] for w in rec.items)


async def test_tumbling_processing_time_keyed() -> None:
    script = [
        at(0.5, ("x", 1)),
        at(1, ("y", 2)),
        at(1.5, ("x", 3)),
        at(3, ("y", 4)),
        at(3.5, end()),
    ]
    s = scripted(*script) | tumbling_window(2, key=first, aggregate=(int, lambda a, e: a + e[1]))
    rec = await record(s)
    assert [(t, shape(w)) for t, w in rec.events] == [
        (2, (0, 2, "x", 4, 2)),
        (2, (0, 2, "y", 2, 1)),
        (3.5, (2, 4, "y", 4, 1)),
    ]


async def test_sliding_processing_time() -> None:
    rec = await record(scripted(at(1, "a"), at(3, "b"), at(7, end())) | sliding_window(4, 2))
    assert [(t, shape(w)) for t, w in rec.events] == [
        (2, (-2, 2, None, ["a"], 1)),
        (4, (0, 4, None, ["a", "b"], 2)),
        (6, (2, 6, None, ["b"], 1)),
    ]


async def test_session_processing_time() -> None:
    rec = await record(
        scripted(at(0, "a"), at(1, "b"), at(5, "c"), at(5.5, end())) | session_window(2)
    )
    assert [(t, shape(w)) for t, w in rec.events] == [
        (3, (0, 3, None, ["a", "b"], 2)),
        (5.5, (5, 7, None, ["c"], 1)),
    ]


# -- event time ---------------------------------------------------------------------------


async def test_event_time_tumbling_closes_on_watermark_and_counts_late() -> None:
    # (event time, name) arriving at virtual times 0, 1, 2, 3, 4; input ends at 5.
    script = [
        at(0, (1, "a")),
        at(1, (2, "b")),
        at(2, (6, "c")),
        at(3, (3, "late")),
        at(4, (12, "d")),
    ]
    s = scripted(*script, at(5, end())) | tumbling_window(5, time=first)
    rec = await record(s)
    assert [(t, shape(w)) for t, w in rec.events] == [
        (2, (0, 5, None, [(1, "a"), (2, "b")], 2)),  # as soon as event time 6 is seen
        (4, (5, 10, None, [(6, "c")], 1)),
        (5, (10, 15, None, [(12, "d")], 1)),  # flushed at end of input
    ]
    stats = s.stats()["tumbling_window"]
    assert stats.dropped == {"late": 1}
    assert (stats.received, stats.emitted) == (5, 3)


async def test_event_time_on_late_and_allowed_lateness() -> None:
    late: list[Any] = []
    events = [1, 6, 3, 8, 4, 11]
    s = from_iterable(events) | tumbling_window(
        5,
        time=float,
        allowed_lateness=2,
        on_late=late.append,
        aggregate=(list, lambda a, x: [*a, x]),
    )
    windows = await s.collect()
    # 3 is within the allowed lateness (watermark 4); 8 moves it to 6, closing [0, 5).
    assert [shape(w) for w in windows] == [
        (0, 5, None, [1, 3], 2),
        (5, 10, None, [6, 8], 2),
        (10, 15, None, [11], 1),
    ]
    assert late == [4]
    stats = s.stats()["tumbling_window"]
    assert stats.dead_lettered == 1
    assert stats.dropped == {}


async def test_event_time_keyed_windows_in_order_of_end() -> None:
    events = [("x", 1), ("y", 7), ("x", 3), ("y", 2), ("x", 12), ("y", 16)]
    s = from_iterable(events) | tumbling_window(
        5, key=first, time=lambda e: e[1], allowed_lateness=5
    )
    windows = await s.collect()
    assert [shape(w) for w in windows] == [
        (0, 5, "x", [("x", 1), ("x", 3)], 2),
        (0, 5, "y", [("y", 2)], 1),
        (5, 10, "y", [("y", 7)], 1),
        (10, 15, "x", [("x", 12)], 1),
        (15, 20, "y", [("y", 16)], 1),
    ]
    assert [w.end for w in windows] == sorted(w.end for w in windows)


async def test_event_time_sliding_item_in_all_windows_or_late() -> None:
    late: list[float] = []
    s = from_iterable([1.0, 6.0, 4.0, 12.0]) | sliding_window(
        10, 5, time=float, on_late=late.append, aggregate=(int, lambda a, x: a + 1)
    )
    windows = await s.collect()
    # 4.0 belongs to [-5, 5) (closed once 6.0 was seen) and [0, 10): late as a whole.
    assert late == [4.0]
    assert [(w.start, w.end, w.count) for w in windows] == [
        (-5, 5, 1),
        (0, 10, 2),
        (5, 15, 2),
        (10, 20, 1),
    ]


async def test_event_time_sessions_merge_when_bridged() -> None:
    s = from_iterable([1.0, 6.0, 3.5, 20.0]) | session_window(3, time=float, allowed_lateness=3)
    windows = await s.collect()
    assert [shape(w) for w in windows] == [
        (1.0, 9.0, None, [1.0, 6.0, 3.5], 3),
        (20.0, 23.0, None, [20.0], 1),
    ]


async def test_event_time_session_aggregate_needs_merge() -> None:
    with pytest.raises(TypeError, match="merge"):
        session_window(3, time=float, aggregate=(int, op.add))
    s = from_iterable([1.0, 6.0, 3.5, 20.0]) | session_window(
        3, time=float, allowed_lateness=3, aggregate=(float, op.add, op.add)
    )
    assert [shape(w) for w in await s.collect()] == [
        (1.0, 9.0, None, 10.5, 3),
        (20.0, 23.0, None, 20.0, 1),
    ]


async def test_event_time_aggregate_keeps_only_the_value() -> None:
    s = from_iterable(range(10)) | tumbling_window(4, time=float, aggregate=(int, op.add))
    windows = await s.collect()
    assert [(w.start, w.value, w.count, w.items) for w in windows] == [
        (0, 6, 4, []),
        (4, 22, 4, []),
        (8, 17, 2, []),
    ]


# -- errors, early exit, arguments --------------------------------------------------------


def boom(*args: Any) -> Any:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: tumbling_window(5, key=boom), "tumbling_window"),
        (lambda: tumbling_window(5, time=boom), "tumbling_window"),
        (lambda: tumbling_window(5, time=float, aggregate=(int, boom)), "tumbling_window"),
        (lambda: tumbling_window(5, aggregate=(boom, op.add)), "tumbling_window"),
        (lambda: sliding_window(5, 1, time=float, key=boom), "sliding_window"),
        (lambda: session_window(5, key=boom), "session_window"),
        (lambda: tumbling_window(1, time=float, on_late=boom), "tumbling_window"),
    ],
)
async def test_user_callback_error_propagates_with_note(
    make: Callable[[], Operator[Any, Any]], name: str
) -> None:
    with pytest.raises(RuntimeError, match="boom") as info:
        await (from_iterable([5, 1]) | make()).collect()
    assert any(name in note for note in info.value.__notes__)


WINDOWS: dict[str, Callable[[], Operator[Any, Any]]] = {
    "chunks": lambda: chunks(1),
    "chunks_timeout": lambda: chunks(1, timeout=1),
    "tumbling": lambda: tumbling_window(1),
    "tumbling_event": lambda: tumbling_window(1, time=first),
    "sliding": lambda: sliding_window(2, 1),
    "sliding_event": lambda: sliding_window(2, 1, time=first),
    "session": lambda: session_window(1),
    "session_event": lambda: session_window(1, time=first),
}


@pytest.mark.parametrize("make", WINDOWS.values(), ids=WINDOWS.keys())
async def test_early_exit_closes_upstream(make: Callable[[], Operator[Any, Any]]) -> None:
    # A finite source: with a source that goes quiet after take() is satisfied the run
    # waits for it (core bug, see tests/ops/test_flow.py::test_take_after_boundary...).
    source = ScriptedSource(*(at(5 * i, (5 * i, i)) for i in range(20)))
    assert len(await (source.as_stream() | make() | take(1)).collect()) == 1
    assert source.opened == source.closed == 1
    assert source.emitted < 20


@pytest.mark.parametrize("make", WINDOWS.values(), ids=WINDOWS.keys())
async def test_break_closes_upstream(make: Callable[[], Operator[Any, Any]]) -> None:
    source = ScriptedSource(at(0, (0, "a")), at(5, (5, "b")), at(10, (10, "c")), hang())
    async with (source.as_stream() | make()).stream() as items:
        async for _ in items:
            break
    assert source.opened == source.closed == 1


@pytest.mark.parametrize("make", WINDOWS.values(), ids=WINDOWS.keys())
async def test_upstream_error_propagates_as_itself(make: Callable[[], Operator[Any, Any]]) -> None:
    error = ValueError("boom")
    source = ScriptedSource(at(0, (0, "a")), at(0.5, raise_(error)))
    with pytest.raises(ValueError, match="boom") as info:
        await (source.as_stream() | make()).collect()
    assert info.value is error
    assert source.closed == 1


@pytest.mark.parametrize(
    ("build", "exc", "name"),
    [
        (lambda: chunks(0), ValueError, "n"),
        (lambda: chunks(2.0), TypeError, "n"),
        (lambda: chunks(2, timeout=0), ValueError, "timeout"),
        (lambda: tumbling_window(0), ValueError, "size"),
        (lambda: tumbling_window(1, key=3), TypeError, "key"),
        (lambda: tumbling_window(1, time="t"), TypeError, "time"),
        (lambda: tumbling_window(1, allowed_lateness=1), ValueError, "allowed_lateness"),
        (
            lambda: tumbling_window(1, time=float, allowed_lateness=-1),
            ValueError,
            "allowed_lateness",
        ),
        (lambda: tumbling_window(1, on_late=print), ValueError, "on_late"),
        (lambda: tumbling_window(1, aggregate=int), TypeError, "aggregate"),
        (lambda: tumbling_window(1, aggregate=(int, 3)), TypeError, "aggregate"),
        (lambda: tumbling_window(1, emit_empty=1), TypeError, "emit_empty"),
        (lambda: tumbling_window(1, key=first, emit_empty=True), ValueError, "emit_empty"),
        (lambda: tumbling_window(1, time=first, emit_empty=True), ValueError, "emit_empty"),
        (lambda: sliding_window(1e12, 1), ValueError, "step"),
        (lambda: sliding_window(1, 0), ValueError, "step"),
        (lambda: session_window(-1), ValueError, "gap"),
        (lambda: session_window(1, on_late=print), ValueError, "on_late"),
    ],
)
def test_bad_arguments_name_the_argument(
    build: Callable[[], object], exc: type[Exception], name: str
) -> None:
    with pytest.raises(exc, match=name):
        build()


# -- properties ---------------------------------------------------------------------------

timestamps = st.lists(st.integers(min_value=0, max_value=200).map(float), max_size=60)
lateness = st.sampled_from([0, 1, 5, 30])


def check_order(windows: list[Window[Any]]) -> None:
    assert [w.end for w in windows] == sorted(w.end for w in windows)


@settings(max_examples=40, deadline=None)
@given(ts=timestamps, late_by=lateness, size=st.sampled_from([1.0, 3.0, 10.0]))
async def test_property_tumbling_counts_plus_late_equal_input(
    ts: list[float], late_by: int, size: float
) -> None:
    late: list[float] = []
    s = from_iterable(ts) | tumbling_window(
        size, time=float, allowed_lateness=late_by, on_late=late.append
    )
    windows = await s.collect()
    assert sum(w.count for w in windows) + len(late) == len(ts)
    assert sorted([*(x for w in windows for x in w.items), *late]) == sorted(ts)
    assert all(w.start <= x < w.end for w in windows for x in w.items)
    check_order(windows)


@settings(max_examples=40, deadline=None)
@given(ts=timestamps, late_by=lateness, span=st.sampled_from([1, 2, 3]))
async def test_property_sliding_counts_plus_late_equal_input(
    ts: list[float], late_by: int, span: int
) -> None:
    s = from_iterable(ts) | sliding_window(2.0 * span, 2.0, time=float, allowed_lateness=late_by)
    windows = await s.collect()
    late = s.stats()["sliding_window"].dropped.get("late", 0)
    assert sum(w.count for w in windows) == (len(ts) - late) * span
    check_order(windows)


@settings(max_examples=40, deadline=None)
@given(ts=timestamps, late_by=lateness, gap=st.sampled_from([1.0, 4.0, 15.0]))
async def test_property_session_counts_plus_late_equal_input(
    ts: list[float], late_by: int, gap: float
) -> None:
    s = from_iterable(ts) | session_window(gap, time=float, allowed_lateness=late_by)
    windows = await s.collect()
    late = s.stats()["session_window"].dropped.get("late", 0)
    assert sum(w.count for w in windows) + late == len(ts)
    assert all(w.start <= x < w.end for w in windows for x in w.items)
    check_order(windows)
