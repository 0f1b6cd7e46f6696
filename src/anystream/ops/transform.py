"""Transforming operators: one output per input (``map``, ``parse``, ``map_async``)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from .._core.callables import (
    check_async_callable,
    check_choice,
    check_int,
    check_sync_callable,
    describe,
)
from .._core.operator import Kernel, Operator, StagedStep
from ..resilience.retry import Retry
from ._map_async import check_retry, run_map_async
from .errors import OnError, check_on_error

__all__ = ["map", "map_async", "parse"]

T = TypeVar("T")
U = TypeVar("U")


def map(fn: Callable[[T], U]) -> Operator[T, U]:
    """Emit ``fn(item)`` for every item, in order (a plain function; see ``map_async``).

    Fused with neighbouring per-item operators into one loop: it costs a function call
    per item, not a generator layer.
    """
    check_sync_callable("map", "fn", fn, async_alternative="map_async(fn)")
    return Operator((Kernel("map", f"map({describe(fn)})", fn),))


def parse(fn: Callable[[T], U], *, on_error: Literal["drop", "raise"] = "drop") -> Operator[T, U]:
    """Emit ``fn(item)``; inputs that ``fn`` rejects are *malformed*.

    ``fn`` raising ``ValueError``, ``TypeError``, ``KeyError`` or ``IndexError`` marks the
    input malformed. With ``on_error="drop"`` (the default) it is skipped and counted:
    after or during a run, ``stream.stats()["parse"].dropped["malformed"]`` (or
    ``run.stats()`` inside ``async with stream.stream() as run``) says how many.
    With ``on_error="raise"`` the exception propagates and ends the run. Any other
    exception always propagates.
    """
    check_sync_callable("parse", "fn", fn, async_alternative="map_async(fn)")
    mode = check_choice("parse", "on_error", on_error, ("drop", "raise"))
    kind: Literal["parse", "map"] = "parse" if mode == "drop" else "map"
    return Operator((Kernel(kind, f"parse({describe(fn)})", fn),))


def map_async(
    fn: Callable[[T], Awaitable[U]],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    retry: Retry | int | None = None,
    on_error: OnError = "raise",
) -> Operator[T, U]:
    """Emit ``await fn(item)`` for every item, with up to ``concurrency`` calls at once.

    With ``concurrency=1`` (and no ``retry``/``on_error``) this is a per-item operator
    fused with its neighbours. Otherwise it is a staged operator: ``concurrency`` worker
    tasks take items from its input as they become free.

    ``ordered=True`` emits results in input order. A result that finishes before an
    earlier one waits for it, so the stage holds at most ``2 * concurrency`` items in
    total: at most ``concurrency`` calls in flight, the rest finished results waiting
    for an earlier item. When that bound is reached no new call starts until the earliest
    result is emitted. ``ordered=False`` emits results as calls complete and holds at
    most ``concurrency`` items.

    ``retry`` (a :class:`~anystream.resilience.Retry` policy, or a number of attempts)
    retries failed calls with exponential backoff; an item waiting to retry holds only
    its own worker, the others go on. Retries are counted in the operator's
    ``stats().retried``. ``on_error`` says what happens when a call finally fails:
    ``"raise"`` (default: the run ends with that exception, with a note naming this
    operator; calls still in flight are cancelled), ``"drop"`` (counted by exception
    type) or a dead-letter callable such as :class:`~anystream.DeadLetters` (see
    ``anystream.ops.errors``).
    """
    check_async_callable("map_async", "fn", fn, sync_alternative="map(fn)")
    check_int("map_async", "concurrency", concurrency, minimum=1)
    if not isinstance(ordered, bool):
        raise TypeError(f"map_async(): ordered must be True or False, got {ordered!r}")
    policy = check_retry("map_async", retry)
    handler = check_on_error("map_async", on_error)
    name = f"map_async({describe(fn)})"
    if concurrency == 1 and policy is None and handler == "raise":
        return Operator((Kernel("amap", name, fn),))
    run = functools.partial(
        run_map_async,
        fn,
        concurrency=concurrency,
        ordered=ordered,
        retry=policy,
        on_error=handler,
        name=name,
    )
    tracked = functools.partial(run, tracked=True)
    return Operator((StagedStep(name, run, tracked=tracked),))
