"""Operators that add items around a stream, and a failing source.

``start_with`` / ``end_with`` put fixed items before / after the upstream's,
``default_if_empty`` emits a default when the upstream ended without an item, and
``throw(exc)`` is a stream that fails at once. The operators are generator steps: they
run in the same task as their neighbours and need no clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Never, TypeVar

from .._core.operator import GenStep, Operator, step_name
from .._core.stream import Stream
from .create import from_iterable

__all__ = ["default_if_empty", "end_with", "start_with", "throw"]

T = TypeVar("T")


def start_with(*items: T, name: str | None = None) -> Operator[T, T]:
    """Emit ``items`` first, then every item of the upstream.

    ::

        input   ---a--b--|        start_with(x, y)
        output  (xy)a--b--|

    The items are emitted when iteration starts, before the upstream is asked for its first
    item. RxJS ``startWith``; Kotlin ``onStart { emit(x) }``; aiostream ``chain(just(x), s)``.
    """
    first = tuple(items)

    async def prepend(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        for item in first:
            yield item
        async for item in upstream:
            yield item

    step = step_name("start_with", name, f"start_with({len(first)})")
    return Operator((GenStep(step, prepend),))


def end_with(*items: T, name: str | None = None) -> Operator[T, T]:
    """Emit every item of the upstream, then ``items`` when it has ended.

    ::

        input   -a--b--|          end_with(x, y)
        output  -a--b--(xy|)

    Nothing is added when the upstream fails. RxJS ``endWith``; Kotlin
    ``onCompletion { emit(x) }``.
    """
    last = tuple(items)

    async def append(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in upstream:
            yield item
        for item in last:
            yield item

    step = step_name("end_with", name, f"end_with({len(last)})")
    return Operator((GenStep(step, append),))


def default_if_empty(default: T, *, name: str | None = None) -> Operator[T, T]:
    """Emit the upstream's items; if it ended without any, emit ``default`` at its end.

    ::

        input   -----|            default_if_empty(x)
        output  -----(x|)
        input   -a-b-|
        output  -a-b-|

    An upstream that fails without an item fails: no default then. RxJS ``defaultIfEmpty``;
    Kotlin ``onEmpty { emit(x) }``.
    """

    async def fill(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        empty = True
        async for item in upstream:
            empty = False
            yield item
        if empty:
            yield default

    step = step_name("default_if_empty", name, "default_if_empty")
    return Operator((GenStep(step, fill),))


class _Raiser:
    """A re-iterable async iterable that raises ``exc`` (a class: a fresh instance) at once."""

    def __init__(self, exc: BaseException | type[BaseException]) -> None:
        self._exc = exc

    def __aiter__(self) -> _Raising:
        return _Raising(self._exc)


class _Raising:
    """One iteration of ``_Raiser``: its first step raises."""

    def __init__(self, exc: BaseException | type[BaseException]) -> None:
        self._exc = exc

    def __aiter__(self) -> _Raising:
        return self

    async def __anext__(self) -> Never:
        exc = self._exc
        raise exc() if isinstance(exc, type) else exc


def throw(exc: BaseException | type[BaseException]) -> Stream[Never]:
    """A stream that raises ``exc`` as soon as it is iterated, without emitting anything.

    ::

        #

    ``exc`` is an exception instance (raised as itself on every run) or class (a new
    instance each run). RxJS ``throwError``; aiostream ``throw``; Kotlin ``flow { throw e }``.
    """
    valid = isinstance(exc, BaseException) or (
        isinstance(exc, type) and issubclass(exc, BaseException)
    )
    if not valid:
        raise TypeError(f"throw(): exc must be an exception or exception class, got {exc!r}")
    return from_iterable(_Raiser(exc))
