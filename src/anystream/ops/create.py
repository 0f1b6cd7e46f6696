"""Sources: functions that make a :class:`Stream` from something that is not one."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TypeVar, overload

from .._core.source import IterableSource
from .._core.stream import Stream

__all__ = ["from_iterable"]

T = TypeVar("T")


@overload
def from_iterable(iterable: AsyncIterable[T]) -> Stream[T]: ...
@overload
def from_iterable(iterable: Iterable[T]) -> Stream[T]: ...
def from_iterable(iterable: Iterable[T] | AsyncIterable[T]) -> Stream[T]:
    """A stream of the items of a sync or async iterable, in order.

    Emits every item, then ends. A re-iterable (a list, a range, an aiostream stream)
    runs afresh on every run of the stream; a one-shot iterator or generator can be run
    once, and a second run raises ``RuntimeError`` saying so. A sync iterable is iterated
    inline by the fused loop, yielding to the event loop every 128 items so that a long
    list neither starves other tasks nor ignores cancellation.
    """
    return Stream(IterableSource(iterable, "from_iterable"))
