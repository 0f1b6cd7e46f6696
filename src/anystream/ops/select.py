"""Selecting operators: pass some items through unchanged (``where``, ``take``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from .._core.callables import check_callable, check_int, describe, is_async_callable
from .._core.operator import Kernel, Operator

__all__ = ["filter", "take", "where"]

T = TypeVar("T")


def where(predicate: Callable[[T], object] | Callable[[T], Awaitable[object]]) -> Operator[T, T]:
    """Emit the items for which ``predicate(item)`` is true; count the others.

    The predicate may be a plain function or a coroutine function. A plain function
    whose result is awaitable (a lambda calling a coroutine function) is awaited too.
    Items filtered out are counted as ``dropped["filtered"]`` in the run's stats.
    """
    check_callable("where", "predicate", predicate)
    kind: Literal["afilter", "filter"] = "afilter" if is_async_callable(predicate) else "filter"
    return Operator((Kernel(kind, f"where({describe(predicate)})", predicate),))


filter = where


def take(n: int) -> Operator[T, T]:
    """Emit the first ``n`` items, then end and close the upstream at once.

    The upstream is closed as soon as the ``n``-th item has passed, not when the whole
    run ends: a generator source's ``finally`` runs right away and no further item is
    pulled. ``take(0)`` emits nothing and never starts the source.
    """
    count = check_int("take", "n", n, minimum=0)
    return Operator((Kernel("take", f"take({count})", arg=count),))
