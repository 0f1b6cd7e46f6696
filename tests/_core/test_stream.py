"""Stream: a cold, re-runnable description; `|` composition; collect and iteration."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from anystream import Operator, Stream, buffered, from_iterable, map, operator, parse, take, where

pytestmark = pytest.mark.anyio


async def test_issue_example() -> None:
    s = (
        from_iterable(["1", "x", "3", "7"])
        | parse(int)
        | where(lambda n: n > 1)
        | map(lambda n: n * 10)
    )
    assert await s.collect() == [30, 70]


async def test_pipe_returns_a_new_stream_and_leaves_the_original() -> None:
    base = from_iterable([1, 2, 3])
    doubled = base | map(lambda n: n * 2)
    assert doubled is not base
    assert await base.collect() == [1, 2, 3]
    assert await doubled.collect() == [2, 4, 6]


async def test_composed_operator_applies_to_several_streams() -> None:
    op: Operator[int, int] = where(lambda n: n % 2 == 0) | map(lambda n: n + 1) | take(2)
    assert await (from_iterable(range(10)) | op).collect() == [1, 3]
    assert await (from_iterable([4, 5, 6, 8]) | op).collect() == [5, 7]


async def test_composition_is_associative() -> None:
    a, b, c = map(lambda n: n + 1), where(lambda n: n > 2), map(lambda n: n * 3)
    left = from_iterable(range(5)) | ((a | b) | c)
    right = from_iterable(range(5)) | (a | (b | c))
    chained = from_iterable(range(5)) | a | b | c
    assert await left.collect() == await right.collect() == await chained.collect() == [9, 12, 15]


async def test_a_list_source_runs_afresh_every_time() -> None:
    s = from_iterable([1, 2, 3]) | map(lambda n: -n)
    assert await s.collect() == [-1, -2, -3]
    assert await s.collect() == [-1, -2, -3]
    async with s.stream() as items:
        assert [x async for x in items] == [-1, -2, -3]


async def test_a_reiterable_async_iterable_runs_afresh() -> None:
    class Countdown:
        def __aiter__(self) -> AsyncIterator[int]:
            return self._gen()

        async def _gen(self) -> AsyncIterator[int]:
            for n in (3, 2, 1):
                yield n

    s = from_iterable(Countdown())
    assert await s.collect() == [3, 2, 1]
    assert await s.collect() == [3, 2, 1]


@pytest.mark.parametrize("staged", [False, True], ids=["inline", "staged"])
async def test_one_shot_sync_generator_second_run_is_a_clear_error(staged: bool) -> None:
    s = from_iterable(n for n in range(3))
    if staged:
        s = s | buffered(1)
    assert await s.collect() == [0, 1, 2]
    with pytest.raises(RuntimeError, match="one-shot"):
        await s.collect()


async def test_one_shot_async_generator_second_run_is_a_clear_error() -> None:
    async def gen() -> AsyncIterator[int]:
        yield 1

    s = from_iterable(gen())
    assert await s.collect() == [1]
    with pytest.raises(RuntimeError, match="one-shot"):
        await s.collect()


async def test_one_shot_iterator_object_is_detected() -> None:
    s = from_iterable(iter([1, 2]))
    assert await s.collect() == [1, 2]
    with pytest.raises(RuntimeError, match="already consumed"):
        await s.collect()


def test_from_iterable_rejects_a_non_iterable() -> None:
    with pytest.raises(TypeError, match="iterable"):
        from_iterable(42)  # type: ignore[call-overload]


def test_piping_something_that_is_not_an_operator_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="did you forget to call it"):
        from_iterable([1]) | take  # type: ignore[operator]


async def test_iterating_a_stream_directly_explains_how() -> None:
    with pytest.raises(TypeError, match=r"stream\.stream\(\)"):
        async for _ in from_iterable([1]):  # type: ignore[attr-defined]
            pass


def test_repr_names_the_operators() -> None:
    s = from_iterable([1]) | map(abs) | buffered(4) | take(1)
    assert repr(s) == "Stream(from_iterable | map(abs) | buffered(4) | take(1))"


async def test_stats_before_any_run_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not been run"):
        from_iterable([1]).stats()


async def test_a_run_cannot_be_entered_twice() -> None:
    run = from_iterable([1]).stream()
    async with run:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with run:
            pass


async def test_empty_source() -> None:
    assert await from_iterable([]).collect() == []
    assert await (from_iterable([]) | buffered(3) | map(str)).collect() == []


async def test_staged_and_inline_pipelines_agree() -> None:
    lines = [str(n) if n % 5 else "bad" for n in range(500)]
    inline = from_iterable(lines) | parse(int) | where(lambda n: n % 3 == 0) | map(str)
    staged = (
        from_iterable(lines)
        | parse(int)
        | buffered(7)
        | where(lambda n: n % 3 == 0)
        | buffered(0)
        | map(str)
    )
    assert await inline.collect() == await staged.collect()


async def test_iteration_of_a_staged_pipeline_yields_control() -> None:
    # The consumer's loop body may await; nothing is lost or reordered meanwhile.
    got = []
    async with (from_iterable(range(50)) | buffered(5) | map(lambda n: n * 2)).stream() as it:
        async for item in it:
            await anyio.sleep(0.01)
            got.append(item)
    assert got == [n * 2 for n in range(50)]


async def test_anext_on_a_run() -> None:
    async with (from_iterable([1, 2]) | buffered(1)).stream() as run:
        assert await run.__anext__() == 1
        assert await run.__anext__() == 2
        with pytest.raises(StopAsyncIteration):
            await run.__anext__()


async def test_stream_type_is_generic() -> None:
    s: Stream[int] = from_iterable([1])
    assert isinstance(s, Stream)


def _doubled(s: Stream[int]) -> Stream[int]:
    return s | map(lambda n: n * 2)


async def test_pipe_calls_a_stream_to_stream_function_with_the_stream_so_far() -> None:
    base = from_iterable([1, 2, 3, 4])
    piped = base.pipe(where(lambda n: n > 1), _doubled, take(2))
    assert await piped.collect() == [4, 6]
    assert await (base | where(lambda n: n > 1) | map(lambda n: n * 2) | take(2)).collect() == [
        4,
        6,
    ]
    # First or last, and a function that adds nothing.
    assert await base.pipe(_doubled).collect() == [2, 4, 6, 8]
    assert await base.pipe(take(1), lambda s: s).collect() == [1]


@operator
async def _every(source: AsyncIterator[int]) -> AsyncIterator[int]:
    async for item in source:
        yield item


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (take, "got function"),
        (3, "got int 3"),
        (int, "got type"),
        (lambda s: 5, "returned int 5, not a Stream"),
        (_every, "returned SameOperator _every, not a Stream (an operator factory needs calling"),
    ],
    ids=["uncalled-anystream-factory", "int", "class", "returns-non-stream", "uncalled-user-op"],
)
def test_pipe_refuses_what_is_neither_an_operator_nor_a_stream_function(
    bad: object, says: str
) -> None:
    with pytest.raises(TypeError, match="pipe\\(\\): operator 2 must be") as err:
        from_iterable([1]).pipe(take(1), bad)  # type: ignore[call-overload]
    assert says in str(err.value)
