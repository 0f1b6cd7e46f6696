"""Windowing operators: group items by time into :class:`Window` objects."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
from anyio import EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_number
from .._core.handoff import send
from .._core.operator import Operator, StageContext, StagedStep

__all__ = ["Window", "tumbling_window"]

T = TypeVar("T")

#: How many items a window stage takes from its buffer without a wait before it reads
#: the clock again. Items taken in one batch are stamped with the same arrival time;
#: reading the clock per item would cost more than the rest of the hand-off.
CLOCK_EVERY = 64


@dataclass(slots=True)
class Window(Generic[T]):
    """A group of items that arrived in ``[start, end)``.

    ``items`` is the list of items (empty when the window aggregates), ``value`` the
    aggregate when the operator was given one, ``key`` the key for keyed windows (None
    otherwise). ``len(window)`` is the number of items that fell into it.
    """

    start: float
    end: float
    items: list[T] = field(default_factory=list)
    key: Any = None
    value: Any = None
    count: int = 0

    def __len__(self) -> int:
        return self.count


def tumbling_window(size: float, *, emit_empty: bool = False) -> Operator[T, Window[T]]:
    """Emit, every ``size`` seconds, a :class:`Window` of the items that arrived in it.

    ::

        input   --a-b------c--------d-|
        output  ------[a,b]----[c]----[d]|      (size = 4 dashes)

    Processing-time windows ``[start, end)`` of ``size`` seconds, aligned to the moment
    iteration starts. An item belongs to the window in which it arrives at this operator
    (one arriving exactly on a boundary may land on either side). A window is emitted
    when its time is up, even if no further item ever arrives; empty windows are skipped
    unless ``emit_empty=True``. At end of input the partial window is flushed with its
    nominal ``end``.
    """
    length = check_number("tumbling_window", "size", size)
    if not isinstance(emit_empty, bool):
        raise TypeError(f"tumbling_window(): emit_empty must be True or False, got {emit_empty!r}")
    name = f"tumbling_window({length:g})"
    run = functools.partial(_run_processing_time, length, emit_empty)
    return Operator((StagedStep(name, run),))


async def _run_processing_time(
    size: float,
    emit_empty: bool,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    counts = ctx.counts
    current_time = anyio.current_time
    start = current_time()
    end = start + size
    items: list[Any] = []
    receive_nowait = rx.receive_nowait
    now = start
    since_clock = 0

    async def close_until(now: float) -> None:
        # Emit every window that ended at or before ``now`` (empty ones if asked).
        nonlocal start, end, items
        while now >= end:
            if items or emit_empty:
                window = Window(start, end, items, count=len(items))
                items = []
                counts[1] += 1
                await send(tx, window)
            start, end = end, end + size

    while True:
        try:
            item = receive_nowait()
        except WouldBlock:
            now = current_time()
            await close_until(now)
            received = False
            with anyio.move_on_at(end):
                try:
                    item = await rx.receive()
                except EndOfStream:
                    break
                received = True
            now = current_time()
            since_clock = 0
            if not received:
                continue
        except EndOfStream:
            break
        else:
            since_clock += 1
            if since_clock >= CLOCK_EVERY:
                since_clock = 0
                now = current_time()
        while now >= end:
            # Sending closed windows may wait on downstream; time moves meanwhile.
            await close_until(now)
            now = current_time()
        counts[0] += 1
        items.append(item)
    # End of input: flush the partial window with its nominal end.
    if items or emit_empty:
        counts[1] += 1
        await send(tx, Window(start, end, items, count=len(items)))
