"""Construction-time argument checks: every message names the argument."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

import anystream as a


async def _coro(x: int) -> int:
    return x


class _AsyncCallable:
    async def __call__(self, x: int) -> int:
        return x


@pytest.mark.parametrize(
    ("build", "error", "names"),
    [
        (lambda: a.buffered(-1), ValueError, "n"),
        (lambda: a.buffered(1.5), TypeError, "n"),
        (lambda: a.buffered(0, overflow="drop_oldest"), ValueError, "overflow"),
        (lambda: a.buffered(2, overflow="latest"), ValueError, "n must be 1"),
        (lambda: a.buffered(2, overflow="spill"), ValueError, "overflow"),
        (lambda: a.map_async(_coro, concurrency=0), ValueError, "concurrency"),
        (lambda: a.map_async(_coro, concurrency=True), TypeError, "concurrency"),
        (lambda: a.map_async(42), TypeError, "fn must be callable"),
        (lambda: a.map_async(_coro, ordered="yes"), TypeError, "ordered"),
        (lambda: a.tumbling_window(0), ValueError, "size"),
        (lambda: a.tumbling_window(-1), ValueError, "size"),
        (lambda: a.tumbling_window(float("nan")), ValueError, "size"),
        (lambda: a.tumbling_window("2"), TypeError, "size"),
        (lambda: a.map(42), TypeError, "fn must be callable"),
        (lambda: a.map(_coro), TypeError, "map_async"),
        (lambda: a.map(_AsyncCallable()), TypeError, "map_async"),
        (lambda: a.map(functools.partial(_coro)), TypeError, "map_async"),
        (lambda: a.parse(None), TypeError, "fn must be callable"),
        (lambda: a.parse(int, on_error="ignore"), ValueError, "on_error"),
        (lambda: a.where("x"), TypeError, "predicate"),
        (lambda: a.take(-1), ValueError, "n"),
        (lambda: a.take(None), TypeError, "n"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_the_argument(
    build: Callable[[], Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        build()


def test_stream_grace_is_validated() -> None:
    with pytest.raises(ValueError, match="grace"):
        a.from_iterable([1]).stream(grace=-1)
    with pytest.raises(TypeError, match="grace"):
        a.from_iterable([1]).stream(grace="soon")  # type: ignore[arg-type]
