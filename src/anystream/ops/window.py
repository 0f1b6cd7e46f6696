"""Windowing operators: group items by count or by time into lists and :class:`Window` objects.

Two clocks
----------
*Processing time* (no ``time=``): an item belongs to the window in which it *arrives* at
the operator. Windows are aligned to the moment iteration starts and are closed by the
clock, so these operators are staged (a task with a timer): a window is emitted when its
time is up even if no further item ever arrives.

*Event time* (``time=`` an extractor): an item belongs to the window of the timestamp
``time(item)`` returns. Windows are aligned to multiples of ``size`` (of ``step`` for
sliding windows) counted from 0, and are closed by the *watermark*: the largest event time
seen so far (across all keys) minus ``allowed_lateness``. A window is emitted as soon as the
watermark reaches its end, and windows are emitted in order of their end. An item whose
window has already closed is *late*: it is passed to ``on_late`` or, without one, dropped;
either way it is counted (see "Counters" below). Event time needs no clock at all.

Both clocks share one engine per window shape (``_grid_engine`` for tumbling and sliding
windows, ``_session_engine`` for sessions): processing time is event time in which the
timestamp of an item is its arrival time and the watermark is the clock.

Counters
--------
In ``stream.stats()[...]`` (or ``run.stats()``) a window operator's ``received`` counts
items and ``emitted`` counts windows. Late items are counted as ``dropped["late"]`` when
there is no ``on_late``, and as ``dead_lettered`` (handed to a side output) when
``on_late`` took them. Items in windows plus late items always equal the items received.

Why event-time windows are a staged operator
--------------------------------------------
They need no task for their timing, and a generator step would be a little faster, but a
generator step has no access to its operator's counters, and a late item must never be
lost silently. So they run as a staged step fed by an internal buffer of
``EVENT_TIME_BUFFER`` items: the upstream fills it with ``send_nowait()`` and the window
task drains it with ``receive_nowait()``, two task switches per buffer-full rather than
two per item. Tumbling event-time windows with an incremental aggregate have their own
per-item path (the window of the previous item is cached): 2.5 to 2.9 million events/s on
asyncio on the development machine, above the 2 million the performance issue asks for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
from anyio import EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_callable, check_int, check_number, check_sync_callable
from .._core.errors import add_operator_note
from .._core.handoff import send
from .._core.operator import GenStep, Operator, StageContext, StagedStep
from .._core.stats import OpStats

__all__ = ["Window", "chunks", "session_window", "sliding_window", "tumbling_window"]

T = TypeVar("T")

#: How many items a window stage takes from its buffer without a wait before it reads
#: the clock again. Items taken in one batch are stamped with the same arrival time;
#: reading the clock per item would cost more than the rest of the hand-off.
CLOCK_EVERY = 64

#: Size of the internal buffer in front of an event-time window stage (see module doc).
EVENT_TIME_BUFFER = 256

_INF = math.inf


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


# -- chunks -------------------------------------------------------------------------------


def chunks(n: int, timeout: float | None = None) -> Operator[T, list[T]]:
    """Emit the items in lists of ``n``; with ``timeout``, also when a list got old.

    ::

        input   -a-b-c-d-e-|            chunks(2)
        output  ---[a,b]-[c,d]-[e]|
        input   -a-b-------c---|        chunks(3, timeout=4 dashes)
        output  -----[a,b]-----[c]|

    A list is emitted as soon as it holds ``n`` items or, with ``timeout``, once
    ``timeout`` seconds have passed since its *first* item arrived, whichever comes first.
    At end of input the last, shorter list is emitted (never an empty one).

    Without ``timeout`` this is a per-item operator (fused into its neighbours' task);
    with it, a staged operator with a timer.
    """
    size = check_int("chunks", "n", n, minimum=1)
    if timeout is None:

        def make(upstream: AsyncIterator[Any]) -> AsyncIterator[list[Any]]:
            return _chunks_by_count(upstream, size)

        return Operator((GenStep(f"chunks({size})", make),))
    period = check_number("chunks", "timeout", timeout)
    name = f"chunks({size}, timeout={period:g})"
    return Operator((StagedStep(name, functools.partial(_run_chunks, size, period)),))


async def _chunks_by_count(upstream: AsyncIterator[Any], n: int) -> AsyncIterator[list[Any]]:
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


async def _run_chunks(
    n: int,
    max_age: float,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    counts = ctx.counts
    current_time = anyio.current_time
    receive_nowait = rx.receive_nowait
    batch: list[Any] = []
    deadline = _INF
    since_clock = 0

    while True:
        try:
            item = receive_nowait()
        except WouldBlock:
            if batch and current_time() >= deadline:
                counts[1] += 1
                await send(tx, batch)
                batch, deadline = [], _INF
            received = False
            with anyio.move_on_at(deadline):
                try:
                    item = await rx.receive()
                except EndOfStream:
                    break
                received = True
            if not received:
                counts[1] += 1
                await send(tx, batch)
                batch, deadline = [], _INF
                continue
        except EndOfStream:
            break
        else:
            # A busy input never makes us wait: look at the clock now and then.
            since_clock += 1
            if batch and since_clock >= CLOCK_EVERY:
                since_clock = 0
                if current_time() >= deadline:
                    counts[1] += 1
                    await send(tx, batch)
                    batch, deadline = [], _INF
        counts[0] += 1
        if not batch:
            deadline = current_time() + max_age
        batch.append(item)
        if len(batch) >= n:
            counts[1] += 1
            await send(tx, batch)
            batch, deadline = [], _INF
    if batch:
        counts[1] += 1
        await send(tx, batch)


# -- argument checks ----------------------------------------------------------------------


class _Config:
    """Validated arguments shared by the three time-window operators."""

    __slots__ = ("aggregate", "emit_empty", "key", "lateness", "merge", "on_late", "time")

    def __init__(
        self,
        op: str,
        *,
        key: Any,
        time: Any,
        allowed_lateness: Any,
        on_late: Any,
        aggregate: Any,
        emit_empty: Any,
        session: bool = False,
    ) -> None:
        if key is not None:
            check_sync_callable(op, "key", key, async_alternative="map_async() before the window")
        if time is not None:
            check_sync_callable(op, "time", time, async_alternative="map_async() before the window")
        lateness = check_number(op, "allowed_lateness", allowed_lateness, allow_zero=True)
        if on_late is not None:
            check_sync_callable(op, "on_late", on_late, async_alternative="a plain function")
        if time is None and lateness:
            raise ValueError(
                f"{op}(): allowed_lateness applies to event-time windows only; "
                "pass time= (an event-time extractor) or leave allowed_lateness at 0"
            )
        if time is None and on_late is not None:
            raise ValueError(
                f"{op}(): on_late applies to event-time windows only (no item is ever late "
                "in processing time); pass time= or drop on_late"
            )
        merge = None
        if aggregate is not None:
            sizes = (2, 3) if session else (2,)
            shape = "(make_initial, fold[, merge])" if session else "(make_initial, fold)"
            if not isinstance(aggregate, tuple | list) or len(aggregate) not in sizes:
                raise TypeError(f"{op}(): aggregate must be a tuple {shape}, got {aggregate!r:.60}")
            check_callable(op, "aggregate[0] (make_initial)", aggregate[0])
            check_callable(op, "aggregate[1] (fold)", aggregate[1])
            if len(aggregate) == 3:
                check_callable(op, "aggregate[2] (merge)", aggregate[2])
                merge = aggregate[2]
            elif session and time is not None:
                raise TypeError(
                    f"{op}(): in event time two sessions that an item bridges merge, which "
                    "needs a way to merge two aggregates: pass aggregate=(make_initial, "
                    "fold, merge) with merge(acc1, acc2) -> acc"
                )
            aggregate = (aggregate[0], aggregate[1])
        if not isinstance(emit_empty, bool):
            raise TypeError(f"{op}(): emit_empty must be True or False, got {emit_empty!r}")
        if emit_empty and (key is not None or time is not None):
            raise ValueError(
                f"{op}(): emit_empty applies to processing-time windows without a key "
                "(with key= or time= there is no one window per period to emit empty)"
            )
        self.key = key
        self.time = time
        self.lateness = lateness
        self.on_late = on_late
        self.aggregate = aggregate
        self.merge = merge
        self.emit_empty = emit_empty


# -- engines ------------------------------------------------------------------------------


class _Engine:
    """The closures of one run's window state (built fresh per run).

    ``push(item, t)`` adds an item with timestamp ``t`` (it may close windows: the
    watermark follows the largest timestamp), ``advance(w)`` moves the watermark to at
    least ``w`` (the clock, in processing time), ``flush(now)`` closes everything at end
    of input, ``deadline()`` is the end of the earliest open window. Closed windows are
    appended to ``out`` in order of their end; the driver sends and clears it.
    """

    __slots__ = ("advance", "deadline", "flush", "out", "push")

    def __init__(
        self,
        push: Callable[[Any, float], None],
        advance: Callable[[float], None],
        flush: Callable[[float | None], None],
        deadline: Callable[[], float],
        out: list[Window[Any]],
    ) -> None:
        self.push = push
        self.advance = advance
        self.flush = flush
        self.deadline = deadline
        self.out = out


def _late_handler(cfg: _Config, stats: OpStats, name: str) -> Callable[[Any], None]:
    on_late = cfg.on_late
    if on_late is None:

        def drop(item: Any) -> None:
            stats.drop("late")

        return drop

    def divert(item: Any) -> None:
        stats.dead_lettered += 1
        try:
            on_late(item)
        except Exception as exc:
            add_operator_note(exc, name)
            raise

    return divert


def _grid_engine(
    cfg: _Config,
    size: float,
    step: float,
    origin: float,
    late: Callable[[Any], None],
) -> _Engine:
    """Tumbling (``step == size``) and sliding windows ``[origin + k*step, ... + size)``."""
    out: list[Window[Any]] = []
    # rows[k][key] = [items list or accumulator, count]; k is the window's grid index.
    rows: dict[float, dict[Any, list[Any]]] = {}
    key_fn = cfg.key
    lateness = cfg.lateness
    aggregating = cfg.aggregate is not None
    make_initial, fold = cfg.aggregate if cfg.aggregate is not None else (list, None)
    emit_empty = cfg.emit_empty
    tumbling = step == size
    # Windows an item belongs to: ceil(size / step) consecutive grid indexes.
    span = math.ceil(size / step)
    append = out.append
    max_t = -_INF
    wm = -_INF
    next_end = _INF

    def end_of(k: float) -> float:
        return origin + k * step + size

    # The window of the previous item, cached by push_tumbling (see there).
    cur_k: float | None = None
    cur: list[Any] = []

    # With emit_empty, the next grid window to emit (processing time, no key only).
    grid_k: float = 0.0
    if emit_empty:
        grid_k = float(-span)
        while end_of(grid_k) <= origin:
            grid_k += 1
        next_end = end_of(grid_k)

    def emit(k: float, row: dict[Any, list[Any]] | None) -> None:
        start = origin + k * step
        end = start + size
        if row is None:
            if aggregating:
                append(Window(start, end, [], None, make_initial(), 0))
            else:
                append(Window(start, end, [], None, None, 0))
            return
        for key, state in row.items():
            if aggregating:
                append(Window(start, end, [], key, state[0], state[1]))
            else:
                append(Window(start, end, state[0], key, None, state[1]))

    def close(w: float) -> None:
        nonlocal next_end, grid_k, cur_k
        cur_k = None  # the cached window may be among those closed
        if emit_empty:
            while end_of(grid_k) <= w:
                emit(grid_k, rows.pop(grid_k, None))
                grid_k += 1
            next_end = end_of(grid_k)
            return
        due = [k for k in rows if end_of(k) <= w]
        if len(due) > 1:
            due.sort()
        for k in due:
            emit(k, rows.pop(k))
        next_end = end_of(min(rows)) if rows else _INF

    def push(item: Any, t: float) -> None:
        nonlocal max_t, wm, next_end
        behind = t < max_t
        if t > max_t:
            max_t = t
            wm = t - lateness
            if wm >= next_end:
                close(wm)
        k = (t - origin) // step
        key = None if key_fn is None else key_fn(item)
        if tumbling:
            if behind and end_of(k) <= wm:
                late(item)
                return
            row = rows.get(k)
            if row is None:
                rows[k] = row = {}
                end = end_of(k)
                if end < next_end:
                    next_end = end
            state = row.get(key)
            if state is None:
                row[key] = state = [make_initial(), 0]
            if aggregating:
                state[0] = fold(state[0], item)  # type: ignore[misc]
            else:
                state[0].append(item)
            state[1] += 1
            return
        # Sliding: every k with start(k) <= t < end(k); complete or late, never partial.
        first = k - span + 1
        while end_of(first) <= t:
            first += 1
        if behind and end_of(first) <= wm:
            late(item)
            return
        j = first
        while j <= k:
            row = rows.get(j)
            if row is None:
                rows[j] = row = {}
                end = end_of(j)
                if end < next_end:
                    next_end = end
            state = row.get(key)
            if state is None:
                row[key] = state = [make_initial(), 0]
            if aggregating:
                state[0] = fold(state[0], item)  # type: ignore[misc]
            else:
                state[0].append(item)
            state[1] += 1
            j += 1

    # The common case gets its own push: tumbling, no key. Events mostly arrive in
    # order, so the window of the previous item is cached and most items cost one
    # comparison, one fold and one increment (the performance issue wants millions of
    # events per second here).
    def push_tumbling(item: Any, t: float) -> None:
        nonlocal max_t, wm, next_end, cur_k, cur
        if t >= max_t:
            if t > max_t:
                max_t = t
                wm = t - lateness
                if wm >= next_end:
                    close(wm)
            k = (t - origin) // step
        else:
            k = (t - origin) // step
            if end_of(k) <= wm:
                late(item)
                return
        if k != cur_k:
            row = rows.get(k)
            if row is None:
                rows[k] = row = {}
                end = end_of(k)
                if end < next_end:
                    next_end = end
            state = row.get(None)
            if state is None:
                row[None] = state = [make_initial(), 0]
            cur_k, cur = k, state
        if aggregating:
            cur[0] = fold(cur[0], item)  # type: ignore[misc]
        else:
            cur[0].append(item)
        cur[1] += 1

    def advance(w: float) -> None:
        nonlocal max_t, wm
        if w > max_t:
            max_t = w
            wm = w - lateness
        if wm >= next_end:
            close(wm)

    def flush(now: float | None) -> None:
        nonlocal grid_k, cur_k
        if emit_empty and now is not None:
            # Every window that has started, empty or not, keeps its nominal end.
            while origin + grid_k * step <= now:
                emit(grid_k, rows.pop(grid_k, None))
                grid_k += 1
        for k in sorted(rows):
            emit(k, rows[k])
        rows.clear()
        cur_k = None

    def deadline() -> float:
        return next_end

    if tumbling and key_fn is None:
        return _Engine(push_tumbling, advance, flush, deadline, out)
    return _Engine(push, advance, flush, deadline, out)


def _session_engine(cfg: _Config, gap: float, late: Callable[[Any], None]) -> _Engine:
    """Session windows per key: a session ends ``gap`` after its last item."""
    out: list[Window[Any]] = []
    # sessions[key] = list of [items or accumulator, count, first t, last t]
    sessions: dict[Any, list[list[Any]]] = {}
    key_fn = cfg.key
    lateness = cfg.lateness
    aggregating = cfg.aggregate is not None
    make_initial, fold = cfg.aggregate if cfg.aggregate is not None else (list, None)
    merge = cfg.merge
    max_t = -_INF
    wm = -_INF
    # A lower bound of the earliest session end: sessions only ever get longer, so it
    # may be stale (too early), and close() then recomputes it.
    next_end = _INF

    def emit_all(due: list[tuple[Any, list[Any]]]) -> None:
        due.sort(key=lambda pair: (pair[1][3] + gap, pair[1][2]))
        for key, s in due:
            end = s[3] + gap
            if aggregating:
                out.append(Window(s[2], end, [], key, s[0], s[1]))
            else:
                out.append(Window(s[2], end, s[0], key, None, s[1]))

    def close(w: float) -> None:
        nonlocal next_end
        due: list[tuple[Any, list[Any]]] = []
        lowest = _INF
        for key in list(sessions):
            open_ = sessions[key]
            keep = []
            for s in open_:
                end = s[3] + gap
                if end <= w:
                    due.append((key, s))
                else:
                    keep.append(s)
                    if end < lowest:
                        lowest = end
            if keep:
                sessions[key] = keep
            else:
                del sessions[key]
        next_end = lowest
        if due:
            emit_all(due)

    def push(item: Any, t: float) -> None:
        nonlocal max_t, wm, next_end
        behind = t < max_t
        if t > max_t:
            max_t = t
            wm = t - lateness
            if wm >= next_end:
                close(wm)
        key = None if key_fn is None else key_fn(item)
        open_ = sessions.get(key)
        if open_ is None:
            open_ = sessions[key] = []
        hits = [s for s in open_ if s[2] - gap < t < s[3] + gap]
        if not hits:
            if behind and t + gap <= wm:
                if not open_:
                    del sessions[key]
                late(item)
                return
            state: list[Any] = [make_initial(), 0, t, t]
            open_.append(state)
            if t + gap < next_end:
                next_end = t + gap
        else:
            state = hits[0]
            if len(hits) > 1:
                # The item bridges sessions: merge them, in order of their start.
                hits.sort(key=lambda s: s[2])
                state = hits[0]
                for other in hits[1:]:
                    if aggregating:
                        state[0] = merge(state[0], other[0])  # type: ignore[misc]
                    else:
                        state[0].extend(other[0])
                    state[1] += other[1]
                    state[3] = max(state[3], other[3])
                    open_.remove(other)
            if t < state[2]:
                state[2] = t
            if t > state[3]:
                state[3] = t
        if aggregating:
            state[0] = fold(state[0], item)  # type: ignore[misc]
        else:
            state[0].append(item)
        state[1] += 1

    def advance(w: float) -> None:
        nonlocal max_t, wm
        if w > max_t:
            max_t = w
            wm = w - lateness
        if wm >= next_end:
            close(wm)

    def flush(now: float | None) -> None:
        due = [(key, s) for key, open_ in sessions.items() for s in open_]
        sessions.clear()
        emit_all(due)

    def deadline() -> float:
        return next_end

    return _Engine(push, advance, flush, deadline, out)


EngineFactory = Callable[[float, Callable[[Any], None]], _Engine]


# -- drivers ------------------------------------------------------------------------------


async def _emit(
    out: list[Window[Any]],
    tx: MemoryObjectSendStream[Any],
    counts: list[int],
    tokens: list[Any] | None = None,
) -> None:
    """Send the closed windows; with ``tokens``, as pairs sharing those tokens."""
    batch = out[:]
    out.clear()
    share = None
    if tokens is not None and batch:
        share = _Share(tokens[:], len(batch))
        tokens.clear()
    for window in batch:
        counts[1] += 1
        await send(tx, window if share is None else (window, share))


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
    cfg: _Config,
    name: str,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
) -> None:
    engine = make_engine(0.0, _late_handler(cfg, ctx.stats, name))
    push, out = engine.push, engine.out
    time_fn = cfg.time
    counts = ctx.counts
    receive_nowait = rx.receive_nowait
    while True:
        try:
            item = receive_nowait()
        except WouldBlock:
            try:
                item = await rx.receive()
            except EndOfStream:
                break
        except EndOfStream:
            break
        counts[0] += 1
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
    cfg: _Config,
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
    engine = make_engine(now, _late_handler(cfg, ctx.stats, name))
    push, advance, out = engine.push, engine.advance, engine.out
    receive_nowait = rx.receive_nowait
    since_clock = 0
    # Acknowledged sources (tracked=True) send (value, token) pairs. In processing time a
    # tumbling window closes before the item that closes it is added, and items arrive in
    # time order, so the windows emitted together hold exactly the items received before
    # that item: their tokens travel with that batch (see _core/acks.py).
    tokens: list[Any] = []
    try:
        while True:
            try:
                item = receive_nowait()
            except WouldBlock:
                now = current_time()
                advance(now)
                if out:
                    # Sending may wait on downstream; time moves meanwhile.
                    await _emit(out, tx, counts, tokens if tracked else None)
                    continue
                received = False
                with anyio.move_on_at(engine.deadline()):
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
            counts[0] += 1
            if tracked:
                item, token = item
                push(item, now)
                if out:
                    await _emit(out, tx, counts, tokens)
                tokens.append(token)
            else:
                push(item, now)
                if out:
                    await _emit(out, tx, counts, None)
            if out:
                now = current_time()
        # End of input: flush the open windows with their nominal ends.
        engine.flush(current_time())
    except Exception as exc:  # key, fold or make_initial raised
        add_operator_note(exc, name)
        raise
    await _emit(out, tx, counts, tokens if tracked else None)


def _staged(
    name: str, cfg: _Config, make_engine: EngineFactory, *, trackable: bool = False
) -> Operator[Any, Any]:
    """The staged step; ``trackable``: it can carry acknowledgements (tumbling windows in
    processing time, see ``_run_processing_time``)."""
    if cfg.time is not None:
        run = functools.partial(_run_event_time, make_engine, cfg, name)
        return Operator((StagedStep(name, run, capacity=EVENT_TIME_BUFFER),))
    run = functools.partial(_run_processing_time, make_engine, cfg, name)
    tracked = functools.partial(run, tracked=True) if trackable else None
    return Operator((StagedStep(name, run, tracked=tracked),))


# -- public window operators --------------------------------------------------------------


def tumbling_window(
    size: float,
    *,
    key: Callable[[T], Any] | None = None,
    time: Callable[[T], float] | None = None,
    allowed_lateness: float = 0,
    on_late: Callable[[T], object] | None = None,
    aggregate: Aggregate | None = None,
    emit_empty: bool = False,
) -> Operator[T, Window[T]]:
    """Emit, every ``size`` seconds, a :class:`Window` of the items that fell into it.

    ::

        input   --a-b------c--------d-|
        output  ------[a,b]----[c]----[d]|      (size = 4 dashes)

    Windows ``[start, end)`` of ``size`` seconds that do not overlap.

    Processing time (the default): aligned to the moment iteration starts; an item
    belongs to the window in which it arrives at this operator (one arriving exactly on a
    boundary may land on either side). A window is emitted when its time is up, even if
    no further item ever arrives; empty windows are skipped unless ``emit_empty=True``
    (only without ``key``). At end of input the partial window is flushed with its nominal
    ``end``.

    Event time (``time=``): see the module docstring: windows aligned to multiples of
    ``size`` from 0, closed by the watermark (largest ``time(item)`` seen minus
    ``allowed_lateness``), emitted in order of end; late items go to ``on_late`` or are
    dropped, and are counted either way. At end of input every open window is flushed.

    ``key=``: one window per key and period (``window.key``); windows ending together are
    emitted in the order their keys first appeared. ``aggregate=(make_initial, fold)``:
    keep only ``fold(acc, item)`` per window (``window.value``; ``items`` stays empty and
    ``count`` is still counted).
    """
    length = check_number("tumbling_window", "size", size)
    cfg = _Config(
        "tumbling_window",
        key=key,
        time=time,
        allowed_lateness=allowed_lateness,
        on_late=on_late,
        aggregate=aggregate,
        emit_empty=emit_empty,
    )

    def make(origin: float, late: Callable[[Any], None]) -> _Engine:
        return _grid_engine(cfg, length, length, origin, late)

    return _staged(f"tumbling_window({length:g})", cfg, make, trackable=True)


def sliding_window(
    size: float,
    step: float,
    *,
    key: Callable[[T], Any] | None = None,
    time: Callable[[T], float] | None = None,
    allowed_lateness: float = 0,
    on_late: Callable[[T], object] | None = None,
    aggregate: Aggregate | None = None,
    emit_empty: bool = False,
) -> Operator[T, Window[T]]:
    """Emit, every ``step`` seconds, a :class:`Window` of the last ``size`` seconds.

    ::

        input   -a---b---c---|
        output  -----[a]---[a,b]---[b,c]-[c]|   (size = 8, step = 4 dashes)

    Windows ``[k*step, k*step + size)`` (shifted to the start of iteration in processing
    time), so each item is in ``ceil(size / step)`` windows; ``step`` must not exceed
    ``size`` (a gap between windows would silently lose items). Windows that started
    before time 0 (before iteration, in processing time) exist too, so every item is in
    the same number of windows.

    Everything else is as for :func:`tumbling_window`. In event time an item is either
    added to *all* its windows or, when the earliest of them has already closed, late as
    a whole: no window ever holds part of what it should.
    """
    length = check_number("sliding_window", "size", size)
    stride = check_number("sliding_window", "step", step)
    if stride > length:
        raise ValueError(
            f"sliding_window(): step must be <= size, got step={step} > size={size} "
            "(items between windows would belong to none)"
        )
    cfg = _Config(
        "sliding_window",
        key=key,
        time=time,
        allowed_lateness=allowed_lateness,
        on_late=on_late,
        aggregate=aggregate,
        emit_empty=emit_empty,
    )

    def make(origin: float, late: Callable[[Any], None]) -> _Engine:
        return _grid_engine(cfg, length, stride, origin, late)

    return _staged(f"sliding_window({length:g}, {stride:g})", cfg, make)


def session_window(
    gap: float,
    *,
    key: Callable[[T], Any] | None = None,
    time: Callable[[T], float] | None = None,
    allowed_lateness: float = 0,
    on_late: Callable[[T], object] | None = None,
    aggregate: SessionAggregate | None = None,
) -> Operator[T, Window[T]]:
    """Emit a :class:`Window` per burst of items: a session ends ``gap`` after its last item.

    ::

        input   -a-b-----------c-d-|
        output  ---------[a,b]------[c,d]|      (gap = 4 dashes)

    A session's window is ``[time of its first item, time of its last item + gap)``.
    In processing time it is emitted ``gap`` seconds after its last item arrived (or at
    end of input). In event time it is emitted when the watermark reaches its end, and
    two sessions that an item bridges merge into one (items in the order of the sessions'
    starts); with ``aggregate`` that needs a third function,
    ``aggregate=(make_initial, fold, merge)``. An item that fits no open session and
    whose own session would already be closed is late.

    ``key``, ``time``, ``allowed_lateness``, ``on_late`` and ``aggregate`` are as for
    :func:`tumbling_window`.
    """
    length = check_number("session_window", "gap", gap)
    cfg = _Config(
        "session_window",
        key=key,
        time=time,
        allowed_lateness=allowed_lateness,
        on_late=on_late,
        aggregate=aggregate,
        emit_empty=False,
        session=True,
    )

    def make(origin: float, late: Callable[[Any], None]) -> _Engine:
        return _session_engine(cfg, length, late)

    return _staged(f"session_window({length:g})", cfg, make)
