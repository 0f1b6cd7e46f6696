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

Both clocks share one engine per window shape (``grid_engine`` for tumbling and sliding
windows, ``session_engine`` for sessions, in ``_window/engines.py``): processing time is
event time in which the timestamp of an item is its arrival time and the watermark is the
clock. ``_window/drivers.py`` holds the two loops that feed an engine from either clock.

Counters
--------
In ``stream.stats()[...]`` (or ``run.stats()``) a window operator's ``received`` counts
items and ``emitted`` counts windows. Late items are counted as ``dropped["late"]`` when
there is no ``on_late``, and as ``dead_lettered`` (handed to a side output) when
``on_late`` took them. Hopping windows (``sliding_window`` with ``step > size``) count an
item in a gap between two windows as ``dropped["between_windows"]``. Items in windows plus
late and between-window items always equal the items received.

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

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, overload

from .._core.callables import check_int, check_number
from .._core.operator import GenStep, Operator, StagedStep, step_name
from .._core.stream import Stream
from ._window.config import Config
from ._window.drivers import CLOCK_EVERY as CLOCK_EVERY
from ._window.drivers import EVENT_TIME_BUFFER as EVENT_TIME_BUFFER
from ._window.drivers import (
    ChunksByStep,
    TimedChunks,
    chunks_by_count,
    chunks_by_step,
    staged,
)
from ._window.engines import Engine, grid_engine, session_engine
from ._window.model import Aggregate, SessionAggregate, Window

__all__ = [
    "Chunked",
    "Window",
    "Windowed",
    "chunks",
    "session_window",
    "sliding_window",
    "tumbling_window",
]

T = TypeVar("T")
K = TypeVar("K")
A = TypeVar("A")
X = TypeVar("X")
Y = TypeVar("Y")

#: The most windows one item may belong to in :func:`sliding_window` (``size / step``):
#: above it every item would cost that many folds, and ``size=1e12, step=1`` never ends.
MAX_WINDOWS_PER_ITEM = 10_000
#: The shortest window ``size`` and ``step`` in processing time, in seconds: a timer
#: cannot fire faster, and the window edges would fall below the clock's resolution.
MIN_PERIOD = 1e-6


class Windowed(Operator[Any, Any]):
    """The type of a window operator given no function of the items (no ``key=``,
    ``time=``, ``on_late=`` or ``aggregate=``): turns a ``Stream[T]`` into a
    ``Stream[Window[T]]``.

    Not generic, so the item type comes from the stream it is piped into (as for
    :class:`~anystream.SameOperator`): ``events | tumbling_window(1.0)`` is
    ``Stream[Window[Event]]`` in every checker.
    """

    __slots__ = ()

    def _pipe_into(self, stream: Stream[X], /) -> Stream[Window[X]]:
        return stream._extend(self._steps)

    def __ror__(
        self, other: Callable[[Stream[X]], Stream[Y]]
    ) -> Callable[[Stream[X]], Stream[Window[Y]]]:
        # ``fn | op``: a function from stream to stream, then this operator.
        return super().__ror__(other)


class Chunked(Operator[Any, Any]):
    """The type of ``chunks(n)``: turns a ``Stream[T]`` into a ``Stream[list[T]]``.

    Not generic, so the item type comes from the stream it is piped into.
    """

    __slots__ = ()

    def _pipe_into(self, stream: Stream[X], /) -> Stream[list[X]]:
        return stream._extend(self._steps)

    def __ror__(
        self, other: Callable[[Stream[X]], Stream[Y]]
    ) -> Callable[[Stream[X]], Stream[list[Y]]]:
        # ``fn | op``: a function from stream to stream, then this operator.
        return super().__ror__(other)


def _check_period(op: str, arg: str, value: float, cfg: Config) -> None:
    if cfg.time is None and value < MIN_PERIOD:
        raise ValueError(
            f"{op}(): {arg} must be at least {MIN_PERIOD:g} s in processing time, got "
            f"{arg}={value:g} (a timer cannot tick that fast; the limit is MIN_PERIOD)"
        )


def chunks(
    n: int,
    timeout: float | None = None,
    *,
    step: int | None = None,
    name: str | None = None,
) -> Chunked:
    """Emit the items in lists of ``n``; with ``timeout``, also when a list got old.

    ::

        input   -a-b-c-d-e-|            chunks(2)
        output  ---[a,b]-[c,d]-[e]|
        input   -a-b-------c---|        chunks(3, timeout=4 dashes)
        output  -----[a,b]-----[c]|
        input   -a-b-c-d-|              chunks(3, step=1)
        output  -----[a,b,c]-[b,c,d]-([c,d][d]|)
        input   -a-b-c-d-e-|            chunks(2, step=3)
        output  ---[a,b]-----[d,e]|     (c is in no list: counted as dropped)

    A list is emitted as soon as it holds ``n`` items or, with ``timeout``, once
    ``timeout`` seconds have passed since its *first* item arrived, whichever comes first.
    At end of input the last, shorter list is emitted (never an empty one).

    ``step`` (default ``n``) opens a new list every ``step`` items, as RxJS
    ``bufferCount(n, step)`` does: ``step < n`` gives overlapping lists (an item is in up
    to ``ceil(n / step)`` of them), ``step > n`` leaves gaps: the items between two lists
    belong to none and are counted as ``dropped["between_chunks"]``. At end of input every
    list still open is emitted in order, shorter (RxJS does the same; Kotlin
    ``windowed(n, step)`` drops them unless ``partialWindows = true``). ``step`` cannot be
    combined with ``timeout``.

    Without ``timeout`` (and with ``step <= n``) this is a per-item operator (fused into
    its neighbours' task); with a timeout or gaps, a staged operator.
    """
    size = check_int("chunks", "n", n, minimum=1)
    if step is not None:
        every = check_int("chunks", "step", step, minimum=1)
        if timeout is not None:
            raise ValueError(
                f"chunks(): step= cannot be combined with timeout=, got step={step!r} and "
                f"timeout={timeout!r} (use one or the other)"
            )
        if every != size:
            label = step_name("chunks", name, f"chunks({size}, step={every})")
            if every > size:
                return Chunked((StagedStep(label, ChunksByStep(size, every)),))

            def make_step(upstream: AsyncIterator[Any]) -> AsyncIterator[list[Any]]:
                return chunks_by_step(upstream, size, every)

            return Chunked((GenStep(label, make_step),))
    if timeout is None:

        def make(upstream: AsyncIterator[Any]) -> AsyncIterator[list[Any]]:
            return chunks_by_count(upstream, size)

        return Chunked((GenStep(step_name("chunks", name, f"chunks({size})"), make),))
    period = check_number("chunks", "timeout", timeout)
    name = step_name("chunks", name, f"chunks({size}, timeout={period:g})")
    return Chunked((StagedStep(name, TimedChunks(size, period)),))


@overload
def tumbling_window(
    size: float,
    *,
    key: None = ...,
    time: None = ...,
    allowed_lateness: float = ...,
    on_late: None = ...,
    aggregate: None = ...,
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Windowed: ...
@overload
def tumbling_window(
    size: float,
    *,
    key: Callable[[T], K],
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: Aggregate[A, T],
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T, K, A]]: ...
@overload
def tumbling_window(
    size: float,
    *,
    key: Callable[[T], K],
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: None = ...,
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T, K]]: ...
@overload
def tumbling_window(
    size: float,
    *,
    key: None = ...,
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: Aggregate[A, T],
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T, None, A]]: ...
@overload
def tumbling_window(
    size: float,
    *,
    key: None = ...,
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: None = ...,
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T]]: ...
def tumbling_window(
    size: float,
    *,
    key: Callable[[T], object] | None = None,
    time: Callable[[T], float] | None = None,
    allowed_lateness: float = 0,
    on_late: Callable[[T], object] | None = None,
    aggregate: Aggregate[Any, Any] | None = None,
    emit_empty: bool = False,
    name: str | None = None,
) -> Operator[T, Window[T, Any, Any]]:
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
    cfg = Config(
        "tumbling_window",
        key=key,
        time=time,
        allowed_lateness=allowed_lateness,
        on_late=on_late,
        aggregate=aggregate,
        emit_empty=emit_empty,
    )

    _check_period("tumbling_window", "size", length, cfg)

    def make(origin: float, late: Callable[[Any], None], between: Callable[[Any], None]) -> Engine:
        return grid_engine(cfg, length, length, origin, late)

    return Windowed(
        staged(
            step_name("tumbling_window", name, f"tumbling_window({length:g})"),
            cfg,
            make,
            trackable=True,
        ).steps
    )


@overload
def sliding_window(
    size: float,
    step: float,
    *,
    key: None = ...,
    time: None = ...,
    allowed_lateness: float = ...,
    on_late: None = ...,
    aggregate: None = ...,
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Windowed: ...
@overload
def sliding_window(
    size: float,
    step: float,
    *,
    key: Callable[[T], K],
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: Aggregate[A, T],
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T, K, A]]: ...
@overload
def sliding_window(
    size: float,
    step: float,
    *,
    key: Callable[[T], K],
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: None = ...,
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T, K]]: ...
@overload
def sliding_window(
    size: float,
    step: float,
    *,
    key: None = ...,
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: Aggregate[A, T],
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T, None, A]]: ...
@overload
def sliding_window(
    size: float,
    step: float,
    *,
    key: None = ...,
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: None = ...,
    emit_empty: bool = ...,
    name: str | None = ...,
) -> Operator[T, Window[T]]: ...
def sliding_window(
    size: float,
    step: float,
    *,
    key: Callable[[T], object] | None = None,
    time: Callable[[T], float] | None = None,
    allowed_lateness: float = 0,
    on_late: Callable[[T], object] | None = None,
    aggregate: Aggregate[Any, Any] | None = None,
    emit_empty: bool = False,
    name: str | None = None,
) -> Operator[T, Window[T, Any, Any]]:
    """Emit, every ``step`` seconds, a :class:`Window` of the last ``size`` seconds.

    ::

        input   -a---b---c---|
        output  -----[a]---[a,b]---[b,c]-[c]|   (size = 8, step = 4 dashes)

    Windows ``[k*step, k*step + size)`` (shifted to the start of iteration in processing
    time), so each item is in ``ceil(size / step)`` windows, at most
    ``MAX_WINDOWS_PER_ITEM`` (10,000; a larger ``size / step`` is refused). Windows that
    started before time 0 (before iteration, in processing time) exist too, so every item
    is in the same number of windows. In processing time ``size`` and ``step`` must be at
    least ``MIN_PERIOD`` (1e-6 s).

    ``step > size`` gives *hopping* windows with gaps (RxJS ``bufferTime(size, step)``)::

        input   -a-b-c-d-e-f-|
        output  ---[a]---[c]---[e]|     (size = 2, step = 4 dashes: b, d, f in gaps)

    An item that arrives (or, in event time, is stamped) in a gap belongs to no window: it
    is dropped and counted as ``dropped["between_windows"]``, never silently.

    Everything else is as for :func:`tumbling_window`. In event time an item is either
    added to *all* its windows or, when the earliest of them has already closed, late as
    a whole: no window ever holds part of what it should.
    """
    length = check_number("sliding_window", "size", size)
    stride = check_number("sliding_window", "step", step)
    if length / stride > MAX_WINDOWS_PER_ITEM:
        raise ValueError(
            f"sliding_window(): each item would be in {length / stride:.3g} windows "
            f"(size={size:g} / step={step:g}); at most {MAX_WINDOWS_PER_ITEM:,} are allowed "
            "(MAX_WINDOWS_PER_ITEM): use a larger step or a smaller size"
        )
    cfg = Config(
        "sliding_window",
        key=key,
        time=time,
        allowed_lateness=allowed_lateness,
        on_late=on_late,
        aggregate=aggregate,
        emit_empty=emit_empty,
    )

    _check_period("sliding_window", "size", length, cfg)
    _check_period("sliding_window", "step", stride, cfg)

    def make(origin: float, late: Callable[[Any], None], between: Callable[[Any], None]) -> Engine:
        return grid_engine(cfg, length, stride, origin, late, between)

    return Windowed(
        staged(
            step_name("sliding_window", name, f"sliding_window({length:g}, {stride:g})"), cfg, make
        ).steps
    )


@overload
def session_window(
    gap: float,
    *,
    key: None = ...,
    time: None = ...,
    allowed_lateness: float = ...,
    on_late: None = ...,
    aggregate: None = ...,
    name: str | None = ...,
) -> Windowed: ...
@overload
def session_window(
    gap: float,
    *,
    key: Callable[[T], K],
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: SessionAggregate[A, T],
    name: str | None = ...,
) -> Operator[T, Window[T, K, A]]: ...
@overload
def session_window(
    gap: float,
    *,
    key: Callable[[T], K],
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: None = ...,
    name: str | None = ...,
) -> Operator[T, Window[T, K]]: ...
@overload
def session_window(
    gap: float,
    *,
    key: None = ...,
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: SessionAggregate[A, T],
    name: str | None = ...,
) -> Operator[T, Window[T, None, A]]: ...
@overload
def session_window(
    gap: float,
    *,
    key: None = ...,
    time: Callable[[T], float] | None = ...,
    allowed_lateness: float = ...,
    on_late: Callable[[T], object] | None = ...,
    aggregate: None = ...,
    name: str | None = ...,
) -> Operator[T, Window[T]]: ...
def session_window(
    gap: float,
    *,
    key: Callable[[T], object] | None = None,
    time: Callable[[T], float] | None = None,
    allowed_lateness: float = 0,
    on_late: Callable[[T], object] | None = None,
    aggregate: SessionAggregate[Any, Any] | None = None,
    name: str | None = None,
) -> Operator[T, Window[T, Any, Any]]:
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
    cfg = Config(
        "session_window",
        key=key,
        time=time,
        allowed_lateness=allowed_lateness,
        on_late=on_late,
        aggregate=aggregate,
        emit_empty=False,
        session=True,
    )

    def make(origin: float, late: Callable[[Any], None], between: Callable[[Any], None]) -> Engine:
        return session_engine(cfg, length, late)

    return Windowed(
        staged(step_name("session_window", name, f"session_window({length:g})"), cfg, make).steps
    )
