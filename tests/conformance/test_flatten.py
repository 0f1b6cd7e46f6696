"""flat_map / merge_map against RxJS ``concatMap-spec.ts`` and ``mergeMap-spec.ts``, aiostream
``test_advanced.py`` (``concatmap`` / ``flatmap``) and Kotlin ``flatMapConcat`` /
``flatMapMerge``; frames of 1 s on the virtual clock, both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from anystream import Stream, flat_map, merge_map

from ._marble import Boom, draw, expect, src

pytestmark = pytest.mark.anyio

FLAT_MAP = [
    # rxjs concatMap-spec "should concatenate many regular interval inners": each inner
    # starts only when the previous one has ended (b waits for a's inner).
    ("ab|", {"a": "-1-2|", "b": "-3|"}, "-1-2-3|"),
    # "should handle an empty source" / "should handle a never source" / "should handle a
    # throw source"
    ("|", {}, "|"),
    ("-", {}, ""),
    ("#", {}, "#"),
    # "should handle outer empty, inners all empty": every inner ends at once
    ("-a-b-|", {"a": "|", "b": "|"}, "-----|"),
    # "should complete when outer completes while an inner is still running": the result
    # ends only once the inner has ended too.
    ("-a|", {"a": "---1|"}, "----1|"),
    # "should stop listening to a synchronous observable when unsubscribed"-like: an inner
    # that never ends holds back the next one and the end.
    ("-ab|", {"a": "-1-", "b": "-2|"}, "--1"),
    # "should error when an inner errors": the queued b never runs.
    ("-ab|", {"a": "-1#", "b": "-2|"}, "--1#"),
    # "should error when outer errors while an inner is running": the error is not held
    # back until the inner ends.
    # Deliberate difference: RxJS's outer is pushed, so its error cuts the running inner
    # short ("--1#"). flat_map pulls its outer only when the inner has ended (Kotlin
    # flatMapConcat, aiostream's pull-based chain), so a lazy outer reaches its error
    # after the inner: docs/operators.md, "flat_map reads nothing ahead".
    ("-a-#", {"a": "-1---2|"}, "--1---2#"),
    # "should concatMap many outer to many inner, complete late": outer items that arrive
    # while an inner runs wait their turn.
    ("a-b-c|", {"a": "--1|", "b": "--2|", "c": "--3|"}, "--1--2--3|"),
    # "should concatMap many outer to many inner, inner never completes": nothing after it
    ("a-b|", {"a": "-1-2-", "b": "-3|"}, "-1-2"),
    # inner items that come in the same frame stay together and in order
    ("a|", {"a": "-(12)-3|"}, "-(12)-3|"),
    # Kotlin flatMapConcat doc: ``(1..3).asFlow().flatMapConcat { requestFlow(it) }`` keeps
    # each inner's items together.
    ("(abc|)", {"a": "1-2|", "b": "3-4|", "c": "5-6|"}, "1-23-45-6|"),
]


@pytest.mark.parametrize(("outer", "inners", "expected"), FLAT_MAP)
async def test_flat_map_marbles(outer: str, inners: dict[str, str], expected: str) -> None:
    stream = src(outer) | flat_map(lambda item: src(inners[item]))
    assert await draw(stream, until=40) == expect(expected)


MERGE_MAP = [
    # (outer, inner per item, concurrency, expected); 8 stands for "unbounded" here
    # rxjs mergeMap-spec "should mergeMap many regular interval inners": inners overlap.
    ("a-b|", {"a": "-1---2---|", "b": "-3-4|"}, 8, "-1-3-(24)|"),
    # "should mergeMap many outer values to many inner values, limited to one concurrent":
    # concurrency 1 is concatenation.
    ("a-b|", {"a": "-1---2|", "b": "-3-4|"}, 1, "-1---2-3-4|"),
    # "... limited to two concurrent": the third inner waits for a slot.
    ("abc|", {"a": "--1|", "b": "----2|", "c": "-3|"}, 2, "--1-32|"),
    # "should handle an empty source" / "never" / "throw"
    ("|", {}, 8, "|"),
    ("-", {}, 8, ""),
    ("#", {}, 8, "#"),
    # "should mergeMap to many cold Observable, with parameter concurrency=1, without
    # resultSelector" with empty inners
    ("-a-b|", {"a": "|", "b": "|"}, 8, "----|"),
    # "should mergeMap many outer to many inner, and inner throws": the other inner stops.
    ("a-b|", {"a": "-1---2|", "b": "-#"}, 8, "-1-#"),
    # "should mergeMap many outer to many inner, and outer throws"
    ("a-b-#", {"a": "-1---2|", "b": "-3---4|"}, 8, "-1-3#"),
    # "should mergeMap many outer to many inner, outer never completes": the inners still
    # emit, the result never ends.
    ("a-b-", {"a": "-1|", "b": "-2|"}, 8, "-1-2"),
    # "... inner never completes": the result never ends
    ("a|", {"a": "-1-"}, 8, "-1"),
    # completion while an inner is pending: the end waits for the last inner
    ("a|", {"a": "----1|"}, 8, "----1|"),
    # simultaneous emissions of two inners in the same frame both come out in that frame,
    # the inner that was scheduled first first (as RxJS's scheduler orders them)
    ("ab|", {"a": "--1---|", "b": "-2---|"}, 8, "--(12)|"),
    # Kotlin flatMapMerge doc: ``flatMapMerge(concurrency)`` emits as soon as each inner is
    # ready, so a slow first inner does not hold back a fast second one.
    ("(ab|)", {"a": "---1|", "b": "-2|"}, 2, "-2-1|"),
    # aiostream test_flatmap with task_limit=1: strictly one inner after the other
    ("(ab|)", {"a": "-1-2|", "b": "-3|"}, 1, "-1-2-3|"),
]


@pytest.mark.parametrize(("outer", "inners", "concurrency", "expected"), MERGE_MAP)
async def test_merge_map_marbles(
    outer: str, inners: dict[str, str], concurrency: int, expected: str
) -> None:
    stream = src(outer) | merge_map(lambda item: src(inners[item]), concurrency)
    assert await draw(stream, until=40) == expect(expected)


def _project(inners: dict[str, str]) -> Any:
    def fn(item: str) -> Stream[Any]:
        if item == "x":
            raise Boom("boom")
        return src(inners[item])

    return fn


@pytest.mark.parametrize("make", [flat_map, lambda fn: merge_map(fn, 4)], ids=["flat", "merge"])
async def test_projection_raises(make: Any) -> None:
    # rxjs concatMap/mergeMap-spec "should raise error when projection throws": the run
    # ends with that error at the item that made fn raise.
    stream = src("-a-x-b|") | make(_project({"a": "1|", "b": "2|"}))
    assert await draw(stream, until=40) == expect("-1-#")


async def test_flat_map_iterable_inners() -> None:
    # aiostream test_concatmap with plain iterables / Kotlin flatMapConcat { listOf(...)
    # .asFlow() }: a sync iterable's items come out at once, at the outer item's time
    stream = src("-a--b|") | flat_map(lambda item: [item, item.upper()])
    assert await draw(stream, until=40) == "-(aA)--(bB)|"  # anystream notation


async def test_merge_map_async_generator_inners() -> None:
    # aiostream test_flatmap with an async generator per item: items of the inners
    # interleave by time
    async def inner(item: str) -> AsyncIterator[str]:
        await anyio.sleep(2 if item == "a" else 1)
        yield item.upper()

    stream = src("(ab|)") | merge_map(inner, 2)
    assert await draw(stream, until=40) == "-B(A|)"  # anystream notation
