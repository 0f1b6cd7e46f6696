"""What mypy (strict) infers where it is weaker than pyright: pinned so a change shows.

Run by mypy only (pyright checks the files listed in pyproject's ``[tool.pyright]``; the
same pipelines are pinned with their real types for pyright in check_pipe_pyright.py).
If one of these pins starts failing, mypy has improved: move the line to
check_operator_types.py with the real type and update docs/typing.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Never, TypeVar, assert_type

from anystream import Operator, Stream, map, operator, take, where

T = TypeVar("T")


@dataclass
class Event:
    user: str
    value: float


@operator
async def listed(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    async for item in source:
        yield [item]


def several_lambdas_in_one_pipe(events: Stream[Event]) -> None:
    # mypy solves all arguments of one call together: a lambda in the second or a later
    # operator of the same pipe() call is not checked and the result is Stream[Any].
    assert_type(
        events.pipe(where(lambda e: e.value > 0), map(lambda e: e.value), take(2)),
        Stream[Any],
    )
    assert_type(events.pipe(take(2), where(lambda e: e.value > 0)), Stream[Any])
    # The workaround: one pipe() call per operator that takes a lambda.
    assert_type(
        events.pipe(where(lambda e: e.value > 0)).pipe(map(lambda e: e.value), take(2)),
        Stream[float],
    )


def generic_decorated_operator() -> None:
    # A generic @operator function that changes the item type: mypy binds its type
    # variable to Never when the decorator is applied (pyright keeps it generic; the
    # type-preserving ones are SameOperator in both). The workarounds: decorate
    # functions over concrete types, or cast("Operator[Event, list[Event]]", listed()).
    assert_type(listed(), Operator[Never, list[Never]])
