"""Transform family: map, parse, map_async, starmap, tap, scan, enumerate, pairwise,
flat_map, merge_map, switch_map."""

from __future__ import annotations

import builtins
import operator as op
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anystream import (
    Stream,
    buffered,
    enumerate,
    flat_map,
    from_iterable,
    map,
    map_async,
    merge_map,
    pairwise,
    parse,
    range,
    scan,
    starmap,
    switch_map,
    take,
    tap,
)
from anystream.testing import CountingSource, at, raised_in, record, run, scripted

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


def boom_at(n: int) -> Any:
    def fn(x: Any, *rest: Any) -> Any:
        if x == n:
            raise Boom(f"boom at {x}")
        return x

    return fn


async def first_then_exit(stream: Stream[Any]) -> Any:
    async with stream.stream() as items:
        async for item in items:
            return item
    return None


# -- map / parse ----------------------------------------------------------------------------


async def test_map_output() -> None:
    assert await (range(5) | map(lambda x: x * 2)).collect() == [0, 2, 4, 6, 8]


def test_map_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="map\\(\\): fn must be callable"):
        map(3)  # type: ignore[arg-type]

    async def coro(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"fn is a coroutine function.*map_async"):
        map(coro)


async def test_map_error_propagates_with_note() -> None:
    src = CountingSource(10)
    with pytest.raises(Boom) as info:
        await (src.stream() | map(boom_at(3))).collect()
    assert raised_in(info.value, "map(")
    assert src.closed


async def test_parse_drops_and_counts_malformed() -> None:
    s = from_iterable(["1", "x", "3", "", "5"]) | parse(int)
    assert await s.collect() == [1, 3, 5]
    stats = s.stats()["parse"]
    assert (stats.received, stats.emitted, stats.dropped) == (5, 3, {"malformed": 2})


async def test_parse_raise_mode_and_other_errors() -> None:
    with pytest.raises(ValueError, match="invalid literal") as info:
        await (from_iterable(["1", "x"]) | parse(int, on_error="raise")).collect()
    assert raised_in(info.value, "parse(")
    with pytest.raises(Boom):  # not a "malformed" exception type: always propagates
        await (range(5) | parse(boom_at(2))).collect()


def test_parse_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="on_error"):
        parse(int, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fn must be callable"):
        parse("int")  # type: ignore[arg-type]


# -- map_async --------------------------------------------------------------------------------


class Gauge:
    """An async function that records how many calls are in flight at once."""

    def __init__(self, delay: Any = 0.1) -> None:
        self.delay = delay
        self.active = 0
        self.peak = 0
        self.started: list[int] = []

    async def __call__(self, x: int) -> int:
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.started.append(x)
        try:
            await anyio.sleep(self.delay(x) if callable(self.delay) else self.delay)
        finally:
            self.active -= 1
        return x * 10


@pytest.mark.parametrize("concurrency", [1, 3, 8])
@pytest.mark.parametrize("ordered", [True, False])
async def test_map_async_never_exceeds_concurrency(concurrency: int, ordered: bool) -> None:
    fn = Gauge(delay=lambda x: 0.01 * (x % 5 + 1))
    out = await (range(50) | map_async(fn, concurrency=concurrency, ordered=ordered)).collect()
    assert fn.peak == concurrency
    assert sorted(out) == [x * 10 for x in builtins.range(50)]
    if ordered:
        assert out == [x * 10 for x in builtins.range(50)]


async def test_map_async_unordered_emits_in_completion_order() -> None:
    fn = Gauge(delay=lambda x: {0: 0.3, 1: 0.1, 2: 0.2}[x])
    s = from_iterable([0, 1, 2]) | map_async(fn, concurrency=3, ordered=False)
    rec = await record(s)
    assert rec.events == [(0.1, 10), (0.2, 20), (0.3, 0)]


async def test_map_async_ordered_holds_at_most_twice_concurrency() -> None:
    # Item 0 is slow, the rest fast: finished results pile up waiting for item 0. The
    # stage may start at most 2 * concurrency items before item 0 is emitted.
    concurrency = 3
    fn = Gauge(delay=lambda x: 10.0 if x == 0 else 0.01)
    started_before_first_out = 0

    async def sample() -> None:
        nonlocal started_before_first_out
        await anyio.sleep(9.0)  # item 0 is still running: everything else waits for it
        started_before_first_out = len(fn.started)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sample)
        out = await (range(100) | map_async(fn, concurrency=concurrency)).collect()
    assert out == [x * 10 for x in builtins.range(100)]
    assert started_before_first_out == 2 * concurrency
    assert fn.peak <= concurrency


@pytest.mark.parametrize("ordered", [True, False])
async def test_map_async_calls_that_never_suspend_cost_no_task_switch(ordered: bool) -> None:
    # The workers take turns only when a call suspends (or the output is full): a call
    # that completes at once is followed by the next item in the same worker, so the
    # items go through in batches. Handing each item to another worker cost a task switch
    # per item (the 25x of bench C).
    previous: list[object] = [None]
    switches = 0

    async def immediate(x: int) -> int:
        nonlocal switches
        task = anyio.get_current_task().id
        if task != previous[0]:
            switches += 1
            previous[0] = task
        return x * 10

    n = 2_000
    out = await (range(n) | map_async(immediate, concurrency=16, ordered=ordered)).collect()
    assert sorted(out) == [x * 10 for x in builtins.range(n)]
    if ordered:
        assert out == [x * 10 for x in builtins.range(n)]
    assert switches <= n // 10


@given(
    delays=st.lists(st.sampled_from([None, 0.0, 0.01, 0.03]), max_size=40),
    concurrency=st.integers(1, 6),
    ordered=st.booleans(),
)
def test_map_async_mixed_suspending_calls_keep_order_and_bound(
    delays: list[float | None], concurrency: int, ordered: bool
) -> None:
    """Calls that complete at once (None), checkpoint (0.0) or sleep, in any mix."""

    async def main() -> tuple[list[int], int]:
        active = peak = 0

        async def fn(i: int) -> int:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                if delays[i] is not None:
                    await anyio.sleep(delays[i])
            finally:
                active -= 1
            return i

        s = range(len(delays)) | map_async(fn, concurrency=concurrency, ordered=ordered)
        return await s.collect(), peak

    for backend in ("asyncio", "trio"):
        out, peak = run(main, backend=backend)
        assert sorted(out) == list(builtins.range(len(delays)))
        if ordered:
            assert out == list(builtins.range(len(delays)))
        assert peak <= concurrency


async def test_map_async_error_is_itself_with_note() -> None:
    async def fail(x: int) -> int:
        await anyio.sleep(0.01)
        if x == 4:
            raise Boom("four")
        return x

    for concurrency in (1, 4):
        src = CountingSource(100)
        with pytest.raises(Boom, match="four") as info:
            await (src.stream() | map_async(fail, concurrency=concurrency)).collect()
        assert raised_in(info.value, "map_async(")
        assert src.closed


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_map_async_early_exit_closes_upstream(concurrency: int) -> None:
    async def slow(x: int) -> int:
        await anyio.sleep(0.01)
        return x

    src = CountingSource(10_000)
    s = src.stream() | map_async(slow, concurrency=concurrency)
    assert await first_then_exit(s) == 0
    assert src.closed
    # No more than the stage and its hand-offs hold (see the README's memory bound).
    assert src.pulled <= s.explain().memory_bound + 1


def test_map_async_rejects_bad_arguments() -> None:
    async def fn(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="fn must be callable"):
        map_async(None)  # type: ignore[arg-type]
    # A plain function is accepted when built (it may return awaitables) and refused at
    # its first non-awaitable result: tests/ops/test_awaitable_results.py.
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        map_async(fn, concurrency=0)
    with pytest.raises(TypeError, match="concurrency must be an int"):
        map_async(fn, concurrency=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ordered"):
        map_async(fn, ordered="yes")  # type: ignore[arg-type]


# -- starmap / tap ----------------------------------------------------------------------------


async def test_starmap_sync_and_async() -> None:
    pairs = [(1, 2), (3, 4), (5, 6)]
    assert await (from_iterable(pairs) | starmap(op.mul)).collect() == [2, 12, 30]

    async def add(a: int, b: int) -> int:
        await anyio.sleep(0.01)
        return a + b

    assert await (from_iterable(pairs) | starmap(add)).collect() == [3, 7, 11]


async def test_starmap_error_and_bad_argument() -> None:
    with pytest.raises(Boom) as info:
        await (from_iterable([(1, 2), (3, 4)]) | starmap(boom_at(3))).collect()
    assert raised_in(info.value, "starmap(")
    with pytest.raises(TypeError, match="starmap\\(\\): fn must be callable"):
        starmap(None)  # type: ignore[arg-type]


async def test_tap_sync_async_and_awaitable_returning() -> None:
    seen: list[int] = []

    async def record_async(x: int) -> None:
        await anyio.sleep(0.01)
        seen.append(-x)

    s = (
        range(3)
        | tap(seen.append)
        | tap(record_async)
        | tap(lambda x: record_async(x + 100))  # a plain lambda returning a coroutine
        | map(lambda x: x * 2)
    )
    assert await s.collect() == [0, 2, 4]
    assert seen == [0, 0, -100, 1, -1, -101, 2, -2, -102]
    stats = s.stats()["tap"]
    assert (stats.received, stats.emitted, stats.dropped) == (3, 3, {})


async def test_tap_error_and_bad_argument() -> None:
    src = CountingSource(10)
    with pytest.raises(Boom) as info:
        await (src.stream() | tap(boom_at(2))).collect()
    assert raised_in(info.value, "tap(")
    assert src.closed
    with pytest.raises(TypeError, match="tap\\(\\): fn must be callable"):
        tap(1)  # type: ignore[arg-type]


# -- scan / enumerate / pairwise --------------------------------------------------------------


async def test_scan_emits_each_accumulated_value_not_initial() -> None:
    assert await (range(5) | scan(op.add, 0)).collect() == [0, 1, 3, 6, 10]
    assert await (range(1, 5) | scan(op.mul, 1)).collect() == [1, 2, 6, 24]
    assert await (range(0) | scan(op.add, 0)).collect() == []


async def test_scan_without_initial_and_async_fn() -> None:
    assert await (range(1, 5) | scan(op.add)).collect() == [1, 3, 6, 10]

    async def add(acc: list[int], x: int) -> list[int]:
        await anyio.sleep(0.01)
        return [*acc, x]

    assert await (range(3) | scan(add, [])).collect() == [[0], [0, 1], [0, 1, 2]]


async def test_scan_is_fresh_per_run() -> None:
    s = range(3) | scan(op.add, 10)
    assert await s.collect() == [10, 11, 13]
    assert await s.collect() == [10, 11, 13]


@given(st.lists(st.integers()), st.integers())
def test_scan_matches_itertools_accumulate(items: list[int], initial: int) -> None:
    import itertools

    async def main() -> list[int]:
        return await (from_iterable(items) | scan(op.add, initial)).collect()

    expected = list(itertools.accumulate(items, op.add, initial=initial))[1:]
    assert run(main, backend="asyncio") == expected


async def test_scan_error_and_bad_argument() -> None:
    src = CountingSource(10)

    def fail(acc: int, x: int) -> int:
        if x == 3:
            raise Boom("scan")
        return acc + x

    with pytest.raises(Boom) as info:
        await (src.stream() | scan(fail, 0)).collect()
    assert raised_in(info.value, "scan(")
    assert src.closed
    with pytest.raises(TypeError, match="scan\\(\\): fn must be callable"):
        scan(0, 0)  # type: ignore[call-overload]


async def test_enumerate_and_pairwise() -> None:
    assert await (from_iterable("abc") | enumerate()).collect() == [(0, "a"), (1, "b"), (2, "c")]
    assert await (from_iterable("ab") | enumerate(5)).collect() == [(5, "a"), (6, "b")]
    assert await (from_iterable("abcd") | pairwise()).collect() == [
        ("a", "b"),
        ("b", "c"),
        ("c", "d"),
    ]
    assert await (from_iterable("a") | pairwise()).collect() == []
    s = range(2) | enumerate()
    assert await s.collect() == await s.collect() == [(0, 0), (1, 1)]
    with pytest.raises(TypeError, match="enumerate\\(\\): start must be an int"):
        enumerate("1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "operator",
    [lambda: scan(op.add, 0), lambda: enumerate(), lambda: pairwise(), lambda: tap(print)],
)
async def test_per_item_operators_close_upstream_on_early_exit(operator: Any) -> None:
    src = CountingSource()
    with anyio.fail_after(5):
        await first_then_exit(src.stream() | operator())
    assert src.closed
    assert src.pulled <= 2


# -- flat_map -------------------------------------------------------------------------------


async def inner_agen(x: int) -> AsyncIterator[tuple[int, int]]:
    for i in builtins.range(3):
        await anyio.sleep(0.1 * (x + 1))
        yield (x, i)


async def test_flat_map_concatenates_in_order() -> None:
    # Lists, sync generators, async generators and Streams (with a staged operator).
    assert await (range(4) | flat_map(lambda x: [x] * x)).collect() == [1, 2, 2, 3, 3, 3]

    def gen(x: int) -> Iterator[int]:
        yield from builtins.range(x)

    assert await (range(4) | flat_map(gen)).collect() == [0, 0, 1, 0, 1, 2]
    out = await (range(3) | flat_map(inner_agen)).collect()
    assert out == [(x, i) for x in builtins.range(3) for i in builtins.range(3)]
    inner = await (
        range(3) | flat_map(lambda x: range(x) | buffered(1) | map(lambda y: (x, y)))
    ).collect()
    assert inner == [(1, 0), (2, 0), (2, 1)]


async def test_flat_map_stats() -> None:
    s = range(4) | flat_map(lambda x: [x] * x)
    await s.collect()
    stats = s.stats()["flat_map"]
    assert (stats.received, stats.emitted) == (4, 6)


async def test_flat_map_errors_have_notes() -> None:
    with pytest.raises(Boom) as info:
        await (range(5) | flat_map(lambda x: [boom_at(2)(x)])).collect()
    assert raised_in(info.value, "flat_map(")

    async def failing(x: int) -> AsyncIterator[int]:
        yield x
        raise Boom("inner")

    with pytest.raises(Boom, match="inner") as info:
        await (range(5) | flat_map(failing)).collect()
    assert raised_in(info.value, "flat_map(")

    with pytest.raises(TypeError, match=r"flat_map.*must return a Stream"):
        await (range(2) | flat_map(lambda x: x)).collect()

    # An inner Stream's own operator names itself; no extra flat_map note on the way up.
    with pytest.raises(Boom) as info:
        await (range(2) | flat_map(lambda x: range(3) | map(boom_at(1)))).collect()
    assert raised_in(info.value, "map(")


def test_inner_operators_reject_bad_arguments() -> None:
    async def coro(x: int) -> list[int]:
        return [x]

    with pytest.raises(TypeError, match="flat_map\\(\\): fn is a coroutine function"):
        flat_map(coro)
    with pytest.raises(TypeError, match="merge_map\\(\\): fn must be callable"):
        merge_map(1, 2)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="merge_map\\(\\): concurrency must be >= 1"):
        merge_map(inner_agen, 0)
    with pytest.raises(TypeError, match="switch_map\\(\\): fn must be callable"):
        switch_map("x")  # type: ignore[arg-type]


async def test_coroutine_returned_by_fn_is_a_clear_error() -> None:
    async def coro(x: int) -> list[int]:
        return [x]

    with pytest.raises(TypeError, match="returned a coroutine"):
        await (range(2) | flat_map(lambda x: coro(x))).collect()


class InnerTracker:
    """Inner async generators that record how many are open and which were closed."""

    def __init__(self, n: int = 3, delay: float = 0.1) -> None:
        self.n = n
        self.delay = delay
        self.open = 0
        self.peak = 0
        self.closed: list[int] = []

    async def __call__(self, x: int) -> AsyncIterator[tuple[int, int]]:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            for i in builtins.range(self.n):
                await anyio.sleep(self.delay)
                yield (x, i)
        finally:
            self.open -= 1
            self.closed.append(x)

    def make(self, x: int) -> AsyncIterator[tuple[int, int]]:
        return self(x)


@pytest.mark.parametrize("make", ["flat_map", "merge_map", "switch_map"])
async def test_inner_operators_close_everything_on_early_exit(make: str) -> None:
    tracker = InnerTracker(n=100)
    operator = {
        "flat_map": lambda: flat_map(tracker.make),
        "merge_map": lambda: merge_map(tracker.make, 3),
        "switch_map": lambda: switch_map(tracker.make),
    }[make]()
    src = CountingSource()
    with anyio.fail_after(5):
        await first_then_exit(src.stream() | operator)
    assert src.closed
    assert tracker.open == 0


# -- merge_map ------------------------------------------------------------------------------


async def test_merge_map_interleaves() -> None:
    rec = await record(range(2) | merge_map(inner_agen, 2))
    # inner 0 emits every 0.1 s, inner 1 every 0.2 s, both from time 0.
    assert rec.events == [
        (0.1, (0, 0)),
        (0.2, (0, 1)),
        (0.2, (1, 0)),
        (0.3, (0, 2)),
        (0.4, (1, 1)),
        (0.6, (1, 2)),
    ] or rec.events == [
        (0.1, (0, 0)),
        (0.2, (1, 0)),
        (0.2, (0, 1)),
        (0.3, (0, 2)),
        (0.4, (1, 1)),
        (0.6, (1, 2)),
    ]


@pytest.mark.parametrize("concurrency", [1, 2, 5])
async def test_merge_map_bounds_open_inner_streams(concurrency: int) -> None:
    tracker = InnerTracker(n=3, delay=0.1)
    out = await (range(12) | merge_map(tracker.make, concurrency)).collect()
    assert tracker.peak == concurrency
    assert sorted(out) == [(x, i) for x in builtins.range(12) for i in builtins.range(3)]
    for x in builtins.range(12):  # order within one inner stream is kept
        assert [i for (y, i) in out if y == x] == [0, 1, 2]


async def test_merge_map_one_is_flat_map() -> None:
    a = await (range(3) | merge_map(inner_agen, 1)).collect()
    b = await (range(3) | flat_map(inner_agen)).collect()
    assert a == b


async def test_merge_map_inner_error_cancels_the_others() -> None:
    tracker = InnerTracker(n=100, delay=0.1)

    def make(x: int) -> Any:
        if x == 2:
            return from_iterable([1]) | map(boom_at(1))
        return tracker.make(x)

    with pytest.raises(Boom) as info:
        await (range(5) | merge_map(make, 3)).collect()
    assert raised_in(info.value, "map(")
    assert tracker.open == 0
    assert {0, 1} <= set(tracker.closed)  # and every inner opened was closed


# -- switch_map -----------------------------------------------------------------------------


async def test_switch_map_keeps_only_the_newest_inner() -> None:
    tracker = InnerTracker(n=3, delay=1.0)
    source = scripted(at(0.0, "a"), at(1.5, "b"), at(3.0, "c"))
    rec = await record(source | switch_map(tracker.make))
    assert rec.events == [
        (1.0, ("a", 0)),
        (2.5, ("b", 0)),
        (4.0, ("c", 0)),
        (5.0, ("c", 1)),
        (6.0, ("c", 2)),
    ]
    assert tracker.closed == ["a", "b", "c"]  # each inner closed before the next started
    assert tracker.peak == 1


async def test_switch_map_with_stream_inners() -> None:
    source = scripted(at(0.0, 1), at(1.5, 2))
    rec = await record(source | switch_map(lambda x: scripted(at(1.0, x), at(2.0, x * 10))))
    assert rec.events == [(1.0, 1), (2.5, 2), (3.5, 20)]


async def test_switch_map_error_in_fn() -> None:
    with pytest.raises(Boom) as info:
        await (range(5) | switch_map(lambda x: [boom_at(3)(x)])).collect()
    assert raised_in(info.value, "switch_map(")


async def test_take_after_inner_operator_stops_everything() -> None:
    tracker = InnerTracker(n=1_000, delay=0.01)
    src = CountingSource()
    out = await (src.stream() | merge_map(tracker.make, 2) | take(5)).collect()
    assert len(out) == 5
    assert src.closed
    assert tracker.open == 0
