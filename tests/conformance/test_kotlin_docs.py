"""Examples from Kotlin Flow's documentation (``debounce``, ``sample``, ``conflate``,
``zip``, ``combine``, ``take``, ``runningReduce``, ``flatMapLatest``), in our own words,
with the same timings (milliseconds as thousandths of a virtual second), both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import anystream as a
from anystream import Stream, buffered, debounce, sample, scan, switch_map, take, zip, zip_latest
from anystream._core.source import FactorySource
from anystream.testing import at, scripted

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def timed(stream: Stream[Any]) -> list[tuple[float, Any]]:
    start = anyio.current_time()
    out: list[tuple[float, Any]] = []
    with anyio.fail_after(60):
        async with stream.stream() as items:
            async for x in items:
                out.append((round(anyio.current_time() - start, 6), x))
    return out


def every(ms: int, values: list[Any], *, first_after: bool = True) -> Stream[Any]:
    """``flow { for (v in values) { delay(ms); emit(v) } }`` (or emit first, then delay)."""
    step = ms / 1000

    async def gen() -> AsyncIterator[Any]:
        for v in values:
            if first_after:
                await anyio.sleep(step)
            yield v
            if not first_after:
                await anyio.sleep(step)

    return Stream(FactorySource(gen, f"every({ms})"))


async def test_debounce_doc_example() -> None:
    # debounce(1000): emit 1; delay 90; emit 2; delay 90; emit 3; delay 1010; emit 4;
    # delay 1010; emit 5 -> 3, 4, 5 (the last one at completion)
    s = scripted(at(0, 1), at(0.09, 2), at(0.18, 3), at(1.19, 4), at(2.2, 5)) | debounce(1.0)
    assert await timed(s) == [(1.18, 3), (2.19, 4), (2.2, 5)]


async def test_sample_doc_example() -> None:
    # repeat(10) { emit(it); delay(110) } sampled every 200 ms -> 1, 3, 5, 7, 9
    s = every(110, list(range(10)), first_after=False) | sample(0.2)
    assert [x for _, x in await timed(s)] == [1, 3, 5, 7, 9]


async def test_conflate_doc_example() -> None:
    # for (i in 1..30) { delay(100); emit(i) }, conflated, each taking 1000 ms to handle:
    # the collector sees 1, 10, 20, 30. (Scaled by 10 so that every instant is a whole
    # second: sums of 0.1 drift in floating point and would move the ties.) At a tie the
    # collector, whose wait was set first, wakes first (anystream.testing's clocks).
    s = every(1000, list(range(1, 31))) | buffered(1, overflow="latest")
    seen: list[int] = []
    with anyio.fail_after(100):
        async with s.stream() as items:
            async for x in items:
                seen.append(x)
                await anyio.sleep(10)
    assert seen == [1, 10, 20, 30]


async def test_zip_doc_example() -> None:
    # (1..3) every 300 ms zipped with "one", "two", "three" every 400 ms: one pair per
    # slower item, at 400, 800, 1200
    nums = every(300, [1, 2, 3])
    strs = every(400, ["one", "two", "three"])
    got = await timed(zip(nums, strs) | a.map(lambda p: f"{p[0]} -> {p[1]}"))
    assert got == [(0.4, "1 -> one"), (0.8, "2 -> two"), (1.2, "3 -> three")]


async def test_combine_doc_example() -> None:
    # the same two flows combined: a pair whenever either emits, once both have
    nums = every(300, [1, 2, 3])
    strs = every(400, ["one", "two", "three"])
    got = await timed(zip_latest(nums, strs, partial=False) | a.map(lambda p: f"{p[0]} -> {p[1]}"))
    assert got == [
        (0.4, "1 -> one"),
        (0.6, "2 -> one"),
        (0.8, "2 -> two"),
        (0.9, "3 -> two"),
        (1.2, "3 -> three"),
    ]


async def test_take_doc_example_closes_the_upstream() -> None:
    # numbers() = flow { try { emit(1); emit(2); println("not reached"); emit(3) }
    # finally { println("Finally in numbers") } }.take(2): 1, 2, and the finally runs
    log: list[str] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
            log.append("not reached")
            yield 3
        finally:
            log.append("finally")

    with anyio.fail_after(10):
        got = await (Stream(FactorySource(numbers, "numbers")) | take(2)).collect()
    assert got == [1, 2]
    assert log == ["finally"]


async def test_running_reduce_doc_example() -> None:
    # flowOf(1, 2, 3, 4).runningReduce { acc, v -> acc + v } -> 1, 3, 6, 10: scan without
    # an initial value
    with anyio.fail_after(10):
        assert await (a.range(1, 5) | scan(lambda acc, v: acc + v)).collect() == [1, 3, 6, 10]


async def test_flat_map_latest_doc_example() -> None:
    # flow { emit("a"); delay(100); emit("b") }.flatMapLatest { v -> flow { emit(v);
    # delay(200); emit(v + "_last") } } -> a, b, b_last
    outer = scripted(at(0, "a"), at(0.1, "b"))

    def inner(v: str) -> Stream[str]:
        return scripted(at(0, v), at(0.2, v + "_last"))

    got = await timed(outer | switch_map(inner))
    assert got == [(0.0, "a"), (0.1, "b"), (0.3, "b_last")]
