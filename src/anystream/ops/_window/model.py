"""The :class:`Window` record the window operators emit, and the aggregate shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Aggregate", "SessionAggregate", "Window"]

T = TypeVar("T")


@dataclass(slots=True)
class Window(Generic[T]):
    """A group of items that fell into ``[start, end)``.

    ``items`` is the list of items (empty when the window aggregates), ``value`` the
    aggregate when the operator was given one, ``key`` the key for keyed windows (None
    otherwise). ``count`` (also ``len(window)``) is the number of items that fell into it,
    counted even when only the aggregate is kept.
    """

    start: float
    end: float
    items: list[T] = field(default_factory=list)
    key: Any = None
    value: Any = None
    count: int = 0

    def __len__(self) -> int:
        return self.count


Aggregate = tuple[Callable[[], Any], Callable[[Any, Any], Any]]
SessionAggregate = (
    tuple[Callable[[], Any], Callable[[Any, Any], Any]]
    | tuple[Callable[[], Any], Callable[[Any, Any], Any], Callable[[Any, Any], Any]]
)


# Documented, pickled and printed under its public home.
Window.__module__ = "anystream.ops.window"
