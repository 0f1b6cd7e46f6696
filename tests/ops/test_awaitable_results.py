"""A plain function that *returns* an awaitable (issue 21, run-time half).

When an operator is built, ``lambda x: fetch(x)`` cannot be told from ``lambda x: x + 1``.
Operators that take plain functions (``map``, ``parse``, ``starmap``, ``map_thread``,
``distinct_until_changed``'s key) check the first result of every run and refuse a
coroutine, an async generator object or another awaitable with a TypeError naming the
operator; the coroutine is closed, so no "never awaited" warning follows. Predicates
(``where``, ``take_while``, ``drop_while``) and ``tap`` await an awaitable result, and
refuse an async generator object, which is always true. ``map_async`` goes the other
way: it accepts any callable and awaits its results, and refuses a result that is not
awaitable.

Every case runs on both backends, on fused and staged paths, under a virtual-clock
timeout, with warnings turned into errors (a leaked coroutine would fail the test).
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from anystream import (
    Acked,
    Operator,
    buffered,
    distinct_until_changed,
    drop_while,
    from_acked,
    from_iterable,
    map,
    map_async,
    map_thread,
    parse,
    retry,
    starmap,
    take_while,
    tap,
    where,
)

pytestmark = pytest.mark.anyio

TIMEOUT = 30.0  # virtual seconds: a hang fails instead of stalling the suite


async def double(x: int) -> int:
    return 2 * x


async def agen(x: int) -> AsyncIterator[int]:
    yield x


class Ready:
    """An awaitable that is neither a coroutine nor a Future."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __await__(self) -> Iterator[None]:
        return iter(())


@contextmanager
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


AROUND: dict[str, Callable[[Operator[Any, Any]], Any]] = {
    "alone": lambda op: op,  # fused with the source: a loop yielding to collect()
    "between-buffers": lambda op: buffered(4) | op | buffered(4),  # stream -> send, batches
}

# (operator built around a plain function returning something awaitable, words)
REFUSED_AT_RUN: dict[str, tuple[Callable[[], Operator[Any, Any]], tuple[str, ...]]] = {
    "map-coroutine": (
        lambda: map(lambda x: double(x)),
        ("map()", "fn", "a coroutine", "map_async"),
    ),
    "map-agen-object": (lambda: map(lambda x: agen(x)), ("map()", "async generator object")),
    "map-awaitable": (lambda: map(Ready), ("map()", "an awaitable Ready", "map_async")),
    "parse-coroutine": (
        lambda: parse(lambda x: double(x)),
        ("parse()", "a coroutine", "map_async"),
    ),
    "parse-raise-coroutine": (
        lambda: parse(lambda x: double(x), on_error="raise"),
        ("parse()", "a coroutine"),
    ),
    "starmap-coroutine": (
        lambda: map(lambda x: (x,)) | starmap(lambda a: double(a)),
        ("starmap()", "a coroutine", "map_async(lambda args: fn(*args))"),
    ),
    "where-agen-object": (
        lambda: where(lambda x: agen(x)),
        ("where()", "predicate", "async generator object", "always true"),
    ),
    "take_while-agen-object": (
        lambda: take_while(lambda x: agen(x)),
        ("take_while()", "predicate", "async generator object"),
    ),
    "drop_while-agen-object": (
        lambda: drop_while(lambda x: agen(x)),
        ("drop_while()", "predicate", "async generator object"),
    ),
    "tap-agen-object": (lambda: tap(lambda x: agen(x)), ("tap()", "fn", "async generator object")),
    "distinct-key-coroutine": (
        lambda: distinct_until_changed(lambda x: double(x)),
        ("distinct_until_changed()", "key", "a coroutine"),
    ),
    "map_thread-coroutine": (
        lambda: map_thread(lambda x: double(x)),
        ("map_thread()", "fn", "a coroutine", "map_async(fn, concurrency=k)"),
    ),
    "map_async-plain": (
        lambda: map_async(lambda x: x + 1),
        ("map_async()", "fn returned int, not an awaitable", "use map() for sync functions"),
    ),
    "map_async-plain-concurrent": (
        lambda: map_async(lambda x: x + 1, concurrency=4),
        ("map_async()", "fn returned int, not an awaitable"),
    ),
    "map_async-agen-object": (
        lambda: map_async(lambda x: agen(x)),
        ("map_async()", "async_generator, not an awaitable"),
    ),
}


@pytest.mark.parametrize("around", list(AROUND.values()), ids=list(AROUND))
@pytest.mark.parametrize(
    ("build", "words"), list(REFUSED_AT_RUN.values()), ids=list(REFUSED_AT_RUN)
)
async def test_awaitable_result_of_plain_function_is_refused(
    build: Callable[[], Operator[Any, Any]],
    words: tuple[str, ...],
    around: Callable[[Operator[Any, Any]], Any],
) -> None:
    # Exception: a staged operator's error may come wrapped in a group, unwrapped below.
    with no_warnings(), anyio.fail_after(TIMEOUT), pytest.raises(Exception) as info:  # noqa: PT011
        await (from_iterable([1, 2, 3]) | around(build())).collect()
    error = info.value
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    assert isinstance(error, TypeError), repr(info.value)
    for word in words:
        assert word in str(error), f"{word!r} missing from {error}"


@pytest.mark.parametrize("around", list(AROUND.values()), ids=list(AROUND))
async def test_map_async_awaits_what_a_plain_callable_returns(
    around: Callable[[Operator[Any, Any]], Any],
) -> None:
    with no_warnings(), anyio.fail_after(TIMEOUT):
        for op in (
            map_async(lambda x: double(x)),
            map_async(lambda x: double(x), concurrency=3),
            map_async(lambda x: double(x), concurrency=3, ordered=False),
            map_async(lambda x: double(x), retry=2),
        ):
            got = await (from_iterable([1, 2, 3]) | around(op)).collect()
            assert sorted(got) == [2, 4, 6]


async def test_map_async_plain_result_can_be_dropped_and_counted() -> None:
    """The TypeError is a failed call like any other: ``on_error="drop"`` counts it."""
    with no_warnings(), anyio.fail_after(TIMEOUT):
        s = from_iterable([1, 2]) | map_async(lambda x: x, on_error="drop")
        assert await s.collect() == []
        dropped = {r: n for st in s.stats().values() for r, n in st.dropped.items()}
        assert dropped == {"error:NotAwaitableError": 2}  # a TypeError subclass


async def test_map_async_refuses_async_generator_function_when_built() -> None:
    with pytest.raises(TypeError, match=r"map_async\(\): fn is an async generator function"):
        map_async(agen)


async def test_predicates_await_awaitable_results() -> None:
    async def even(x: int) -> bool:
        return x % 2 == 0

    with no_warnings(), anyio.fail_after(TIMEOUT):
        items = [2, 4, 5, 6]
        assert await (from_iterable(items) | where(lambda x: even(x))).collect() == [2, 4, 6]
        assert await (from_iterable(items) | take_while(lambda x: even(x))).collect() == [2, 4]
        assert await (from_iterable(items) | drop_while(lambda x: even(x))).collect() == [5, 6]
        seen: list[int] = []

        async def record(x: int) -> None:
            seen.append(x)

        assert await (from_iterable(items) | tap(lambda x: record(x))).collect() == items
        assert seen == items


async def test_plain_results_that_are_not_awaitable_pass() -> None:
    """Truthy non-bool verdicts and ordinary values are unaffected by the checks."""
    with no_warnings(), anyio.fail_after(TIMEOUT):
        items = [0, 1, 2, 3]
        assert await (from_iterable(items) | where(lambda x: x % 2)).collect() == [1, 3]
        assert await (from_iterable(items) | map(lambda x: [x])).collect() == [[0], [1], [2], [3]]
        assert await (from_iterable(items) | parse(int) | tap(lambda x: x)).collect() == items


async def test_every_run_checks_its_first_result() -> None:
    """The check is per run: a second run of the same stream is refused too."""
    s = from_iterable([1]) | map(lambda x: double(x))
    for _ in range(2):
        with (
            no_warnings(),
            anyio.fail_after(TIMEOUT),
            pytest.raises(TypeError, match=r"map\(\): fn returned a coroutine"),
        ):
            await s.collect()


async def test_acked_path_refuses_too() -> None:
    """With acknowledgements the kernels run interpreted (acks.py): same errors."""
    acked = [Acked(1, lambda: None), Acked(2, lambda: None)]
    with no_warnings(), anyio.fail_after(TIMEOUT):
        with pytest.raises(TypeError, match=r"map\(\): fn returned a coroutine"):
            await (from_acked(acked) | map(lambda x: double(x))).collect()
        with pytest.raises(TypeError, match=r"where\(\): predicate returned an async generator"):
            await (from_acked(acked) | where(lambda x: agen(x))).collect()
        with pytest.raises(TypeError, match=r"parse\(\): fn returned a coroutine"):
            await (from_acked(acked) | parse(lambda x: double(x))).collect()


async def test_retry_of_a_plain_function_fails_at_once_without_retrying() -> None:
    calls: list[int] = []

    def plain(x: int) -> int:
        calls.append(x)
        return x

    wrapped = retry(plain, attempts=5, base_delay=1)  # type: ignore[arg-type]
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(TypeError, match=r"retry\(\): fn returned int, not an awaitable"):
            await wrapped(1)
        assert calls == [1]  # not repeated: its side effects happen once
        calls.clear()
        s = from_iterable([1, 2]) | map_async(plain, retry=5, on_error="drop")
        assert await s.collect() == []
        assert calls == [1, 2]


async def test_retry_accepts_a_callable_returning_an_awaitable() -> None:
    with anyio.fail_after(TIMEOUT):
        assert await retry(lambda x: double(x))(4) == 8  # type: ignore[arg-type]


def test_retry_refuses_an_async_generator_function() -> None:
    with pytest.raises(TypeError, match=r"generator function.*retry_stream"):
        retry(agen)  # type: ignore[arg-type]
