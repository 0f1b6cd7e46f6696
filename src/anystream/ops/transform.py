"""Transforming operators: one output per input (``map``, ``parse``, ``map_async``)."""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import anyio
from anyio import BrokenResourceError, EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import (
    check_async_callable,
    check_choice,
    check_int,
    check_sync_callable,
    describe,
)
from .._core.errors import add_operator_note
from .._core.handoff import downstream_left, send
from .._core.operator import Kernel, Operator, StageContext, StagedStep

__all__ = ["map", "map_async", "parse"]

T = TypeVar("T")
U = TypeVar("U")

_MISSING: Any = object()


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
    fn: Callable[[T], Awaitable[U]], *, concurrency: int = 1, ordered: bool = True
) -> Operator[T, U]:
    """Emit ``await fn(item)`` for every item, with up to ``concurrency`` calls at once.

    With ``concurrency=1`` this is a per-item operator fused with its neighbours. Above
    that it is a staged operator: ``concurrency`` worker tasks take items from its input
    as they become free.

    ``ordered=True`` emits results in input order. A result that finishes before an
    earlier one waits for it, so the stage holds at most ``2 * concurrency`` items in
    total: at most ``concurrency`` calls in flight, the rest finished results waiting
    for an earlier item. When that bound is reached no new call starts until the earliest
    result is emitted. ``ordered=False`` emits results as calls complete and holds at
    most ``concurrency`` items.

    An exception from ``fn`` ends the run (with a note naming this operator); calls still
    in flight are cancelled.
    """
    check_async_callable("map_async", "fn", fn, sync_alternative="map(fn)")
    check_int("map_async", "concurrency", concurrency, minimum=1)
    if not isinstance(ordered, bool):
        raise TypeError(f"map_async(): ordered must be True or False, got {ordered!r}")
    name = f"map_async({describe(fn)})"
    if concurrency == 1:
        return Operator((Kernel("amap", name, fn),))
    impl = _run_ordered if ordered else _run_unordered
    return Operator((StagedStep(name, functools.partial(impl, fn, concurrency, name)),))


async def _take(rx: MemoryObjectReceiveStream[Any]) -> Any:
    """Next item from ``rx`` (fast path first); ``_MISSING`` at end of input."""
    try:
        return rx.receive_nowait()
    except WouldBlock:
        pass
    except EndOfStream:
        return _MISSING
    try:
        return await rx.receive()
    except EndOfStream:
        return _MISSING


async def _run_unordered(
    fn: Callable[[Any], Awaitable[Any]],
    concurrency: int,
    name: str,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    counts = ctx.counts

    async def worker() -> None:
        while True:
            item = await _take(rx)
            if item is _MISSING:
                return
            counts[0] += 1
            try:
                result = await fn(item)
            except Exception as exc:
                add_operator_note(exc, name)
                raise
            counts[1] += 1
            try:
                await send(tx, result)
            except BrokenResourceError:
                if downstream_left(tx):
                    tg.cancel_scope.cancel()  # downstream left: stop quietly
                    return
                raise

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)


class _Slots:
    """A counting limit whose acquire does not checkpoint when a slot is free.

    ``anyio.Semaphore.acquire()`` always checkpoints; on the ordered ``map_async`` path
    that would be a full scheduler round-trip per item.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[anyio.Event] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event in self._waiters:
                self._waiters.remove(event)
            elif event.is_set():
                self.release()  # handed a slot while being cancelled: pass it on
            raise

    def release(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()  # the slot goes straight to the waiter
        else:
            self._free += 1


async def _run_ordered(
    fn: Callable[[Any], Awaitable[Any]],
    concurrency: int,
    name: str,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    # Sequence numbers are assigned by one dispatcher task, not by the workers: when
    # several tasks wait in receive(), items are handed out in order but the tasks
    # *resume* in whatever order the scheduler picks (trio shuffles it on purpose), so
    # numbering on resumption would misnumber them.
    counts = ctx.counts
    slots = _Slots(2 * concurrency)
    results: dict[int, Any] = {}
    emitted = 0  # next output index
    flushing = False
    to_workers, inbox = anyio.create_memory_object_stream[tuple[int, Any]](0)

    async def dispatch() -> None:
        index = 0
        with to_workers:
            while True:
                await slots.acquire()
                item = await _take(rx)
                if item is _MISSING:
                    slots.release()
                    return
                counts[0] += 1
                await send(to_workers, (index, item))
                index += 1

    async def worker() -> None:
        nonlocal emitted, flushing
        while True:
            job = await _take(inbox)
            if job is _MISSING:
                return
            index, item = job
            try:
                results[index] = await fn(item)
            except Exception as exc:
                add_operator_note(exc, name)
                raise
            if flushing or index != emitted:
                continue  # the flusher, or the worker of the earlier item, emits it
            flushing = True
            try:
                while emitted in results:
                    result = results.pop(emitted)
                    emitted += 1
                    counts[1] += 1
                    await send(tx, result)
                    slots.release()
            except BrokenResourceError:
                if downstream_left(tx):
                    tg.cancel_scope.cancel()
                    return
                raise
            finally:
                flushing = False

    with inbox:
        async with anyio.create_task_group() as tg:
            tg.start_soon(dispatch)
            for _ in range(concurrency):
                tg.start_soon(worker)
