"""Aggregate family: reduce, count, group_by."""

from __future__ import annotations

import builtins
import functools
import operator as op
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anystream import (
    Group,
    GroupLimitExceeded,
    buffered,
    count,
    empty,
    from_iterable,
    group_by,
    map,
    merge_map,
    range,
    reduce,
    take,
    tap,
)
from anystream.testing import CountingSource, at, raised_in, record, run, scripted

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


# -- reduce / count -------------------------------------------------------------------------


async def test_reduce_emits_one_item_at_the_end() -> None:
    assert await (range(5) | reduce(op.add)).collect() == [10]
    assert await (range(5) | reduce(op.add, 100)).collect() == [110]
    assert await (empty() | reduce(op.add, 7)).collect() == [7]
    rec = await record(scripted(at(1.0, 1), at(2.0, 2), at(3.0, 3)) | reduce(op.mul))
    assert rec.events == [(3.0, 6)]


async def test_reduce_on_empty_input_without_initial_is_functools_type_error() -> None:
    with pytest.raises(TypeError) as expected:
        functools.reduce(op.add, [])
    with pytest.raises(TypeError) as info:
        await (empty() | reduce(op.add)).collect()
    assert str(info.value) == str(expected.value)
    assert raised_in(info.value, "reduce(")


async def test_reduce_async_fn() -> None:
    async def add(a: int, b: int) -> int:
        await anyio.sleep(0.01)
        return a + b

    assert await (range(4) | reduce(add)).collect() == [6]
    assert await (range(4) | reduce(add, 10)).collect() == [16]


async def test_reduce_error_and_bad_argument() -> None:
    src = CountingSource()

    def fail(acc: int, x: int) -> int:
        if x == 5:
            raise Boom("reduce")
        return acc + x

    with pytest.raises(Boom) as info:
        await (src.stream() | reduce(fail)).collect()
    assert raised_in(info.value, "reduce(")
    assert src.closed
    with pytest.raises(TypeError, match=r"reduce\(\): fn must be callable"):
        reduce(1)  # type: ignore[call-overload]


@given(st.lists(st.integers()))
def test_reduce_and_count_match_python(items: list[int]) -> None:
    async def main() -> tuple[list[int], list[int]]:
        s = from_iterable(items)
        return await (s | reduce(op.add, 0)).collect(), await (s | count()).collect()

    assert run(main, backend="asyncio") == ([sum(items)], [len(items)])


async def test_count() -> None:
    assert await (range(7) | count()).collect() == [7]
    assert await (empty() | count()).collect() == [0]
    src = CountingSource(10)
    assert await (src.stream() | count() | map(lambda n: n * 2)).collect() == [20]
    assert src.closed


async def test_reduce_before_take_closes_on_early_exit() -> None:
    src = CountingSource(5)
    assert await (src.stream() | reduce(op.add) | take(1)).collect() == [10]
    assert src.closed


# -- group_by -------------------------------------------------------------------------------


async def summarise(group: Group[Any, int]) -> AsyncIterator[tuple[Any, list[int]]]:
    yield (group.key, await group.collect())


async def test_group_by_routes_items_to_their_group() -> None:
    s = range(10) | group_by(lambda x: x % 3) | merge_map(summarise, 3)
    out = await s.collect()
    assert sorted(out) == [(0, [0, 3, 6, 9]), (1, [1, 4, 7]), (2, [2, 5, 8])]
    stats = s.stats()["group_by"]
    assert (stats.received, stats.emitted) == (10, 3)  # items in, groups out


async def test_group_by_emits_a_group_at_its_first_item() -> None:
    source = scripted(at(1.0, "a1"), at(2.0, "b1"), at(3.0, "a2"), at(4.0, "b2"))

    async def stamped(group: Group[str, str]) -> AsyncIterator[tuple[float, str, str]]:
        async for item in group:
            yield (anyio.current_time(), group.key, item)

    start = anyio.current_time()
    out = await (source | group_by(lambda s: s[0]) | merge_map(stamped, 2)).collect()
    assert [(t - start, k, i) for t, k, i in out] == [
        (1.0, "a", "a1"),
        (2.0, "b", "b1"),
        (3.0, "a", "a2"),
        (4.0, "b", "b2"),
    ]


async def test_group_by_in_the_consuming_loop_with_a_task_per_group() -> None:
    results: dict[int, list[int]] = {}

    async def drain(group: Group[int, int]) -> None:
        results[group.key] = [x async for x in group]

    async with (
        anyio.create_task_group() as tg,
        (range(20) | group_by(lambda x: x % 4)).stream() as groups,
    ):
        async for group in groups:
            assert repr(group) == f"Group(key={group.key!r})"
            tg.start_soon(drain, group)
    assert results == {k: list(builtins.range(k, 20, 4)) for k in builtins.range(4)}


async def test_group_by_limit_is_a_clear_error() -> None:
    src = CountingSource()
    s = src.stream() | group_by(lambda x: x % 5, max_groups=3) | merge_map(summarise, 5)
    with pytest.raises(GroupLimitExceeded, match="max_groups=3") as info:
        await s.collect()
    assert raised_in(info.value, "group_by(")
    assert src.closed


async def test_group_by_closed_groups_free_their_slot() -> None:
    # Each group's reader takes one item and closes the group: a later item with the same
    # key starts a new group, and closed groups do not count against max_groups.
    async def first(group: Group[int, int]) -> AsyncIterator[tuple[int, int]]:
        async with group:
            async for item in group:
                yield (group.key, item)
                break

    out = await (
        range(12) | group_by(lambda x: x % 4, max_groups=2) | merge_map(first, 2)
    ).collect()
    assert sorted(out) == sorted((x % 4, x) for x in builtins.range(12))


async def test_group_by_buffer_lets_groups_be_collected_later() -> None:
    groups = await (range(6) | group_by(lambda x: x % 2, buffer=3)).collect()
    assert [g.key for g in groups] == [0, 1]
    assert [await g.collect() for g in groups] == [[0, 2, 4], [1, 3, 5]]


async def test_group_by_key_error_has_note() -> None:
    src = CountingSource()
    with pytest.raises(Boom) as info:

        def key(x: int) -> int:
            if x == 3:
                raise Boom("key")
            return x % 2

        await (src.stream() | group_by(key) | merge_map(summarise, 2)).collect()
    assert raised_in(info.value, "group_by(")
    assert src.closed


async def test_group_by_upstream_error_is_the_runs_error() -> None:
    src = CountingSource()

    def late_failure(x: int) -> int:
        if x == 7:
            raise Boom("late")
        return x

    with pytest.raises(Boom) as info:
        await (
            src.stream() | map(late_failure) | group_by(lambda x: x % 2) | merge_map(summarise, 2)
        ).collect()
    assert raised_in(info.value, "map(")
    assert src.closed


async def test_an_upstream_failure_is_not_seen_as_the_end_of_input_downstream() -> None:
    # CORE BUG (runner.Run._run_segment / _run_stage): when a task fails, its ``finally``
    # closes its downstream send stream *before* the task group cancels the others. The
    # next task then sees EndOfStream, a normal end of input, and runs its end-of-input
    # code on partial data: here count() emits 5 as if the input had 5 items, and tap
    # runs with it, before the cancellation arrives (on both backends). Aggregates
    # (reduce, count, group_by ending its groups, windows flushing) all emit partial
    # results this way.
    seen: list[int] = []

    def fail_at_5(x: int) -> int:
        if x == 5:
            raise Boom("five")
        return x

    with pytest.raises(Boom):
        await (range(10) | map(fail_at_5) | buffered(0) | count() | tap(seen.append)).collect()
    assert seen == []


async def test_group_by_early_exit_closes_everything() -> None:
    src = CountingSource()
    with anyio.fail_after(5):
        async with (src.stream() | group_by(lambda x: x % 3)).stream() as groups:
            async for group in groups:
                assert await group.__anext__() == 0
                break
    assert src.closed


def test_group_by_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"group_by\(\): key must be callable"):
        group_by("id")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"group_by\(\): max_groups must be >= 1"):
        group_by(str, max_groups=0)
    with pytest.raises(ValueError, match=r"group_by\(\): buffer must be >= 0"):
        group_by(str, buffer=-1)
