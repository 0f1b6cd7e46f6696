"""The bad-input matrix: each case is refused at build time or has a tested meaning.

Every row builds a pipeline from an exported factory given a doubtful argument. A row either
expects a build-time ``TypeError``/``ValueError`` whose message names the operator, the
argument and what was wrong, or runs the pipeline (on both backends, under a virtual-clock
timeout and a real-time watchdog) and asserts its exact output. A new case is one row.
"""

# The rows pass wrong-arity callables on purpose: the type checker is right to object.
# mypy: disable-error-code="arg-type, misc"

from __future__ import annotations

import operator as op
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _bad_input import Means, Refused, check, check_names

from anystream import (
    distinct_until_changed,
    drop_while,
    filter,
    from_lines,
    just,
    map,
    map_thread,
    operator,
    parse,
    reduce,
    scan,
    starmap,
    take_while,
    tap,
    where,
)

pytestmark = pytest.mark.anyio


async def agen(x: Any) -> AsyncIterator[Any]:
    yield x


async def agen2(a: Any, b: Any) -> AsyncIterator[Any]:
    yield a


async def double(x: int) -> int:
    return x * 2


def two(a: Any, b: Any) -> Any:
    return a


def one(a: Any) -> Any:
    return a


AGEN = "async generator function"
CASES: dict[str, Refused | Means] = {
    # Async generator functions where one value per item is expected: the generator object
    # would be emitted, or taken as a (truthy) verdict.
    "map-agen": Refused(lambda: map(agen), TypeError, ("map()", "fn", AGEN, "agen")),
    "parse-agen": Refused(lambda: parse(agen), TypeError, ("parse()", "fn", AGEN)),
    "starmap-agen": Refused(lambda: starmap(agen2), TypeError, ("starmap()", "fn", AGEN)),
    "map_thread-agen": Refused(lambda: map_thread(agen), TypeError, ("map_thread()", AGEN)),
    "where-agen": Refused(lambda: where(agen), TypeError, ("where()", "predicate", AGEN)),
    "filter-agen": Refused(lambda: filter(agen), TypeError, ("where()", "predicate", AGEN)),
    "take_while-agen": Refused(lambda: take_while(agen), TypeError, ("take_while()", AGEN)),
    "drop_while-agen": Refused(lambda: drop_while(agen), TypeError, ("drop_while()", AGEN)),
    "tap-agen": Refused(lambda: tap(agen), TypeError, ("tap()", "fn", AGEN)),
    "distinct-key-async": Refused(
        lambda: distinct_until_changed(key=double),
        TypeError,
        ("distinct_until_changed()", "key", "coroutine function", "double"),
    ),
    "distinct-key-agen": Refused(
        lambda: distinct_until_changed(key=agen), TypeError, ("distinct_until_changed()", AGEN)
    ),
    # Wrong arity: refused with the signature, not a silent empty or constant output.
    "parse-arity-2": Refused(
        lambda: parse(two), TypeError, ("parse()", "fn", "1 positional argument", "two(a")
    ),
    "map-arity-2": Refused(lambda: map(two), TypeError, ("map()", "fn", "1 positional")),
    "map_thread-arity-2": Refused(
        lambda: map_thread(two), TypeError, ("map_thread()", "fn", "1 positional")
    ),
    "scan-arity-1": Refused(
        lambda: scan(one, 0), TypeError, ("scan()", "fn", "2 positional arguments", "one(a")
    ),
    "reduce-arity-1": Refused(
        lambda: reduce(one, 0), TypeError, ("reduce()", "fn", "2 positional arguments")
    ),
    "where-arity-0": Refused(
        lambda: where(lambda: True), TypeError, ("where()", "predicate", "1 positional")
    ),
    # Options that would be accepted and then misbehave (or never time out).
    "from_lines-errors": Refused(
        lambda: from_lines("x.txt", errors="nope"), ValueError, ("from_lines()", "errors", "nope")
    ),
    "from_lines-encoding-none": Refused(
        lambda: from_lines("x.txt", encoding=None), TypeError, ("from_lines()", "encoding", "None")
    ),
    "from_lines-encoding-unknown": Refused(
        lambda: from_lines("x.txt", encoding="klingon"), ValueError, ("from_lines()", "klingon")
    ),
    "stream-grace-nan": Refused(
        lambda: just(1).stream(grace=float("nan")), ValueError, ("stream()", "grace", "nan")
    ),
    "stream-grace-inf": Refused(
        lambda: just(1).stream(grace=float("inf")), ValueError, ("stream()", "grace", "finite")
    ),
    "stream-handle-signals-str": Refused(
        lambda: just(1).stream(handle_signals="yes"),
        TypeError,
        ("stream()", "handle_signals", "'yes'"),
    ),
    "operator-none": Refused(
        lambda: operator(None), TypeError, ("operator()", "async generator function", "None")
    ),
    "operator-sync-function": Refused(
        lambda: operator(one), TypeError, ("operator()", "async generator function", "one")
    ),
    # Accepted, with a meaning: callables whose signature cannot be read are not refused,
    # defaults and *args count, and a lambda returning a coroutine is awaited where an
    # awaitable result is documented.
    "map-builtin": Means(lambda: map(int), ("1", "2"), [1, 2]),
    "map-default-arg": Means(lambda: map(lambda x, y=10: x + y), (1, 2), [11, 12]),
    "map-varargs": Means(lambda: map(lambda *a: len(a)), (1, 2), [1, 1]),
    "scan-operator-add": Means(lambda: scan(op.add, 0), (1, 2, 3), [1, 3, 6]),
    "reduce-builtin-max": Means(lambda: reduce(max), (3, 9, 2), [9]),
    "starmap-any-arity": Means(lambda: starmap(lambda a, b: a + b), ((1, 2), (3, 4)), [3, 7]),
    "where-returns-coroutine": Means(lambda: where(lambda x: _is_even(x)), (1, 2, 3, 4), [2, 4]),
    "tap-async": Means(lambda: tap(double), (1, 2), [1, 2]),
}


async def _is_even(x: int) -> bool:
    return x % 2 == 0


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_bad_input_case(case: Refused | Means) -> None:
    await check(case)


def test_every_case_names_its_operator() -> None:
    check_names(CASES)
