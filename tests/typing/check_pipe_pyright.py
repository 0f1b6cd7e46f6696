"""Pinned types that pyright (strict) proves and mypy does not: run by pyright only.

mypy infers the arguments of one call in two passes, so in one ``pipe()`` call it types
the lambdas of the first two operators that are not take-like and loses later ones
(``Any``, no error and no checking; see check_mypy_limits_types.py); pyright solves
them left to right. Excluded from mypy's ``files`` in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar, assert_type

from anystream import (
    Stream,
    Window,
    enumerate,
    exhaust_map,
    from_iterable,
    map,
    operator,
    session_window,
    take,
    where,
    zip_with,
)

T = TypeVar("T")


@dataclass
class Event:
    user: str
    value: float


def issue_pipeline(events: Stream[Event]) -> None:
    assert_type(
        events.pipe(where(lambda e: e.value > 0), map(lambda e: e.value), take(2)),
        Stream[float],
    )
    assert_type(events.pipe(take(2), where(lambda e: e.value > 0)), Stream[Event])
    assert_type(
        events.pipe(map(lambda e: e.user), map(lambda u: len(u)), where(lambda n: n > 2)),
        Stream[int],
    )


@operator
async def listed(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    async for item in source:
        yield [item]


def only_positive(s: Stream[Event]) -> Stream[Event]:
    return s.pipe(where(lambda e: e.value > 0))


def more_pipelines(events: Stream[Event], numbers: Stream[int]) -> None:
    assert_type(
        events.pipe(zip_with(numbers), where(lambda pair: pair[1] > 0)),
        Stream[tuple[Event, int]],
    )
    assert_type(events.pipe(exhaust_map(lambda e: from_iterable([e.user]))), Stream[str])
    assert_type(
        events.pipe(
            session_window(
                5.0,
                key=lambda e: e.user,
                aggregate=(lambda: 0, lambda acc, e: acc + 1, lambda a, b: a + b),
            )
        ),
        Stream[Window[Event, str, int]],
    )
    # A lambda after a function from stream to stream (a generic @operator that changes
    # the item type, or the user's own) in the same call: Any in mypy.
    # Three lambdas that change or filter items in one call, and one after enumerate.
    assert_type(events.pipe(listed(), map(lambda b: b[0].value)), Stream[float])
    assert_type(events.pipe(only_positive, map(lambda e: e.value)), Stream[float])
    assert_type(events.pipe(take(1), listed(), where(lambda b: len(b) > 0)), Stream[list[Event]])
    assert_type(
        events.pipe(
            where(lambda e: e.value > 0),
            map(lambda e: e.user),
            map(lambda u: u.upper()),
            where(lambda u: u != ""),
        ),
        Stream[str],
    )
    assert_type(events.pipe(enumerate(), map(lambda p: p[1].value)), Stream[float])
