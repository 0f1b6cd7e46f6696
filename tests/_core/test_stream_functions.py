"""Functions from stream to stream next to operators: ``op(stream)``, ``stream | fn``,
``op | fn`` and ``fn | op``, and the generic ``@operator`` functions typed as such."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from anystream import (
    Chunked,
    Operator,
    SameOperator,
    Stream,
    chunks,
    from_iterable,
    map,
    operator,
    parse,
    take,
    where,
)

pytestmark = pytest.mark.anyio

T = TypeVar("T")


@operator
async def listed(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    async for item in source:
        yield [item]


@operator
async def tagged(source: AsyncIterator[T], tag: str) -> AsyncIterator[tuple[str, T]]:
    async for item in source:
        yield (tag, item)


def doubled(s: Stream[int]) -> Stream[int]:
    return s | map(lambda n: n * 2)


def evens(s: Stream[int]) -> Stream[int]:
    return s.pipe(where(lambda n: n % 2 == 0))


async def test_an_operator_factory_gives_operators_callable_with_a_stream() -> None:
    numbers = from_iterable([1, 2, 3, 4])
    op = listed()
    assert isinstance(op, SameOperator)
    assert await op(numbers).collect() == [[1], [2], [3], [4]]
    assert await tagged("x")(numbers).collect() == [("x", 1), ("x", 2), ("x", 3), ("x", 4)]
    # Reusable, and the stream is unchanged.
    assert await op(from_iterable([5])).collect() == [[5]]
    assert await numbers.collect() == [1, 2, 3, 4]
    # Composed with any operator, on either side, it stays callable and an operator.
    for composed in (
        take(2) | listed(),
        listed() | take(2),
        where(lambda n: n > 2) | listed(),
        listed() | map(len),
        parse(int) | tagged("p"),
        listed() | chunks(2),
    ):
        assert isinstance(composed, Operator)
        assert callable(composed)
    assert await (where(lambda n: n > 2) | listed())(numbers).collect() == [[3], [4]]
    assert await (listed() | take(2))(numbers).collect() == [[1], [2]]
    assert await (listed() | map(len))(numbers).collect() == [1, 1, 1, 1]
    # Keeping the class the right side gives (typed by the stream it meets).
    by_two = listed() | chunks(2)
    assert isinstance(by_two, Chunked)
    assert await by_two(numbers).collect() == [[[1], [2]], [[3], [4]]]
    assert await (numbers | (tagged("t") | chunks(3))).collect() == [
        [("t", 1), ("t", 2), ("t", 3)],
        [("t", 4)],
    ]


def test_other_operators_are_not_callable() -> None:
    # An argument that takes a function refuses an operator at build time.
    assert not callable(where(lambda n: n > 2))
    assert not callable(take(2) | map(str))
    with pytest.raises(TypeError, match="fn must be callable"):
        map(take(2))  # type: ignore[call-overload]


async def test_calling_an_operator_with_anything_but_a_stream_is_refused() -> None:
    with pytest.raises(TypeError, match=r"needs a Stream, got list \[1, 2\]"):
        listed()([1, 2])  # type: ignore[arg-type]


async def test_a_generic_operator_that_changes_the_type_works_every_way() -> None:
    numbers = from_iterable([1, 2, 3])
    assert isinstance(listed(), SameOperator)
    assert await (numbers | listed()).collect() == [[1], [2], [3]]
    assert await numbers.pipe(listed()).collect() == [[1], [2], [3]]
    assert await numbers.pipe(where(lambda n: n > 1), listed()).collect() == [[2], [3]]
    assert await numbers.pipe(listed(), map(len)).collect() == [1, 1, 1]
    assert await listed()(numbers).collect() == [[1], [2], [3]]
    assert await (numbers | tagged("a") | take(2)).collect() == [("a", 1), ("a", 2)]
    # Composed with operators on either side it stays an operator at run time.
    texts = from_iterable(["4", "5"])
    assert isinstance(parse(int) | listed(), Operator)
    assert isinstance(listed() | take(2), Operator)
    assert await (texts | (parse(int) | listed())).collect() == [[4], [5]]
    assert await (numbers | (listed() | take(2))).collect() == [[1], [2]]
    assert await (numbers | (take(1) | tagged("b"))).collect() == [("b", 1)]


async def test_a_stream_piped_into_a_function_is_what_the_function_returns() -> None:
    numbers = from_iterable([1, 2, 3])
    assert await (numbers | doubled).collect() == [2, 4, 6]
    assert await (numbers | doubled | take(2)).collect() == [2, 4]
    assert await numbers.pipe(doubled, take(1)).collect() == [2]
    assert await numbers.pipe(evens, doubled).collect() == [4]


async def test_a_function_and_an_operator_compose_with_pipe_on_either_side() -> None:
    numbers = from_iterable([1, 2, 3, 4, 5])
    after = where(lambda n: n > 1) | doubled
    before = doubled | take(2)
    assert not isinstance(after, Operator)
    assert not isinstance(before, Operator)
    assert await (numbers | after).collect() == [4, 6, 8, 10]
    assert await (numbers | before).collect() == [2, 4]
    assert await numbers.pipe(before).collect() == [2, 4]
    assert await before(numbers).collect() == [2, 4]
    # Longer chains, with the function in the middle or twice.
    chain = where(lambda n: n > 1) | doubled | take(3) | map(str)
    assert await (numbers | chain).collect() == ["4", "6", "8"]
    inside = take(4) | doubled | map(lambda n: n + 1) | where(lambda n: n > 4)
    assert await (numbers | inside).collect() == [5, 7, 9]
    # Reusable: every application calls the function again with the new stream.
    assert await (from_iterable([10]) | before).collect() == [20]
    assert repr(before) == "doubled | take(2)"
    assert repr(where(lambda n: n > 1, name="big") | doubled) == "where(big) | doubled"


async def test_a_function_that_returns_no_stream_is_refused_when_applied() -> None:
    def broken(s: Stream[int]) -> Any:
        return [1]

    composed = take(1) | broken
    with pytest.raises(TypeError, match=r"broken.* returned list \[1\], not a Stream"):
        from_iterable([1]) | composed
    with pytest.raises(TypeError, match=r"stream \| x needs .* returned list \[1\]"):
        from_iterable([1]) | broken
    # An operator factory given uncalled to | with a stream: the hint says to call it.
    with pytest.raises(TypeError, match=r"an operator factory needs calling"):
        from_iterable([1]) | listed  # type: ignore[operator]


@pytest.mark.parametrize(
    "bad",
    [take, where, 3, int],
    ids=["uncalled-factory", "uncalled-factory-2", "int", "class"],
)
def test_what_is_not_a_stream_function_does_not_compose(bad: object) -> None:
    with pytest.raises(TypeError) as first:
        take(1) | bad  # type: ignore[operator]
    with pytest.raises(TypeError) as second:
        bad | take(1)  # type: ignore[operator]
    with pytest.raises(TypeError) as third:
        from_iterable([1]) | bad  # type: ignore[operator]
    if callable(bad) and not isinstance(bad, type):
        # The package's own factories: refused with the hint, never called.
        for err in (first, second, third):
            assert "did you forget to call it" in str(err.value)


def test_two_plain_functions_do_not_compose_with_pipe() -> None:
    # Neither side is an operator: Python's own TypeError, as the checkers say too.
    f: Callable[[Stream[int]], Stream[int]] = doubled
    with pytest.raises(TypeError, match="unsupported operand"):
        f | evens  # type: ignore[operator]
    with pytest.raises(TypeError, match="unsupported operand"):
        (doubled | take(1)) | (evens | take(1))  # type: ignore[operator]
