"""Delivery guarantees: sources whose items are acknowledged once fully handled.

See ``anystream._core.acks`` for the precise contract (when ``ack`` and ``nack`` are
called, and which operators propagate acknowledgements).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any, TypeVar

from .._core.acks import Acked
from .._core.source import IterableSource
from .._core.stream import Stream

__all__ = ["Acked", "from_acked"]

T = TypeVar("T")


def from_acked(items: Iterable[Acked[T]] | AsyncIterable[Acked[T]]) -> Stream[T]:
    """A stream of the values of :class:`Acked` items, acknowledging each when handled.

    ``ack()`` is called once the item was fully handled by the end of the pipeline
    (delivered, filtered out, dropped by policy, dead-lettered, or folded into a window
    that was delivered); ``nack(reason)`` when a run is aborted with it still in flight.
    The pipeline's operators see plain values: the acknowledgement travels beside them.

    ``items`` must be an iterable or async iterable of :class:`Acked`; anything else
    (``None``, a list holding a plain value) is refused at build time when it can be seen
    then (a list or tuple is checked item by item), and at run time otherwise.
    """
    given: Any = items  # checked as anything: callers are not always type-checked
    if not isinstance(given, Iterable | AsyncIterable):
        got = "None" if given is None else type(given).__name__
        raise TypeError(
            "from_acked(): items must be an iterable or async iterable of Acked(value, ack) "
            f"items, got {got}"
        )
    if isinstance(given, list | tuple):
        for index, item in enumerate(given):
            if not isinstance(item, Acked):
                raise TypeError(
                    f"from_acked(): items must be Acked(value, ack) items, got "
                    f"{type(item).__name__} {item!r:.60} at index {index}; for plain values "
                    "use from_iterable()"
                )
    source: IterableSource[Any] = IterableSource(items, "from_acked", acknowledged=True)
    return Stream(source)
