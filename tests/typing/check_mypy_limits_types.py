"""What mypy (strict) infers where it is weaker than pyright: pinned so a change shows.

Run by mypy only (pyright checks the files listed in pyproject's ``[tool.pyright]``; the
same pipelines are pinned with their real types for pyright in check_pipe_pyright.py).
If one of these pins starts failing, mypy has improved: move the line to
check_operator_types.py with the real type and update docs/typing.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar, assert_type

from anystream import (
    Stream,
    chunks,
    enumerate,
    map,
    operator,
    parse,
    take,
    where,
)

T = TypeVar("T")


@dataclass
class Event:
    user: str
    value: float


def parse_event(line: str) -> Event:
    user, value = line.split(",")
    return Event(user, float(value))


@operator
async def listed(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    async for item in source:
        yield [item]


def only_positive(s: Stream[Event]) -> Stream[Event]:
    return s.pipe(where(lambda e: e.value > 0))


def a_third_item_changing_operator(events: Stream[Event], lines: Stream[str]) -> None:
    # mypy infers a call's arguments in two passes: the lambdas of the first operator
    # and of the next one that is not a take-like SameOperator are typed; a lambda in a
    # third one is Any there (not checked) and so is the result.
    assert_type(
        events.pipe(map(lambda e: e.user), map(lambda u: u.upper()), where(lambda u: u != "")),
        Stream[Any],
    )
    assert_type(
        lines.pipe(parse(parse_event), where(lambda e: e.value > 0), map(lambda e: e.value)),
        Stream[Any],
    )
    # Not reported by mypy (pyright reports it): e is Any in the third operator.
    events.pipe(where(lambda e: e.value > 0), map(lambda e: e.user), where(lambda u: u.nope))
    # The workaround: a second pipe() call from the third such operator on.
    assert_type(
        lines.pipe(parse(parse_event), where(lambda e: e.value > 0)).pipe(map(lambda e: e.value)),
        Stream[float],
    )


def generic_hook_operators_next_to_lambdas(events: Stream[Event]) -> None:
    # enumerate, pairwise, chunks, zip_with, with_latest_from and the windows given no
    # function are typed by the stream they meet: in the same pipe() call as a lambda
    # that is not in the first operator, mypy loses the lambda's type.
    assert_type(events.pipe(enumerate(), map(lambda p: p[1].value)), Stream[Any])
    assert_type(
        events.pipe(where(lambda e: e.value > 0), map(lambda e: e.value), chunks(2)),
        Stream[list[Any]],
    )
    # Typed: a lambda in the first operator only, or the generic one in its own call.
    assert_type(events.pipe(where(lambda e: e.value > 0), enumerate()), Stream[tuple[int, Event]])
    assert_type(
        events.pipe(where(lambda e: e.value > 0), map(lambda e: e.value)).pipe(chunks(2)),
        Stream[list[float]],
    )
    assert_type(events.pipe(take(2), chunks(2)), Stream[list[Event]])


def a_lambda_after_a_function_in_one_pipe(events: Stream[Event]) -> None:
    # A function from stream to stream as the first item-changing operator (a generic
    # @operator that changes the type, or the user's own): mypy infers it in its second
    # pass, so a lambda after it in the same call is Any there (pyright types it).
    assert_type(events.pipe(listed(), map(lambda xs: xs[0].value)), Stream[Any])
    assert_type(events.pipe(only_positive, map(lambda e: e.value)), Stream[Any])
    # The workaround: a second pipe() call, or | for the function.
    assert_type(events.pipe(listed()).pipe(map(lambda xs: xs[0].value)), Stream[float])
    assert_type((events | only_positive).pipe(map(lambda e: e.value)), Stream[float])
