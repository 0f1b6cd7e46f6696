"""Per-item and combining operators against RxJS marble specs (take, skip, takeLast,
skipLast, takeWhile, skipWhile, distinctUntilChanged, filter, map, merge, concat) and
aiostream's ``test_select.py`` / ``test_combine.py``; frames of 1 s, both backends.

Per-item operators add no time: their output lands in the frames of their input.
"""

from __future__ import annotations

import pytest

from anystream import (
    concat,
    distinct_until_changed,
    drop_while,
    map,
    merge,
    skip,
    skip_last,
    take,
    take_last,
    take_while,
    where,
)

from ._marble import apply, draw, expect, src

pytestmark = pytest.mark.anyio

CASES = [
    # rxjs take-spec "should take two values of an observable with many values"
    ("--a-----b----c---d--|", take(2), "--a-----(b|)"),
    # "should work with empty" / "should go on forever on never" / "should propagate error"
    ("|", take(1), "|"),
    ("-", take(1), ""),
    ("---#", take(3), "---#"),
    # "should be empty on take(1) with an error after the first": the error comes too late
    ("--a--#", take(1), "--(a|)"),
    # "should work with throw"
    ("#", take(1), "#"),
    # rxjs skip-spec "should skip values before a total"
    ("--a--b--c--d--e--|", skip(3), "-----------d--e--|"),
    # "should skip all values without error if total is more than actual number of values"
    ("--a--b--c--d--e--|", skip(6), "-----------------|"),
    # "should skip values before a total and raises error if source raises error"
    ("--a--b--c--d--#", skip(3), "-----------d--#"),
    # "should not skip if count is zero"
    ("--a--b--|", skip(0), "--a--b--|"),
    # rxjs takeLast-spec "should take two values of an observable with many values"
    ("--a-----b----c---d--|", take_last(2), "--------------------(cd|)"),
    # "should take last value if the source has only one" / "should be empty on empty"
    ("--a--|", take_last(1), "-----(a|)"),
    ("|", take_last(2), "|"),
    # "should not complete on never" / "should propagate error from the source observable"
    ("-", take_last(2), ""),
    ("---a--#", take_last(2), "------#"),
    # rxjs skipLast-spec "should skip two values of an observable with many values"
    ("--a-----b----c---d--|", skip_last(2), "-------------a---b--|"),
    # "should not emit any value when skipping more than the values of the source"
    ("--a--b--|", skip_last(3), "--------|"),
    # "should raise error if source raises error"
    ("--a--b--#", skip_last(1), "-----a--#"),
    # rxjs takeWhile-spec "should take all elements until predicate is false"
    ("-1-2--3--4--|", take_while(lambda x: x != "3"), "-1-2--|"),
    # "should take all elements with predicate always true"
    ("-1-2--3--|", take_while(lambda x: True), "-1-2--3--|"),
    # "should take no elements with predicate always false"
    ("-1-2--3--|", take_while(lambda x: False), "-|"),
    # "should handle never" / "should propagate error"
    ("-", take_while(lambda x: True), ""),
    ("-1-#", take_while(lambda x: True), "-1-#"),
    # rxjs skipWhile-spec "should skip all elements until predicate is false"
    ("-1-2--3--4--|", drop_while(lambda x: x != "3"), "------3--4--|"),
    # "should skip all elements with a true predicate"
    ("-1-2--3--|", drop_while(lambda x: True), "---------|"),
    # "should skip no elements with a false predicate"
    ("-1-2--3--|", drop_while(lambda x: False), "-1-2--3--|"),
    # "should handle error in source"
    ("-1-#", drop_while(lambda x: True), "---#"),
    # rxjs distinctUntilChanged-spec "should distinguish between values"
    ("--a--a--a--b--b--a--|", distinct_until_changed(), "--a--------b-----a--|"),
    # "should emit if source emits single element only"
    ("--a--|", distinct_until_changed(), "--a--|"),
    # "should emit if source is scalar" / "should raise error if source raises error"
    ("--a--a--#", distinct_until_changed(), "--a-----#"),
    # "should not emit if source does not emit" / "should handle empty"
    ("-", distinct_until_changed(), ""),
    ("|", distinct_until_changed(), "|"),
    # rxjs filter-spec "should filter out event values" (odd numbers kept)
    ("--1--2--3--4--|", where(lambda x: int(x) % 2 == 1), "--1-----3-----|"),
    # "should propagate errors from the source"
    ("--1--2--#", where(lambda x: int(x) % 2 == 1), "--1-----#"),
    # rxjs map-spec "should map multiple values"
    ("--1--2--3--|", map(lambda x: str(int(x) * 10 % 9)), "--1--2--3--|"),
    # "should propagate errors from map function" (map over an error)
    ("--1--#", map(str.upper), "--1--#"),
]


@pytest.mark.parametrize(("given", "op", "expected"), CASES)
async def test_select_marbles(given: str, op: object, expected: str) -> None:
    assert await apply(given, op, until=60) == expect(expected)  # type: ignore[arg-type]


MERGE = [
    # rxjs merge-spec "should merge hot and hot"
    (["---a---b---c---|", "------x---y---z---|"], "---a--xb--yc--z---|"),
    # "should merge empty and empty" / "should merge never and empty"
    (["|", "|"], "|"),
    (["-", "|"], ""),
    # "should merge empty and throw" / "should merge hot and error"
    (["|", "#"], "#"),
    # (b and the error are both due at 7: b's input was scheduled first, so b comes first)
    (["---a---b---c---|", "-------#"], "---a---(b#)"),
]


@pytest.mark.parametrize(("inputs", "expected"), MERGE)
async def test_merge_marbles(inputs: list[str], expected: str) -> None:
    assert await draw(merge(*(src(d) for d in inputs)), until=60) == expect(expected)


CONCAT = [
    # rxjs concat-spec "should emit elements from multiple sources"
    (["-a-b-c-|", "-0-1-|", "-w-x-y-z-|"], "-a-b-c--0-1--w-x-y-z-|"),
    # "should concat empty and empty" / "should concat never and empty"
    (["|", "|"], "|"),
    (["-", "--a|"], ""),
    # "should concat empty and non-empty"
    (["|", "--a|"], "--a|"),
    # "should raise error when first source raises error" (the second never starts)
    (["--#", "-a-|"], "--#"),
    # "should concat a non-empty and an erroring source"
    (["--a--|", "-#"], "--a---#"),
]


@pytest.mark.parametrize(("inputs", "expected"), CONCAT)
async def test_concat_marbles(inputs: list[str], expected: str) -> None:
    assert await draw(concat(*(src(d) for d in inputs)), until=60) == expect(expected)


async def test_merge_same_frame_emissions_keep_input_order() -> None:
    # Same-frame emissions from two inputs: the first input's first (its timer was set
    # first), on every run and on both backends (drawn in anystream's one-frame groups).
    for _ in range(5):
        assert await draw(merge(src("-a-b|"), src("-x-y|"))) == "-(ax)-(by)|"
