"""Drivers: the staged steps that feed a window engine, and the ``chunks`` loops.

``run_event_time`` stamps each item with ``time(item)``; ``run_processing_time`` stamps
it with its arrival time and moves the watermark with the clock, so a window closes when
its time is up even if no further item arrives. Both send what the engine closed.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..._core.errors import add_operator_note
from ..._core.handoff import END, receive_or_end, send, send_fast_path
from ..._core.operator import Operator, StageContext, StagedStep
from ..._core.poll import WAIT, poll
from ..._core.staged import StageTask
from ..._core.stats import StageCounts
from .config import Config, between_handler, late_handler
from .engines import EngineFactory
from .model import Window

__all__ = [
    "CLOCK_EVERY",
    "EMIT_HANDOFF",
    "EVENT_TIME_BUFFER",
    "chunks_by_count",
    "chunks_by_step",
    "run_chunks",
    "run_chunks_by_step",
    "staged",
]

#: How many items a window stage takes from its buffer without a wait before it reads
#: the clock again. Items taken in one batch are stamped with the same arrival time;
#: reading the clock per item would cost more than the rest of the hand-off.
CLOCK_EVERY = 64

#: Size of the internal buffer in front of an event-time window stage (see the module
#: docstring of :mod:`anystream.ops.window`).
EVENT_TIME_BUFFER = 256

#: Room in the hand-off after an event-time window stage, in windows. A watermark that passes many
#: keys closes a window per key at once; with a rendezvous each of them cost a task
#: switch to the consumer and back (~25 us per window at 100k keys). With room, ``_emit``
#: appends them while there is space and the consumer takes them as one batch.
EMIT_HANDOFF = 64

_INF = math.inf


# -- chunks -------------------------------------------------------------------------------


async def chunks_by_count(upstream: AsyncIterator[Any], n: int) -> AsyncIterator[list[Any]]:
    batch: list[Any] = []
    append = batch.append
    async for item in upstream:
        append(item)
        if len(batch) >= n:
            yield batch
            batch = []
            append = batch.append
    if batch:
        yield batch


async def chunks_by_step(
    upstream: AsyncIterator[Any], n: int, step: int, *, on_skip: Any = None
) -> AsyncGenerator[list[Any], None]:
    """Lists of ``n`` items, a new one opened every ``step`` items (RxJS ``bufferCount``).

    The lists still open at end of input are emitted in order, shorter (never empty). With
    ``step > n`` the items between two lists belong to none: ``on_skip()`` is called for
    each (``None`` only when ``step <= n``, where that cannot happen).
    """
    open_lists: list[list[Any]] = []
    index = 0
    async for item in upstream:
        if index % step == 0:
            open_lists.append([])
        index += 1
        if not open_lists:
            on_skip()
            continue
        for batch in open_lists:
            batch.append(item)
        if len(open_lists[0]) >= n:
            yield open_lists.pop(0)
    for batch in open_lists:
        yield batch


async def run_chunks_by_step(
    n: int,
    step: int,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    """``chunks(n, step=step)`` with ``step > n``: a stage, so that gap items are counted."""
    counts = ctx.counts
    stats = ctx.stats

    async def items() -> AsyncGenerator[Any, None]:
        while True:
            item = poll(rx)
            if item is WAIT:
                item = await receive_or_end(rx)
            if item is END:
                return
            counts.received += 1
            yield item

    def skipped() -> None:
        stats.drop("between_chunks")

    upstream = items()
    lists = chunks_by_step(upstream, n, step, on_skip=skipped)
    try:
        async for batch in lists:
            counts.emitted += 1
            await send(tx, batch)
    finally:
        await lists.aclose()
        await upstream.aclose()


async def run_chunks(
    n: int,
    max_age: float,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    counts = ctx.counts
    current_time = anyio.current_time
    batch: list[Any] = []
    deadline = _INF
    since_clock = 0

    while True:
        item = poll(rx)
        if item is WAIT:
            if batch and current_time() >= deadline:
                counts.emitted += 1
                await send(tx, batch)
                batch, deadline = [], _INF
            received = False
            with anyio.move_on_at(deadline):
                item = await receive_or_end(rx)
                received = True
            if not received:
                counts.emitted += 1
                await send(tx, batch)
                batch, deadline = [], _INF
                continue
        elif item is not END:
            # A busy input never makes us wait: look at the clock now and then.
            since_clock += 1
            if batch and since_clock >= CLOCK_EVERY:
                since_clock = 0
                if current_time() >= deadline:
                    counts.emitted += 1
                    await send(tx, batch)
                    batch, deadline = [], _INF
        if item is END:
            break
        counts.received += 1
        if not batch:
            deadline = current_time() + max_age
        batch.append(item)
        if len(batch) >= n:
            counts.emitted += 1
            await send(tx, batch)
            batch, deadline = [], _INF
    if batch:
        counts.emitted += 1
        await send(tx, batch)


# -- time windows -------------------------------------------------------------------------


async def _emit(
    out: list[Window[Any]],
    tx: MemoryObjectSendStream[Any],
    counts: StageCounts,
    tokens: list[Any] | None = None,
    origin: float | None = None,
) -> None:
    """Send the closed windows; with ``tokens``, as pairs sharing those tokens.

    ``origin`` (processing time) is stamped on each window for its displays. While the
    hand-off has room and nobody is parked on it, the windows are appended to its buffer
    in slices, with no task switch and no coroutine per window (the fused loops' fast
    path, see _core/handoff.py); the consumer takes them as one batch. A parked consumer,
    a full buffer or a closed stream goes through ``send()``.
    """
    batch: list[Any] = out[:]
    out.clear()
    if origin is not None:
        for window in batch:
            window.origin = origin
    if tokens is not None and batch:
        share = _Share(tokens[:], len(batch))
        tokens.clear()
        batch = [(window, share) for window in batch]
    state, buffer, waiting, capacity = send_fast_path(tx)
    i, n = 0, len(batch)
    while i < n:
        room = 0 if waiting or not state.open_receive_channels else capacity - len(buffer)
        if room > 0:
            chunk = batch[i : i + room]
            buffer.extend(chunk)
            counts.emitted += len(chunk)
            i += len(chunk)
        else:
            counts.emitted += 1
            await send(tx, batch[i])
            i += 1


class _Share:
    """The tokens of a batch of windows, done once every window of the batch is."""

    __slots__ = ("_pending", "_tokens")

    def __init__(self, tokens: list[Any], windows: int) -> None:
        self._tokens = tokens
        self._pending = windows

    def done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            for token in self._tokens:
                token.done()


async def _run_event_time(
    make_engine: EngineFactory,
    cfg: Config,
    name: str,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    engine = make_engine(0.0, late_handler(cfg, ctx.stats, name), between_handler(ctx.stats))
    push, out = engine.push, engine.out
    time_fn = cfg.time
    counts = ctx.counts
    while True:
        item = poll(rx)
        if item is WAIT:
            item = await receive_or_end(rx)
        if item is END:
            break
        counts.received += 1
        try:
            push(item, time_fn(item))
        except Exception as exc:
            add_operator_note(exc, name)
            raise
        if out:
            await _emit(out, tx, counts)
    try:
        engine.flush(None)
    except Exception as exc:  # make_initial for an empty window, or on_late
        add_operator_note(exc, name)
        raise
    await _emit(out, tx, counts)


async def _run_processing_time(
    make_engine: EngineFactory,
    cfg: Config,
    name: str,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
    *,
    tracked: bool = False,
) -> None:
    counts = ctx.counts
    current_time = anyio.current_time
    now = current_time()
    origin = now
    engine = make_engine(now, late_handler(cfg, ctx.stats, name), between_handler(ctx.stats))
    push, advance, out = engine.push, engine.advance, engine.out
    since_clock = 0
    # Acknowledged sources (tracked=True) send (value, token) pairs. In processing time a
    # tumbling window closes before the item that closes it is added, and items arrive in
    # time order, so the windows emitted together hold exactly the items received before
    # that item: their tokens travel with that batch (see _core/acks.py).
    tokens: list[Any] = []
    try:
        while True:
            item = poll(rx)
            if item is WAIT:
                now = current_time()
                advance(now)
                if out:
                    # Sending may wait on downstream; time moves meanwhile.
                    await _emit(out, tx, counts, tokens if tracked else None, origin)
                    continue
                received = False
                with anyio.move_on_at(engine.deadline()):
                    item = await receive_or_end(rx)
                    received = True
                now = current_time()
                since_clock = 0
                if not received:
                    continue
            elif item is not END:
                since_clock += 1
                if since_clock >= CLOCK_EVERY:
                    since_clock = 0
                    now = current_time()
            if item is END:
                break
            counts.received += 1
            if tracked:
                item, token = item
                push(item, now)
                if out:
                    await _emit(out, tx, counts, tokens, origin)
                tokens.append(token)
            else:
                push(item, now)
                if out:
                    await _emit(out, tx, counts, None, origin)
            if out:
                now = current_time()
        # End of input: flush the open windows with their nominal ends.
        engine.flush(current_time())
    except Exception as exc:  # key, fold or make_initial raised
        add_operator_note(exc, name)
        raise
    await _emit(out, tx, counts, tokens if tracked else None, origin)


# -- the tasks, as values whose repr shows their configuration (see _core/staged.py) --------


@dataclass(frozen=True, slots=True, repr=False)
class ChunksByStep(StageTask):
    """The task of ``chunks(n, step=step)`` with ``step > n``."""

    n: int
    step: int

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await run_chunks_by_step(self.n, self.step, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class TimedChunks(StageTask):
    """The task of ``chunks(n, timeout=max_age)``."""

    n: int
    max_age: float

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await run_chunks(self.n, self.max_age, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class EventTimeWindows(StageTask):
    """The task of a time window with ``time=``; ``name`` is the operator's label."""

    name: str
    cfg: Config
    # The closure over the window's size and step, which the label already shows.
    make_engine: EngineFactory = field(repr=False)

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await _run_event_time(self.make_engine, self.cfg, self.name, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class ProcessingTimeWindows(StageTask):
    """The task of a time window in processing time; ``name`` is the operator's label."""

    name: str
    cfg: Config
    make_engine: EngineFactory = field(repr=False)
    tracked: bool = False

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await _run_processing_time(
            self.make_engine, self.cfg, self.name, rx, tx, ctx, tracked=self.tracked
        )


def staged(
    name: str, cfg: Config, make_engine: EngineFactory, *, trackable: bool = False
) -> Operator[Any, Any]:
    """The staged step; ``trackable``: it can carry acknowledgements (tumbling windows in
    processing time, see ``_run_processing_time``)."""
    if cfg.time is not None:
        by_event = EventTimeWindows(name, cfg, make_engine)
        step = StagedStep(name, by_event, capacity=EVENT_TIME_BUFFER, handoff=EMIT_HANDOFF)
        return Operator((step,))
    run = ProcessingTimeWindows(name, cfg, make_engine)
    tracked = replace(run, tracked=True) if trackable else None
    # No room here: ``handoff`` sizes both sides of a stage, and items waiting in front of
    # a processing-time window would be stamped late, when taken rather than on arrival.
    return Operator((StagedStep(name, run, tracked=tracked),))
