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
async def every_other(source: AsyncIterator[T]) -> AsyncIterator[T]:
    keep = True
    async for item in source:
        if keep:
            yield item
        keep = not keep


def several_lambdas_in_one_pipe(events: Stream[Event]) -> None:
    # mypy solves all arguments of one call together: a lambda in the second or a later
    # operator of the same pipe() call is not checked and the result is Stream[Any].
    assert_type(
        events.pipe(where(lambda e: e.value > 0), map(lambda e: e.value), take(2)),
        Stream[Any],
    )
    # The workaround: one pipe() call per operator that takes a lambda.
    assert_type(
        events.pipe(where(lambda e: e.value > 0)).pipe(map(lambda e: e.value), take(2)),
        Stream[float],
    )


def generic_decorated_operator() -> None:
    # mypy binds the type variable of a generic @operator function when the decorator is
    # applied, to Never (pyright keeps it generic). The workarounds: decorate functions
    # over concrete types, or cast at the use site (cast("Operator[Event, Event]", ...)).
    assert_type(every_other(), Operator[Never, Never])
