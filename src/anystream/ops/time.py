"""Time-based operators: debounce, throttle, sample, timeout, delay, rate_limit.

Each one needs a clock, so each is a staged operator: a task owned by the runner that
reads its input from a memory object stream. Waiting for "the next item or a deadline,
whichever comes first" is ``move_on_at(deadline)`` around ``rx.receive()``, which is
cancel-safe (an item is never lost when the deadline wins). No timeout ever wraps the
``anext()`` of a generator (docs/concepts.md).

Marble sketches in the docstrings use one character per time frame; ``|`` is the end of
input. Where the semantics leave a choice, these operators follow RxJS (``debounceTime``,
``throttleTime``, ``sampleTime``, ``timeout``, ``delay``) and say so.

Items an operator deliberately leaves out are counted in its stats: ``debounce`` counts
superseded items as ``dropped["debounced"]``, ``throttle`` as ``dropped["throttled"]``,
``sample`` as ``dropped["sampled"]``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
from anyio import EndOfStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_int, check_number
from .._core.errors import add_operator_note
from .._core.handoff import END, receive_or_end, send
from .._core.operator import SameOperator, StageContext, StagedStep, step_name
from .._core.poll import WAIT, poll
from .._core.staged import StageTask
from .._core.stats import StageCounts
from .._core.stream import Stream
from .transform import _forward, _open_inner

__all__ = ["debounce", "delay", "rate_limit", "sample", "throttle", "timeout"]

T = TypeVar("T")

_INF = math.inf
_NOTHING: Any = object()

Rx = MemoryObjectReceiveStream[Any]
Tx = MemoryObjectSendStream[Any]


#: Scheduler passes an operator whose deadline fired waits for an item due at the same
#: instant (see ``_receive_until``): enough for an item sent by the task right upstream.
TIE_PASSES = 3


async def _receive_until(rx: Rx, deadline: float) -> Any:
    """The next item, ``_NOTHING`` if ``deadline`` came first; raises ``EndOfStream``.

    At a tie, the input comes first: when the deadline fires, an item that arrives at the
    same instant (within ``TIE_PASSES`` scheduler passes, which take no virtual time) is
    returned instead of ``_NOTHING``. This is RxJS's order (a source's emission scheduled
    for the instant a timer ends is delivered before the timer's), and without it the
    outcome of a tie would depend on which task the scheduler happened to run first.
    """
    item = poll(rx)
    if item is WAIT:
        with anyio.move_on_at(deadline):
            return await rx.receive()
        for _ in range(TIE_PASSES):
            await anyio.lowlevel.checkpoint()
            item = poll(rx)
            if item is not WAIT:
                break
        else:
            return _NOTHING
    if item is END:
        raise EndOfStream
    return item


def _staged(name: str, run: StageTask) -> SameOperator:
    return SameOperator((StagedStep(name, run),))


# -- the tasks, as values whose repr shows their configuration (see _core/staged.py) --------


@dataclass(frozen=True, slots=True, repr=False)
class Debounce(StageTask):
    """The task of ``debounce(period)``."""

    period: float

    async def __call__(self, rx: Rx, tx: Tx, ctx: StageContext) -> None:
        await _run_debounce(self.period, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class Throttle(StageTask):
    """The task of ``throttle(period, leading=..., trailing=...)``."""

    period: float
    leading: bool
    trailing: bool

    async def __call__(self, rx: Rx, tx: Tx, ctx: StageContext) -> None:
        await _run_throttle(self.period, self.leading, self.trailing, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class Sample(StageTask):
    """The task of ``sample(period)``."""

    period: float

    async def __call__(self, rx: Rx, tx: Tx, ctx: StageContext) -> None:
        await _run_sample(self.period, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class Timeout(StageTask):
    """The task of ``timeout(per_item, first=..., fallback=...)``; ``name`` is its label."""

    each: float | None
    first: float | None
    fallback: Any
    name: str

    async def __call__(self, rx: Rx, tx: Tx, ctx: StageContext) -> None:
        await _run_timeout(self.each, self.first, self.fallback, self.name, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class Delay(StageTask):
    """The task of ``delay(period, max_pending=...)``."""

    period: float
    max_pending: int

    async def __call__(self, rx: Rx, tx: Tx, ctx: StageContext) -> None:
        await _run_delay(self.period, self.max_pending, rx, tx, ctx)


@dataclass(frozen=True, slots=True, repr=False)
class RateLimit(StageTask):
    """The task of ``rate_limit(n, per)``."""

    n: int
    per: float

    async def __call__(self, rx: Rx, tx: Tx, ctx: StageContext) -> None:
        await _run_rate(self.n, self.per, rx, tx, ctx)


# -- debounce -----------------------------------------------------------------------------


def debounce(period: float, *, name: str | None = None) -> SameOperator:
    """Emit an item once ``period`` seconds have passed without a newer one.

    ::

        input   -a-b-----c--|
        output  -------b----(c|)        (period = 3 frames)

    Each item restarts the timer; an item followed by another within ``period`` is
    superseded (counted as ``dropped["debounced"]``). At end of input the pending item is
    emitted at once, as RxJS's ``debounceTime`` does.
    """
    length = check_number("debounce", "period", period)
    return _staged(
        step_name("debounce", name, f"debounce({length:g})"),
        Debounce(length),
    )


async def _run_debounce(period: float, rx: Rx, tx: Tx, ctx: StageContext) -> None:
    counts, stats = ctx.counts, ctx.stats
    pending = _NOTHING
    deadline = _INF
    while True:
        try:
            item = await _receive_until(rx, deadline)
        except EndOfStream:
            break
        if item is _NOTHING:
            pending, item = _NOTHING, pending
            deadline = _INF
            counts.emitted += 1
            await send(tx, item)
            continue
        counts.received += 1
        if pending is not _NOTHING:
            stats.drop("debounced")
        pending = item
        deadline = anyio.current_time() + period
    if pending is not _NOTHING:
        counts.emitted += 1
        await send(tx, pending)


# -- throttle -----------------------------------------------------------------------------


def throttle(
    period: float, leading: bool = True, trailing: bool = False, *, name: str | None = None
) -> SameOperator:
    """Emit at most one item per ``period`` seconds.

    ::

        input   -abc-----de---|
        output  -a-------d----|         (period = 3 frames, leading)
        output  ----c-------e-|         (period = 3 frames, leading=False, trailing=True)

    Follows RxJS's ``throttleTime(period, {leading, trailing})``: an item that arrives
    while no throttle period is running starts one and, with ``leading``, is emitted at
    once. When a period ends and ``trailing`` is set, the newest item that arrived during
    it (if any) is emitted then, and that emission starts a new period. Items not emitted
    are counted as ``dropped["throttled"]``. An item arriving exactly when a period ends
    still belongs to that period (RxJS ``throttleTime`` at a tie): with ``trailing`` it is
    emitted as the period's trailing item, without it is dropped. At end of input a
    pending trailing item is emitted when its period ends (RxJS waits for it too);
    without ``trailing`` the stream ends at once.
    """
    length = check_number("throttle", "period", period)
    for flag, value in (("leading", leading), ("trailing", trailing)):
        if not isinstance(value, bool):
            raise TypeError(f"throttle(): {flag} must be True or False, got {value!r}")
    if not (leading or trailing):
        raise ValueError(
            "throttle(): leading and trailing are both False, nothing would be emitted"
        )
    flags = f"{', leading=False' if not leading else ''}{', trailing=True' if trailing else ''}"
    run = Throttle(length, leading, trailing)
    return _staged(step_name("throttle", name, f"throttle({length:g}{flags})"), run)


async def _run_throttle(
    period: float, leading: bool, trailing: bool, rx: Rx, tx: Tx, ctx: StageContext
) -> None:
    counts, stats = ctx.counts, ctx.stats
    current_time = anyio.current_time
    until: float | None = None  # end of the running throttle period
    pending = _NOTHING  # the trailing candidate (only kept with trailing=True)
    while True:
        try:
            item = await _receive_until(rx, _INF if until is None else until)
        except EndOfStream:
            if until is not None and pending is not _NOTHING:
                await anyio.sleep_until(until)
                counts.emitted += 1
                await send(tx, pending)
            return
        now = current_time()
        if until is not None and (now > until or (item is _NOTHING and now >= until)):
            # The period is over: emit the trailing item, which starts a new period. An
            # item arriving at the very instant the period ends still belongs to it (as in
            # RxJS, where the source's emission comes before the timer's at a tie): it is
            # the trailing candidate (or dropped), and starts no period of its own.
            until = None
            if pending is not _NOTHING:
                out, pending = pending, _NOTHING
                until = current_time() + period
                counts.emitted += 1
                await send(tx, out)
        if item is _NOTHING:
            continue
        counts.received += 1
        if until is not None:
            if not trailing:
                stats.drop("throttled")
                continue
            if pending is not _NOTHING:
                stats.drop("throttled")
            pending = item
        elif leading:
            until = current_time() + period
            counts.emitted += 1
            await send(tx, item)
        else:
            until = current_time() + period
            pending = item


# -- sample -------------------------------------------------------------------------------


#: The shortest ``sample`` period, in seconds (a shorter one would spin on the timer).
MIN_SAMPLE_PERIOD = 1e-6


def sample(period: float, *, name: str | None = None) -> SameOperator:
    """Every ``period`` seconds, emit the newest item if one arrived since the last tick.

    ::

        input   -a-bc----d-|
        output  ---a--c-----|           (period = 3 frames: ticks at 3, 6, 9)

    Ticks are aligned to the moment iteration starts. As with RxJS's ``sampleTime``, an
    item still pending at end of input is not emitted (it is counted, with every item
    superseded before a tick, as ``dropped["sampled"]``). ``period`` must be at least
    ``MIN_SAMPLE_PERIOD`` (1e-6 s): a shorter one is refused, as no timer ticks that fast.
    """
    length = check_number("sample", "period", period)
    if length < MIN_SAMPLE_PERIOD:
        raise ValueError(
            f"sample(): period must be at least {MIN_SAMPLE_PERIOD:g} s, got period={period:g} "
            "(a timer cannot tick that fast; the limit is MIN_SAMPLE_PERIOD)"
        )
    return _staged(step_name("sample", name, f"sample({length:g})"), Sample(length))


async def _run_sample(period: float, rx: Rx, tx: Tx, ctx: StageContext) -> None:
    counts, stats = ctx.counts, ctx.stats
    origin = anyio.current_time()
    tick = 1
    pending = _NOTHING
    while True:
        deadline = origin + tick * period
        try:
            item = await _receive_until(rx, deadline)
        except EndOfStream:
            break
        if item is not _NOTHING:
            counts.received += 1
            if pending is not _NOTHING:
                stats.drop("sampled")
            pending = item
            if anyio.current_time() < deadline:
                continue
        # A tick (possibly several, if sending waited on downstream).
        now = anyio.current_time()
        while origin + tick * period <= now:
            tick += 1
        if pending is not _NOTHING:
            out, pending = pending, _NOTHING
            counts.emitted += 1
            await send(tx, out)
    if pending is not _NOTHING:
        stats.drop("sampled")


# -- timeout ------------------------------------------------------------------------------


Fallback = Stream[Any] | AsyncIterable[Any] | Iterable[Any] | Callable[[], Any]


def timeout(
    per_item: float | None = None,
    *,
    first: float | None = None,
    fallback: Fallback | None = None,
    name: str | None = None,
) -> SameOperator:
    """Pass items through; raise ``TimeoutError`` (or switch to ``fallback``) when one is late.

    ::

        input   -a--b-------c|
        output  -a--b----#              timeout(4)
        input   ------a--------b|
        output  ------a--------b|       timeout(first=7): only the first item is timed
        input   -------a--b|
        output  ----(xy|)               timeout(first=4, fallback=x y)

    ``per_item``: the most seconds between the start of iteration or the previous item and
    the next item. ``first``: the limit for the first item only (then ``per_item``, if
    given, for the others; without it the later items have no limit). At least one of the
    two is required. The time counts from when this operator is ready for the next item:
    time spent waiting for a slow downstream to take the previous item does not count
    against the upstream (as in RxJS, where emission is synchronous). An item arriving at
    the very instant the limit ends wins the tie (RxJS's order).

    When a limit is exceeded: without ``fallback``, the built-in :class:`TimeoutError` is
    raised (not wrapped, with a note naming this operator). With ``fallback`` (a
    :class:`Stream`, an (async) iterable, or a function of no argument returning one,
    called at the timeout), this operator stops reading the upstream (which stops when it
    next hands an item on, or when the run ends) and emits the fallback's items instead;
    the output ends when the fallback ends. RxJS
    ``timeout({first, each, with})``; Kotlin ``timeout(d)`` (+ ``catch`` for a fallback);
    aiostream ``timeout`` (per item, no fallback).
    """
    if per_item is None and first is None:
        raise TypeError(
            "timeout(): give per_item (a limit for every item) and/or first= (a limit for "
            "the first item), got neither"
        )
    each = None if per_item is None else check_number("timeout", "per_item", per_item)
    first_limit = None if first is None else check_number("timeout", "first", first)
    if fallback is not None:
        _check_fallback(fallback)
    parts = [] if each is None else [f"{each:g}"]
    if first_limit is not None:
        parts.append(f"first={first_limit:g}")
    if fallback is not None:
        parts.append("fallback")
    label = step_name("timeout", name, f"timeout({', '.join(parts)})")
    run = Timeout(each, first_limit, fallback, label)
    return _staged(label, run)


def _check_fallback(fallback: object) -> None:
    if isinstance(fallback, Stream) or callable(fallback):
        return
    if isinstance(fallback, AsyncIterable | Iterable) and not isinstance(fallback, str | bytes):
        return
    raise TypeError(
        "timeout(): fallback must be a Stream, an (async) iterable or a function returning "
        f"one, got {type(fallback).__name__} {fallback!r:.60}"
    )


async def _run_timeout(
    each: float | None,
    first: float | None,
    fallback: Any,
    name: str,
    rx: Rx,
    tx: Tx,
    ctx: StageContext,
) -> None:
    counts = ctx.counts
    limit = first if first is not None else each
    while True:
        item = poll(rx)
        if item is END:
            return
        if item is WAIT:
            try:
                if limit is None:
                    item = await rx.receive()
                else:
                    item = await _receive_until(rx, anyio.current_time() + limit)
            except EndOfStream:
                return
            if item is _NOTHING:
                assert limit is not None
                if fallback is not None:
                    rx.close()  # the upstream is abandoned: stop it now
                    await _switch_to(fallback, tx, counts, name)
                    return
                what = "first item" if counts.received == 0 and first is not None else "item"
                error = TimeoutError(f"{name}: no {what} within {limit:g} s")
                add_operator_note(error, name)
                raise error
        counts.received += 1
        counts.emitted += 1
        await send(tx, item)
        limit = each


async def _switch_to(fallback: Any, tx: Tx, counts: StageCounts, name: str) -> None:
    if isinstance(fallback, Stream | AsyncIterable | Iterable):
        inner: Any = fallback
    else:
        inner = _open_inner(lambda _: fallback(), None, name)
    await _forward(inner, tx, counts, name)


# -- delay --------------------------------------------------------------------------------


def delay(period: float, *, max_pending: int = 1024, name: str | None = None) -> SameOperator:
    """Emit every item ``period`` seconds after it arrived, in order.

    ::

        input   -a-b---c-|
        output  ----a-b---(c|)          (period = 3 frames)

    The end of input itself is not shifted (as with RxJS's ``delay``): the stream ends
    when its input has ended and every waiting item has been emitted. At most
    ``max_pending`` items wait inside the operator; when it is full it stops reading its
    input until the oldest item is due (backpressure), so a slow
    downstream delays items further rather than growing memory.
    """
    length = check_number("delay", "period", period, allow_zero=True)
    bound = check_int("delay", "max_pending", max_pending, minimum=1)
    return _staged(step_name("delay", name, f"delay({length:g})"), Delay(length, bound))


async def _run_delay(period: float, bound: int, rx: Rx, tx: Tx, ctx: StageContext) -> None:
    counts = ctx.counts
    current_time = anyio.current_time
    queue: deque[tuple[float, Any]] = deque()
    ended = False
    while queue or not ended:
        if queue and (ended or len(queue) >= bound or current_time() >= queue[0][0]):
            due, item = queue[0]
            await anyio.sleep_until(due)
            queue.popleft()
            counts.emitted += 1
            await send(tx, item)
            continue
        try:
            item = await _receive_until(rx, queue[0][0] if queue else _INF)
        except EndOfStream:
            ended = True
            continue
        if item is not _NOTHING:
            counts.received += 1
            queue.append((current_time() + period, item))


# -- rate_limit ---------------------------------------------------------------------------


def rate_limit(n: int, per: float, *, name: str | None = None) -> SameOperator:
    """Pass items through, at most ``n`` in any ``per`` seconds; never drops.

    ::

        input   -abcd------|
        output  -ab---cd---|            (n = 2, per = 4 frames)

    When ``n`` items were emitted in the last ``per`` seconds the operator waits until the
    oldest of them is ``per`` seconds old, and meanwhile reads no input: the upstream is
    slowed down (backpressure). An emission is timed when downstream took the item.
    """
    count = check_int("rate_limit", "n", n, minimum=1)
    window = check_number("rate_limit", "per", per)
    return _staged(
        step_name("rate_limit", name, f"rate_limit({count}, {window:g})"),
        RateLimit(count, window),
    )


async def _run_rate(n: int, per: float, rx: Rx, tx: Tx, ctx: StageContext) -> None:
    counts = ctx.counts
    current_time = anyio.current_time
    sent: deque[float] = deque(maxlen=n)  # times of the last n emissions
    while True:
        item = poll(rx)
        if item is WAIT:
            item = await receive_or_end(rx)
        if item is END:
            return
        counts.received += 1
        if len(sent) == n:
            await anyio.sleep_until(sent[0] + per)
        await send(tx, item)
        counts.emitted += 1
        sent.append(current_time())
