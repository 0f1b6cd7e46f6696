"""scan, pairwise, reduce, count, enumerate, skip, take_last, skip_last,
distinct_until_changed and take_until against RxJS ``spec/operators`` marble specs,
aiostream ``test_aggregate.py`` / ``test_select.py`` and Kotlin Flow's docs; frames of
1 s on the virtual clock, both backends."""

from __future__ import annotations

import operator
from typing import Any

import anyio.lowlevel
import pytest

import anystream as st
from anystream import (
    Operator,
    Stream,
    count,
    distinct_until_changed,
    enumerate,
    pairwise,
    reduce,
    scan,
    skip,
    skip_last,
    take_last,
    take_until,
)

from ._marble import apply, draw, expect, join, src

pytestmark = pytest.mark.anyio


def ints(diagram: str) -> Stream[int]:
    """A source whose one-digit items are ints."""
    return src(diagram) | st.map(int)


SCAN = [
    # rxjs scan-spec "should scan": running sums, the seed is not emitted
    ("--1--2--3--|", 0, "--1--3--6--|"),
    # "should scan with a seed of undefined"-like: without a seed the first item is emitted
    # as it is (anystream has no "undefined" seed: no initial means "start from the first")
    ("--1--2--3--|", None, "--1--3--6--|"),
    # "should handle errors": the fold so far was emitted, then the error
    ("--1--2--#", 0, "--1--3--#"),
    # "should handle an empty source" / "never" / "throw"
    ("|", 0, "|"),
    ("-", 0, ""),
    ("#", 0, "#"),
    # simultaneous items each give their own running value
    ("-(123)|", 0, "-(136)|"),
    # Kotlin runningFold emits the initial value first; anystream's scan does not
    # (docs/operators.md notes): 1, 2, 3 -> 1, 3, 6 and never 0.
    ("123|", 0, "136|"),
]


@pytest.mark.parametrize(("given", "initial", "expected"), SCAN)
async def test_scan(given: str, initial: int | None, expected: str) -> None:
    op = scan(operator.add) if initial is None else scan(operator.add, initial)
    assert await draw(ints(given) | op, until=40) == expect(expected)


REDUCE = [
    # rxjs reduce-spec "should reduce": one value at completion
    ("-1-2-3-|", 0, "-------(6|)"),
    # "should reduce with seed if source is empty": the seed alone
    ("|", 5, "(5|)"),
    # "should raise error if source raises error": no value
    ("-1-2-#", 0, "-----#"),
    # "should not complete or emit if source never completes"
    ("-1-2-", 0, ""),
    # "should reduce without a seed": the first item starts the fold
    ("-1-2-3|", None, "------(6|)"),
    # "should reduce with a single item without seed": that item
    ("--4|", None, "---(4|)"),
]


@pytest.mark.parametrize(("given", "initial", "expected"), REDUCE)
async def test_reduce(given: str, initial: int | None, expected: str) -> None:
    op = reduce(operator.add) if initial is None else reduce(operator.add, initial)
    assert await draw(ints(given) | op, until=40) == expect(expected)


async def test_reduce_empty_without_seed() -> None:
    # rxjs reduce-spec "should complete without value if source is empty and no seed":
    # anystream deliberately follows functools.reduce instead and raises TypeError
    # (documented on reduce and in docs/operators.md).
    from anystream.testing import record

    rec = await record(src("--|") | reduce(operator.add), until=10, catch=TypeError)
    assert rec.events == []
    assert isinstance(rec.error, TypeError)
    assert "reduce" in "".join(getattr(rec.error, "__notes__", [])) + str(rec.error)


COUNT = [
    # rxjs count-spec "should count the values of an observable"
    ("--a--b--c--|", "-----------(3|)"),
    # "should be never when source is never"
    ("-", ""),
    # "should be zero when source is empty"
    ("|", "(0|)"),
    # "should be zero if only one item is filtered"-like: an item-less source that ends late
    ("-----|", "-----(0|)"),
    # "should raise error if source raises error": no count
    ("--a--#", "-----#"),
    # same-frame items are all counted
    ("(abc)-|", "------(3|)"),
]


@pytest.mark.parametrize(("given", "expected"), COUNT)
async def test_count(given: str, expected: str) -> None:
    assert await apply(given, count(), until=40) == expect(expected)


PAIRWISE = [
    # rxjs pairwise-spec "should group consecutive emissions as arrays of two"
    ("--a--b-c----d--e---|", "-----x-y----z--w---|", ["ab", "bc", "cd", "de"]),
    # "should pairwise things": a single item gives no pair
    ("--a--|", "-----|", []),
    # "should handle empty" / "never" / "throw"
    ("|", "|", []),
    ("-", "", []),
    ("#", "#", []),
    # "should not emit on the first item" then an error
    ("--a--b--#", "-----x--#", ["ab"]),
]


@pytest.mark.parametrize(("given", "expected", "pairs"), PAIRWISE)
async def test_pairwise(given: str, expected: str, pairs: list[str]) -> None:
    labels = dict(zip(pairs, "xyzw", strict=False))
    drawn = await apply(given, pairwise(), until=40, labels=lambda p: labels[join(p)])
    assert drawn == expect(expected)


ENUMERATE = [
    # aiostream test_enumerate / Kotlin withIndex: indices from 0, the timing unchanged
    ("-a-b--c|", 0, ["0a", "1b", "2c"], "-x-y--z|"),
    # aiostream enumerate(start=...): indices from start
    ("ab|", 5, ["5a", "6b"], "xy|"),
    # an error after some items keeps the indices given so far
    ("-a-#", 0, ["0a"], "-x-#"),
    ("|", 0, [], "|"),
]


@pytest.mark.parametrize(("given", "start", "pairs", "expected"), ENUMERATE)
async def test_enumerate(given: str, start: int, pairs: list[str], expected: str) -> None:
    labels = dict(zip(pairs, "xyz", strict=False))
    drawn = await apply(given, enumerate(start), until=40, labels=lambda p: labels[join(p)])
    assert drawn == expect(expected)


SELECT = [
    # rxjs skip-spec "should skip values before a total"
    ("--a--b--c--d--e--|", skip(3), "-----------d--e--|"),
    # "should skip all values without error if total is more than actual number of values"
    ("--a--b--c--d--e--|", skip(6), "-----------------|"),
    # "should skip all values without error if total is same as actual number of values"
    ("--a--b--|", skip(2), "--------|"),
    # "should not skip if count is zero"
    ("--a--b--|", skip(0), "--a--b--|"),
    # "should raise error if skip count is more than actual number of emits and source
    # raises error"
    ("--a--b--#", skip(6), "--------#"),
    # "should raise error if skip count is same as emits of source and source raises error"
    ("--a--b--c--d--#", skip(2), "--------c--d--#"),
    # "should not complete if source never completes without emit"
    ("-", skip(3), ""),
    # rxjs takeLast-spec "should take two values of an observable with many values": all
    # emitted at completion
    ("--a-----b----c---d--|", take_last(2), "--------------------(cd|)"),
    # "should take last three values" with fewer values: all of them
    ("--a--b--|", take_last(3), "--------(ab|)"),
    # "should work with empty" / "should go on forever on never" / "should raise error"
    ("|", take_last(2), "|"),
    ("-", take_last(2), ""),
    ("--a--b--#", take_last(2), "--------#"),
    # "should return empty if called with zero"
    ("--a--b--|", take_last(0), "--------|"),
    # rxjs skipLast-spec "should skip two values of an observable with many values": each
    # item comes out once two newer ones have arrived
    ("--a-----b----c---d--|", skip_last(2), "-------------a---b--|"),
    # "should skip last three values" with fewer values: nothing
    ("--a--b--|", skip_last(3), "--------|"),
    # "should not skip any values" with zero
    ("--a--b--|", skip_last(0), "--a--b--|"),
    # "should raise error if source raises error": what was already out stays
    ("--a--b--c--#", skip_last(1), "-----a--b--#"),
    ("|", skip_last(1), "|"),
    ("-", skip_last(1), ""),
]


@pytest.mark.parametrize(("given", "op", "expected"), SELECT)
async def test_skip_and_last(given: str, op: Operator[Any, Any], expected: str) -> None:
    assert await apply(given, op, until=40) == expect(expected)


DISTINCT = [
    # rxjs distinctUntilChanged-spec "should distinguish between values"
    ("-1--2-2----1-3-|", "-1--2------1-3-|"),
    # "should distinguish between values and does not complete"
    ("-1--2-2----1-3-", "-1--2------1-3-"),
    # "should distinguish between values with key": see test_distinct_key
    # "should handle empty" / "never" / "throw"
    ("|", "|"),
    ("-", ""),
    ("#", "#"),
    # "should not omit if source does not have duplicate values"
    ("--a--b--c--|", "--a--b--c--|"),
    # "should emit once if source elements are all same"
    ("--a--a--a--a--|", "--a-----------|"),
    # "should raise error if source raises error"
    ("--a--a--#", "--a-----#"),
    # repeats inside one frame are dropped too
    ("-(aab)-b|", "-(ab)---|"),
]


@pytest.mark.parametrize(("given", "expected"), DISTINCT)
async def test_distinct_until_changed(given: str, expected: str) -> None:
    assert await apply(given, distinct_until_changed(), until=40) == expect(expected)


async def test_distinct_until_changed_key() -> None:
    # rxjs distinctUntilChanged-spec "should distinguish between values with key" /
    # Kotlin distinctUntilChangedBy: compare by a key, emit the first of each run
    stream = src("-a-A-b-B-a-|") | distinct_until_changed(str.lower)
    assert await draw(stream, until=40) == expect("-a---b---a-|")


TAKE_UNTIL = [
    # rxjs takeUntil-spec "should take values until notifier emits"
    ("--a--b--c--d--e--f--g--|", "-------------z--", "--a--b--c--d-|"),
    # "should complete without a value if the notifier emits before the first item"
    ("----a--|", "--z-", "--|"),
    # "should take all values when notifier is empty": an ending trigger never fires
    ("-a-b-c-|", "--|", "-a-b-c-|"),
    # "should take all values when notifier does not complete"
    ("-a-b-c-|", "-", "-a-b-c-|"),
    # "should raise error when notifier raises error"
    ("-a-b-c-d-|", "----#", "-a-b#"),
    # "should raise error when source raises error before notifier emits"
    ("-a-#", "-----z", "-a-#"),
    # "should not complete when source and notifier never"
    ("-", "-", ""),
    # "should complete when notifier emits if source is never"
    ("-", "---z", "---|"),
    # "should complete when source is empty"
    ("|", "---z", "|"),
]


@pytest.mark.parametrize(("given", "trigger", "expected"), TAKE_UNTIL)
async def test_take_until(given: str, trigger: str, expected: str) -> None:
    assert await apply(given, take_until(src(trigger)), until=40) == expect(expected)


async def _add_later(acc: int, item: int) -> int:
    await anyio.lowlevel.checkpoint()
    return acc + item


async def test_scan_coroutine_fn() -> None:
    # aiostream test_accumulate with a coroutine function: same running values, same times
    stream = ints("-1-2-3|") | scan(_add_later, 0)
    assert await draw(stream, until=40) == expect("-1-3-6|")


async def test_reduce_coroutine_fn() -> None:
    # aiostream test_reduce with a coroutine function: one item, 10 + 1 + 2 + 3, at the end
    from anystream.testing import record

    rec = await record(ints("-1-2-3|") | reduce(_add_later, 10), until=40)
    assert rec.events == [(6, 16)]
    assert rec.end_time == 6


LAST_SAME_FRAME = [
    # take_last / skip_last with items that come in one frame: the order is kept
    ("-(abcd)|", take_last(2), "-------(cd|)"),
    ("-(abcd)|", skip_last(2), "-(ab)--|"),
    # rxjs skip-spec with simultaneous items: skip counts items, not frames
    ("-(abc)-d|", skip(2), "-c-----d|"),
]


@pytest.mark.parametrize(("given", "op", "expected"), LAST_SAME_FRAME)
async def test_same_frame_selects(given: str, op: Operator[Any, Any], expected: str) -> None:
    assert await apply(given, op, until=40) == expect(expected)
