"""start_with / end_with / default_if_empty / throw against RxJS specs and Kotlin docs.

Each case runs on asyncio and trio on the virtual clock (frames of 1 s).
"""

from __future__ import annotations

import pytest

from anystream import default_if_empty, end_with, map, range, start_with, throw

from ._marble import Boom, apply, draw, expect

pytestmark = pytest.mark.anyio

CASES = [
    # rxjs startWith-spec "should prepend to a cold Observable"
    ("---a--b--c--|", start_with("s"), "s--a--b--c--|"),
    # "should start an observable with given value" (several values)
    ("-----a--|", start_with("x", "y"), "(xy)-a--|"),
    # "should start with given value and does not completes if source does not completes"
    ("----a-", start_with("x"), "x---a"),
    # "should start with given value and raises error if source raises error"
    ("--#", start_with("x"), "x-#"),
    # "should start with given value and complete if source is empty"
    ("|", start_with("x"), "(x|)"),
    # "should start with given value and does not complete if source never emits"
    ("-", start_with("x"), "x"),
    # rxjs endWith-spec "should append to a cold Observable"
    ("---a--b--c--|", end_with("s"), "---a--b--c--(s|)"),
    # "should append numbers to a cold Observable" (several values)
    ("--a--|", end_with("x", "y"), "--a--(xy|)"),
    # "should end with given value and does not completes if source does not completes"
    ("----a-", end_with("x"), "----a"),
    # "should not end with given value if source raises error"
    ("--#", end_with("x"), "--#"),
    # "should end with given value and complete if source is empty"
    ("|", end_with("x"), "(x|)"),
    # rxjs defaultIfEmpty-spec "should return the Observable if not empty with a default value"
    ("--------|", default_if_empty("x"), "--------(x|)"),
    # "should return the argument if Observable is empty"
    ("|", default_if_empty("x"), "(x|)"),
    # "should return the Observable if not empty"
    ("--a--b--|", default_if_empty("x"), "--a--b--|"),
    # "should allow unsubscribing explicitly and early" -> never source: nothing, no default
    ("--", default_if_empty("x"), ""),
    # "should error if the Observable errors"
    ("--#", default_if_empty("x"), "--#"),
]


@pytest.mark.parametrize(("given", "op", "expected"), CASES)
async def test_extend_marbles(given: str, op: object, expected: str) -> None:
    assert await apply(given, op, until=40) == expect(expected)  # type: ignore[arg-type]


async def test_start_with_then_end_with_compose() -> None:
    # Kotlin Flow onStart/onCompletion doc example: emits around the flow's items.
    got = await (range(3) | start_with(-1) | end_with(99) | map(str)).collect()
    assert got == ["-1", "0", "1", "2", "99"]


async def test_throw_is_a_failing_source() -> None:
    # rxjs throwError-spec "should create a cold observable that just emits an error"
    assert await draw(throw(Boom("x"))) == "#"
    with pytest.raises(KeyError):
        await throw(KeyError).collect()
    # Every run raises again (a class gives a fresh instance each run).
    failing = throw(ValueError)

    for _ in builtins_range(2):
        with pytest.raises(ValueError) as info:  # noqa: PT011
            await failing.collect()
        assert type(info.value) is ValueError
    # rxjs startWith over a failing source: the prefix, then the error.
    assert await draw(throw(Boom("x")) | start_with("a")) == "(a#)"
    # default_if_empty does not hide an error.
    assert await draw(throw(Boom("x")) | default_if_empty("d")) == "#"


def test_throw_rejects_non_exceptions() -> None:
    with pytest.raises(TypeError, match="throw"):
        throw("boom")  # type: ignore[arg-type]


builtins_range = __builtins__["range"] if isinstance(__builtins__, dict) else __builtins__.range
