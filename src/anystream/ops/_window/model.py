"""The :class:`Window` record the window operators emit, and the aggregate shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic

from ..._core.compat import TypeVar

__all__ = ["Aggregate", "SessionAggregate", "Window"]

T = TypeVar("T")
K = TypeVar("K", default=None)
A = TypeVar("A", default=None)
Acc = TypeVar("Acc")  # the aliases' own (no default may precede T there)

# The default of ``key`` and ``value``: None, typed so that it fits any K and A (a
# window without ``key=`` is a ``Window[T, None, ...]``, so it is None there).
_UNSET: Any = None


@dataclass(slots=True)
class Window(Generic[T, K, A]):
    """A group of items that fell into ``[start, end)``.

    ``items`` is the list of items (empty when the window aggregates), ``value`` the
    aggregate when the operator was given one, ``key`` the key for keyed windows (None
    otherwise). ``count`` (also ``len(window)``) is the number of items that fell into it,
    counted even when only the aggregate is kept.

    Typed ``Window[T, K, A]``: ``T`` the item type, ``K`` the key type (``None`` without
    ``key=``), ``A`` the aggregate's type (``None`` without ``aggregate=``). ``Window[T]``
    is ``Window[T, None, None]``; a keyed window of events is ``Window[Event, str]``.
    """

    start: float
    end: float
    items: list[T] = field(default_factory=list)
    key: K = _UNSET
    value: A = _UNSET
    count: int = 0

    def __len__(self) -> int:
        return self.count


#: ``aggregate=(make_initial, fold)``: ``fold(acc, item)`` returns the new aggregate.
#: Generic in the aggregate's type and the item type: ``Aggregate[float, Event]``.
Aggregate = tuple[Callable[[], Acc], Callable[[Acc, T], Acc]]
#: As :data:`Aggregate`, optionally with ``merge(acc1, acc2)`` for merging sessions.
SessionAggregate = (
    tuple[Callable[[], Acc], Callable[[Acc, T], Acc]]
    | tuple[Callable[[], Acc], Callable[[Acc, T], Acc], Callable[[Acc, Acc], Acc]]
)


# Documented, pickled and printed under its public home.
Window.__module__ = "anystream.ops.window"
