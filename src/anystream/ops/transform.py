"""Transforming operators: ``map``, ``map_async``, ``parse`` and their relatives.

One output per input: ``map``, ``map_async``, ``parse``, ``starmap``, ``tap``, ``scan``,
``enumerate``, ``pairwise``. Several outputs per input, from an *inner stream* that
``fn(item)`` returns: ``flat_map`` (inner streams one after another), ``merge_map``
(interleaved, at most ``concurrency`` open), ``switch_map`` (only the newest).

How each one runs
-----------------
``map``, ``parse``, ``starmap``, ``tap`` and ``map_async`` with one call at a time are
fused kernels: no generator layer at all. ``scan``, ``enumerate`` and ``pairwise`` keep
per-run state, so they are generator steps (``make`` is called afresh for every run).
``flat_map``, ``merge_map`` and ``switch_map`` are staged steps: an inner stream may be an
anystream :class:`Stream` with staged operators of its own, and running one opens a task
group (``async with inner.stream()``), which a generator step must never hold open across
a ``yield`` (docs/concepts.md). A staged step is a task; it may.

Names that differ from aiostream's ``pipe`` module: ``flat_map`` is ``concatmap``,
``merge_map`` is ``flatmap`` (with ``task_limit``), ``switch_map`` is ``switchmap``,
``scan`` is ``accumulate`` (which also emits the initializer), ``tap`` is ``action``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, TypeVarTuple, Unpack, cast, overload

import anyio
import anyio.lowlevel
from anyio import BrokenResourceError, CancelScope
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import (
    NotAwaitableError,
    check_choice,
    check_int,
    check_item_callable,
    check_sync_callable,
    describe,
    is_async_callable,
    refuse_unawaited,
)
from .._core.compat import TypeVar as TypeVarWithDefault
from .._core.errors import add_operator_note
from .._core.handoff import END, downstream_left, receive_or_end, send
from .._core.operator import GenStep, Kernel, Operator, StageContext, StagedStep, step_name
from .._core.staged import StageTask
from .._core.stats import StageCounts
from .._core.stream import Stream
from ..resilience.retry import Retry
from ._map_async import check_retry, handoff_size, run_map_async
from .errors import OnError, check_on_error

__all__ = [
    "Enumerated",
    "Paired",
    "enumerate",
    "flat_map",
    "map",
    "map_async",
    "merge_map",
    "pairwise",
    "parse",
    "scan",
    "starmap",
    "switch_map",
    "tap",
]

# Any when a checker cannot solve it (mypy: a lambda in a later operator of one pipe()
# call) rather than Never, which would make that pipe() a false error.
T = TypeVarWithDefault("T", default=Any)
U = TypeVar("U")
A = TypeVar("A")
X = TypeVar("X")
Y = TypeVar("Y")
Ts = TypeVarTuple("Ts")

_MISSING: Any = object()


@dataclass(frozen=True, slots=True, repr=False)
class MapAsync(StageTask):
    """The task of ``map_async`` (and of ``map`` with ``on_error``, concurrent
    ``starmap``): ``fn`` on up to ``concurrency`` items at once (ops/_map_async.py);
    ``name`` is the operator's label, which names the user's function."""

    fn: Callable[[Any], Awaitable[Any]]
    concurrency: int
    ordered: bool
    retry: Retry | None
    on_error: OnError
    name: str
    tracked: bool = False

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await run_map_async(
            self.fn,
            rx,
            tx,
            ctx,
            concurrency=self.concurrency,
            ordered=self.ordered,
            retry=self.retry,
            on_error=self.on_error,
            name=self.name,
            tracked=self.tracked,
        )


def map(
    fn: Callable[[T], U], *, on_error: OnError = "raise", name: str | None = None
) -> Operator[T, U]:
    """Emit ``fn(item)`` for every item, in order (a plain function; see ``map_async``).

    Fused with neighbouring per-item operators into one loop: it costs a function call
    per item, not a generator layer.

    ``on_error`` (see ``anystream.ops.errors``): ``"raise"`` (default) ends the run with
    the exception; ``"drop"`` discards the item and counts it by exception type; a
    callable such as :class:`~anystream.DeadLetters` receives it as a dead letter. With
    a policy other than ``"raise"`` the operator runs as its own stage (the error
    handling of ``map_async``), so keep the default on hot paths.
    """
    check_sync_callable("map", "fn", fn, async_alternative="map_async(fn)")
    check_item_callable("map", "fn", fn, hint="a plain function")
    handler = check_on_error("map", on_error)
    name = step_name("map", name, f"map({describe(fn)})")
    if handler == "raise":
        return Operator((Kernel("map", name, fn, arg="map"),))

    async def call(item: T) -> U:
        return fn(item)

    run = MapAsync(call, concurrency=1, ordered=True, retry=None, on_error=handler, name=name)
    return Operator((StagedStep(name, run, tracked=replace(run, tracked=True)),))


def parse(
    fn: Callable[[T], U], *, on_error: Literal["drop", "raise"] = "drop", name: str | None = None
) -> Operator[T, U]:
    """Emit ``fn(item)``; inputs that ``fn`` rejects are *malformed*.

    ``fn`` raising ``ValueError``, ``TypeError``, ``KeyError`` or ``IndexError`` marks the
    input malformed. With ``on_error="drop"`` (the default) it is skipped and counted:
    after or during a run, ``stream.stats()["parse"].dropped["malformed"]`` (or
    ``run.stats()`` inside ``async with stream.stream() as run``) says how many.
    With ``on_error="raise"`` the exception propagates and ends the run. Any other
    exception always propagates.
    """
    check_sync_callable("parse", "fn", fn, async_alternative="map_async(fn)")
    check_item_callable("parse", "fn", fn, hint="a plain function")
    mode = check_choice("parse", "on_error", on_error, ("drop", "raise"))
    kind: Literal["parse", "map"] = "parse" if mode == "drop" else "map"
    return Operator(
        (Kernel(kind, step_name("parse", name, f"parse({describe(fn)})"), fn, "parse"),)
    )


def map_async(
    fn: Callable[[T], Awaitable[U]],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    retry: Retry | int | None = None,
    on_error: OnError = "raise",
    name: str | None = None,
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
    most ``concurrency`` items. The hand-offs into and out of the stage hold up to
    ``max(concurrency, 32)`` items each, so that items move between tasks in batches: a
    call that completes without suspending costs no task switch.

    ``retry`` (a :class:`~anystream.resilience.Retry` policy, or a number of attempts)
    retries failed calls with exponential backoff; an item waiting to retry holds only
    its own worker, the others go on. Retries are counted in the operator's
    ``stats().retried``. ``on_error`` says what happens when a call finally fails:
    ``"raise"`` (default: the run ends with that exception, with a note naming this
    operator; calls still in flight are cancelled), ``"drop"`` (counted by exception
    type) or a dead-letter callable such as :class:`~anystream.DeadLetters` (see
    ``anystream.ops.errors``).

    ``fn`` is usually a coroutine function (``async def``). Any other callable that
    *returns* an awaitable is accepted too, such as ``lambda x: fetch(x, timeout=1)``: its
    result is awaited. If such a callable returns something that is not awaitable (it
    was a plain function), the call fails with a ``TypeError`` naming this operator
    ("fn returned int, not an awaitable; use map() for sync functions"), handled like any
    other failed call (``retry``, ``on_error``). An async generator function is refused
    when the operator is built: it produces many values per item, see ``flat_map``.
    """
    check_item_callable("map_async", "fn", fn, hint="a coroutine function")
    check_int("map_async", "concurrency", concurrency, minimum=1)
    if not isinstance(ordered, bool):
        raise TypeError(f"map_async(): ordered must be True or False, got {ordered!r}")
    policy = check_retry("map_async", retry)
    handler = check_on_error("map_async", on_error)
    name = step_name("map_async", name, f"map_async({describe(fn)})")
    if not is_async_callable(fn):
        fn = _awaiting(fn, name)
    if concurrency == 1 and policy is None and handler == "raise":
        return Operator((Kernel("amap", name, fn),))
    run = MapAsync(
        fn,
        concurrency=concurrency,
        ordered=ordered,
        retry=policy,
        on_error=handler,
        name=name,
    )
    tracked = replace(run, tracked=True)
    # Room for a batch on each side (handoff_size): workers and neighbours trade items in
    # batches rather than with a task switch per item (counted in the memory bound).
    holds = 2 * concurrency if ordered else concurrency
    step = StagedStep(
        name,
        run,
        tracked=tracked,
        handoff=handoff_size(concurrency),
        concurrency=concurrency,
        holds=holds,
    )
    return Operator((step,))


def _awaiting(fn: Callable[[T], Any], name: str) -> Callable[[T], Awaitable[Any]]:
    """``fn`` (a callable that is not a coroutine function) as one: its result is awaited.

    A result that is not awaitable means ``fn`` was a plain function: a TypeError that
    says to use ``map()``. Built here, in front of the map_async machinery, which only
    ever sees coroutine functions.
    """

    async def call(item: T) -> Any:
        result = fn(item)
        if not inspect.isawaitable(result):
            raise NotAwaitableError(
                f"map_async(): fn returned {type(result).__name__}, not an awaitable "
                f"({name}); use map() for sync functions"
            )
        return await result

    return call


# -- per-item operators written as generator steps ---------------------------------------


@overload
def starmap(
    fn: Callable[[Unpack[Ts]], Awaitable[U]],
    *,
    concurrency: int = ...,
    ordered: bool = ...,
    name: str | None = ...,
) -> Operator[tuple[*Ts], U]: ...
@overload
def starmap(
    fn: Callable[[Unpack[Ts]], U],
    *,
    concurrency: int = ...,
    ordered: bool = ...,
    name: str | None = ...,
) -> Operator[tuple[*Ts], U]: ...
def starmap(
    fn: Callable[..., U] | Callable[..., Awaitable[U]],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    name: str | None = None,
) -> Operator[Any, U]:
    """Emit ``fn(*item)`` for every item (each item an iterable of arguments), in order.

    ``fn`` may be a plain function (fused like ``map``) or a coroutine function, awaited
    like ``map_async``: up to ``concurrency`` calls at once (default 1, fused), results in
    input order with ``ordered=True`` (the default) or as they complete with
    ``ordered=False``, with the same memory bound as ``map_async``. ``concurrency`` and
    ``ordered`` only apply to a coroutine function. aiostream: ``pipe.starmap`` (with
    ``ordered``, ``task_limit``).
    """
    check_item_callable("starmap", "fn", fn, arity=None)
    limit = check_int("starmap", "concurrency", concurrency, minimum=1)
    if not isinstance(ordered, bool):
        raise TypeError(f"starmap(): ordered must be True or False, got {ordered!r}")
    name = step_name("starmap", name, f"starmap({describe(fn)})")
    if is_async_callable(fn):
        afn = cast(Callable[..., Awaitable[U]], fn)

        async def acall(args: Iterable[Any]) -> U:
            return await afn(*args)

        if limit == 1:
            return Operator((Kernel("amap", name, acall),))
        run = MapAsync(
            acall,
            concurrency=limit,
            ordered=ordered,
            retry=None,
            on_error="raise",
            name=name,
        )
        tracked = replace(run, tracked=True)
        holds = 2 * limit if ordered else limit
        step = StagedStep(
            name,
            run,
            tracked=tracked,
            handoff=handoff_size(limit),
            concurrency=limit,
            holds=holds,
        )
        return Operator((step,))
    if limit != 1 or not ordered:
        raise ValueError(
            "starmap(): concurrency and ordered apply to a coroutine function; "
            f"{describe(fn)} is a plain function (it runs one call at a time, in order)"
        )

    sfn = cast(Callable[..., U], fn)

    def call(args: Iterable[Any]) -> U:
        return sfn(*args)

    return Operator((Kernel("map", name, call, arg="starmap"),))


def tap(fn: Callable[[T], object], *, name: str | None = None) -> Operator[T, T]:
    """Call ``fn(item)`` for its side effect and emit the item unchanged, in order.

    ``fn`` may be a plain function or a coroutine function (awaited before the item is
    passed on); a plain function that returns an awaitable is awaited too. What ``fn``
    returns is ignored. An exception from ``fn`` ends the run. Fused with neighbouring
    per-item operators. RxJS ``tap``; aiostream: ``pipe.action``.
    """
    check_item_callable("tap", "fn", fn)
    name = step_name("tap", name, f"tap({describe(fn)})")
    # A filter kernel whose predicate is always true: it is the one fused kind that
    # awaits an awaitable result of a plain callable, which a lambda calling a coroutine
    # function returns.
    if is_async_callable(fn):
        afn = cast(Callable[[T], Awaitable[object]], fn)

        async def apass(item: T) -> bool:
            await afn(item)
            return True

        return Operator((Kernel("afilter", name, apass),))

    def passthrough(item: T) -> Any:
        result = fn(item)
        if result is not None:
            if inspect.isawaitable(result):
                return _then_true(result)
            refuse_unawaited("tap", "fn", name, result)
        return True

    return Operator((Kernel("filter", name, passthrough),))


async def _then_true(awaitable: Awaitable[object]) -> bool:
    await awaitable
    return True


def scan(
    fn: Callable[[A, T], A] | Callable[[A, T], Awaitable[A]],
    initial: A = _MISSING,
    *,
    name: str | None = None,
) -> Operator[T, A]:
    """Emit the running fold ``acc = fn(acc, item)`` after every item (``initial`` excluded).

    ``scan(operator.add, 0)`` over 0, 1, 2, 3, 4 emits 0, 1, 3, 6, 10. Without ``initial``
    the first item is the first accumulated value and is emitted as it is (RxJS ``scan``
    without a seed, ``itertools.accumulate``). ``fn`` may be a plain function or a
    coroutine function. aiostream: ``pipe.accumulate(func, initializer)``, which emits the
    initializer first; ``scan`` does not.
    """
    check_item_callable("scan", "fn", fn, arity=2)
    name = step_name("scan", name, f"scan({describe(fn)})")
    is_async = is_async_callable(fn)

    def make(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return _scan(upstream, fn, initial, is_async, name)

    return Operator((GenStep(name, make),))


async def _scan(
    upstream: AsyncIterator[Any], fn: Any, acc: Any, is_async: bool, name: str
) -> AsyncIterator[Any]:
    async for item in upstream:
        if acc is _MISSING:
            acc = item
        else:
            try:
                acc = fn(acc, item)
                if is_async:
                    acc = await acc
            except Exception as exc:
                add_operator_note(exc, name)
                raise
        yield acc


class Enumerated(Operator[Any, Any]):
    """The type of ``enumerate()``: turns a ``Stream[T]`` into a ``Stream[tuple[int, T]]``.

    Not generic, so the item type comes from the stream it is piped into (as for
    :class:`~anystream.SameOperator`).
    """

    __slots__ = ()

    def _pipe_into(self, stream: Stream[X], /) -> Stream[tuple[int, X]]:
        return stream._extend(self._steps)

    def __ror__(
        self, other: Callable[[Stream[X]], Stream[Y]]
    ) -> Callable[[Stream[X]], Stream[tuple[int, Y]]]:
        # ``fn | op``: a function from stream to stream, then this operator.
        return super().__ror__(other)


class Paired(Operator[Any, Any]):
    """The type of ``pairwise()``: turns a ``Stream[T]`` into a ``Stream[tuple[T, T]]``."""

    __slots__ = ()

    def _pipe_into(self, stream: Stream[X], /) -> Stream[tuple[X, X]]:
        return stream._extend(self._steps)

    def __ror__(
        self, other: Callable[[Stream[X]], Stream[Y]]
    ) -> Callable[[Stream[X]], Stream[tuple[Y, Y]]]:
        # ``fn | op``: a function from stream to stream, then this operator.
        return super().__ror__(other)


def enumerate(start: int = 0, *, name: str | None = None) -> Enumerated:
    """Emit ``(index, item)`` pairs, the index counting from ``start`` (like the builtin).

    Every run counts from ``start`` again. aiostream: ``pipe.enumerate``.
    """
    if isinstance(start, bool) or not isinstance(start, int):
        raise TypeError(
            f"enumerate(): start must be an int, got {type(start).__name__} {start!r:.60}"
        )
    first = start
    name = step_name("enumerate", name, "enumerate" if first == 0 else f"enumerate({first})")

    async def numbered(upstream: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
        index = first
        async for item in upstream:
            yield (index, item)
            index += 1

    return Enumerated((GenStep(name, numbered),))


def pairwise(*, name: str | None = None) -> Paired:
    """Emit ``(previous, current)`` for every item after the first (``itertools.pairwise``).

    ``a b c d`` gives ``(a, b) (b, c) (c, d)``; fewer than two items give nothing.
    RxJS ``pairwise``; aiostream has no counterpart.
    """

    async def pairs(upstream: AsyncIterator[Any]) -> AsyncIterator[tuple[Any, Any]]:
        previous: Any = _MISSING
        async for item in upstream:
            if previous is not _MISSING:
                yield (previous, item)
            previous = item

    return Paired((GenStep(step_name("pairwise", name, "pairwise"), pairs),))


# -- operators over inner streams: staged steps -------------------------------------------
#
# ``fn(item)`` may return an anystream Stream. Running one opens its runner's task group
# (``async with inner.stream()``), and a task group must never stay open across a
# ``yield`` of a generator step (docs/concepts.md). So every operator that iterates
# inner streams is a staged step: its task runs the inner streams (in the task itself or
# in child tasks) and forwards their items into the stage's output stream.

Inner = Stream[U] | AsyncIterable[U] | Iterable[U]


def _open_inner(fn: Callable[[Any], Any], item: Any, name: str) -> Any:
    """``fn(item)``, with the operator's note on an exception or on a wrong result type."""
    try:
        inner = fn(item)
    except Exception as exc:
        add_operator_note(exc, name)
        raise
    if isinstance(inner, Stream | AsyncIterable | Iterable) and not isinstance(inner, str | bytes):
        return inner
    error = TypeError(
        f"{name}: fn must return a Stream, an iterable or an async iterable, "
        f"got {type(inner).__name__} {inner!r:.60}"
    )
    if inspect.iscoroutine(inner):
        inner.close()  # not awaited: close it so that no "never awaited" warning follows
        error = TypeError(
            f"{name}: fn returned a coroutine; fn must return a Stream, an iterable or an "
            "async iterable (an async generator function, not an async def returning one)"
        )
    raise error


async def _forward(
    inner: Any, tx: MemoryObjectSendStream[Any], counts: StageCounts, name: str
) -> None:
    """Send every item of ``inner`` (from ``_open_inner``) to ``tx``, in order.

    An anystream Stream is run with its own runner; its errors already carry the notes of
    its operators. Errors from iterating a plain (async) iterable are the user's code
    failing inside this operator, so they get this operator's note.
    """
    if isinstance(inner, Stream):
        async with inner.stream() as items:
            async for value in items:
                counts.emitted += 1
                await send(tx, value)
        return
    if isinstance(inner, AsyncIterable):
        iterator = aiter(inner)
        try:
            while True:
                try:
                    value = await anext(iterator)
                except StopAsyncIteration:
                    return
                except Exception as exc:
                    add_operator_note(exc, name)
                    raise
                counts.emitted += 1
                await send(tx, value)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with CancelScope(shield=True):
                    await aclose()
    sync_iterator = iter(inner)
    try:
        while True:
            try:
                value = next(sync_iterator)
            except StopIteration:
                return
            except Exception as exc:
                add_operator_note(exc, name)
                raise
            counts.emitted += 1
            await send(tx, value)
    finally:
        close = getattr(sync_iterator, "close", None)
        if close is not None:
            close()


@overload
def flat_map(fn: Callable[[T], Stream[U]], *, name: str | None = None) -> Operator[T, U]: ...
@overload
def flat_map(fn: Callable[[T], AsyncIterable[U]], *, name: str | None = None) -> Operator[T, U]: ...
@overload
def flat_map(fn: Callable[[T], Iterable[U]], *, name: str | None = None) -> Operator[T, U]: ...
def flat_map(fn: Callable[[T], Inner[U]], *, name: str | None = None) -> Operator[T, U]:
    """For every item, emit all the items of ``fn(item)``, one inner stream after another.

    ::

        input   -a-------b----|       flat_map(x -> x1 x2)
        output  -a1-a2---b1-b2|

    ``fn`` returns a :class:`Stream`, an async iterable or an iterable (not a string).
    Inner streams are concatenated in input order: the next input item is read only
    after the current inner stream has ended, so at most one inner stream is open.
    **Nothing read ahead:** when ``flat_map`` follows the source (and per-item
    operators such as ``map`` or ``where``) directly, the source is asked for outer item
    ``k + 1`` only once inner stream ``k`` has ended, as in Kotlin's ``flatMapConcat``; so
    an error the outer stream raises after item ``k`` arrives after inner stream ``k``'s
    items (RxJS, whose outer is pushed, cuts the inner short instead). Behind a
    ``buffered()``, another staged operator or a generator operator (``scan``...) the
    task feeding it holds one item more. A staged operator (it runs inner
    streams, which may need tasks of their own); each emitted item costs a hand-off
    between tasks, so for a cheap expansion into a short list a generator step of your
    own (``@operator``) is faster. RxJS ``concatMap``;
    aiostream: ``pipe.concatmap`` (and ``pipe.flatten`` for a stream of streams:
    ``flat_map(lambda s: s)``).
    """
    check_sync_callable("flat_map", "fn", fn, async_alternative="an async generator function")
    name = step_name("flat_map", name, f"flat_map({describe(fn)})")

    async def run(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        counts = ctx.counts
        while (item := await receive_or_end(rx)) is not END:
            counts.received += 1
            await _forward(_open_inner(fn, item, name), tx, counts, name)

    return Operator((StagedStep(name, run, on_demand=True),))


@overload
def merge_map(
    fn: Callable[[T], Stream[U]], concurrency: int, *, name: str | None = None
) -> Operator[T, U]: ...
@overload
def merge_map(
    fn: Callable[[T], AsyncIterable[U]], concurrency: int, *, name: str | None = None
) -> Operator[T, U]: ...
@overload
def merge_map(
    fn: Callable[[T], Iterable[U]], concurrency: int, *, name: str | None = None
) -> Operator[T, U]: ...
def merge_map(
    fn: Callable[[T], Inner[U]], concurrency: int, *, name: str | None = None
) -> Operator[T, U]:
    """For every item, run ``fn(item)`` and emit the inner items as they come, interleaved.

    ::

        input   -a---b-------|        merge_map(x -> x1 ... x2, concurrency=2)
        output  --a1--b1-a2--b2|

    At most ``concurrency`` inner streams are open at once: the next input item is read
    only when one of them has ended (the task feeding it holds one more, as for
    ``flat_map``), so the operator holds at most ``concurrency`` inner
    streams plus the items they are sending. Order within one inner stream is kept; across
    inner streams, items come in the order they are ready. The output ends once the input
    and every inner stream have ended. An error in any inner stream cancels the others
    and ends the run. ``merge_map(fn, 1)`` is ``flat_map(fn)``. RxJS ``mergeMap``;
    aiostream: ``pipe.flatmap(fn, task_limit=concurrency)``.
    """
    check_sync_callable("merge_map", "fn", fn, async_alternative="an async generator function")
    limit = check_int("merge_map", "concurrency", concurrency, minimum=1)
    name = step_name("merge_map", name, f"merge_map({describe(fn)}, {limit})")

    async def run(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        counts = ctx.counts
        slots = anyio.Semaphore(limit)

        async def forward(inner: Any) -> None:
            try:
                await _forward(inner, tx, counts, name)
            except BrokenResourceError:
                if not downstream_left(tx):
                    raise
                tg.cancel_scope.cancel()  # the consumer left: stop quietly
            finally:
                slots.release()

        async with anyio.create_task_group() as tg:
            while True:
                await slots.acquire()
                item = await receive_or_end(rx)
                if item is END:
                    break
                counts.received += 1
                try:
                    inner = _open_inner(fn, item, name)
                except BaseException:
                    slots.release()
                    raise
                tg.start_soon(forward, inner)

    return Operator((StagedStep(name, run),))


#: Scheduler passes an inner item of ``switch_map`` waits before it is sent (see
#: ``_OuterFirst``); they take no virtual time.
TIE_PASSES = 3


class _OuterFirst:
    """``switch_map``'s output as its inner streams see it: a new outer item wins a tie.

    Before an inner item is sent, the sending task lets the scheduler run a few passes, so
    that an outer item due at the same instant is received first and cancels this inner
    stream (its item is then never emitted), as in RxJS ``switchMap``, aiostream
    ``switchmap`` and Kotlin ``flatMapLatest``.
    """

    __slots__ = ("_tx",)

    def __init__(self, tx: MemoryObjectSendStream[Any]) -> None:
        self._tx = tx

    def send_nowait(self, item: Any) -> None:
        raise anyio.WouldBlock  # always take the path through ``send``

    async def send(self, item: Any) -> None:
        for _ in range(TIE_PASSES):
            await anyio.lowlevel.checkpoint()
        await self._tx.send(item)


@overload
def switch_map(fn: Callable[[T], Stream[U]], *, name: str | None = None) -> Operator[T, U]: ...
@overload
def switch_map(
    fn: Callable[[T], AsyncIterable[U]], *, name: str | None = None
) -> Operator[T, U]: ...
@overload
def switch_map(fn: Callable[[T], Iterable[U]], *, name: str | None = None) -> Operator[T, U]: ...
def switch_map(fn: Callable[[T], Inner[U]], *, name: str | None = None) -> Operator[T, U]:
    """For every item, run ``fn(item)``, abandoning the inner stream of the previous item.

    ::

        input   -a-----b-------|      switch_map(x -> x1 ... x2 ... x3)
        output  --a1---b1--b2--b3|    (a2, a3 never come: b arrived first)

    When an input item arrives, the inner stream still running (if any) is cancelled and
    closed (its ``finally`` blocks run) before the new one starts, so its items are never
    interleaved with the new one's. The output ends once the input has ended and the
    last inner stream has ended. When a new input item and an item of the current inner
    stream are due at the same instant, the input item wins: the inner stream is cancelled
    and its item is not emitted. RxJS ``switchMap``; aiostream: ``pipe.switchmap``; Kotlin
    ``flatMapLatest``.
    """
    check_sync_callable("switch_map", "fn", fn, async_alternative="an async generator function")
    name = step_name("switch_map", name, f"switch_map({describe(fn)})")

    async def run(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        counts = ctx.counts

        out = cast(MemoryObjectSendStream[Any], _OuterFirst(tx))

        async def forward(inner: Any, scope: CancelScope, finished: anyio.Event) -> None:
            try:
                with scope:
                    await _forward(inner, out, counts, name)
            except BrokenResourceError:
                if not downstream_left(tx):
                    raise
                tg.cancel_scope.cancel()  # the consumer left: stop quietly
            finally:
                finished.set()

        current: tuple[CancelScope, anyio.Event] | None = None
        async with anyio.create_task_group() as tg:
            while (item := await receive_or_end(rx)) is not END:
                counts.received += 1
                if current is not None:
                    scope, finished = current
                    scope.cancel()
                    await finished.wait()  # closed before the next one starts
                inner = _open_inner(fn, item, name)
                current = (CancelScope(), anyio.Event())
                tg.start_soon(forward, inner, *current)

    return Operator((StagedStep(name, run),))
