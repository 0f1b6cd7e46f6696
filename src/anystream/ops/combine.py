"""Combinators: several streams in, one stream out (``merge``, ``zip``, ``concat``, ``zip_latest``).

Each combinator runs its input streams *inside its own task*, each with
``async with inner.stream() as run:`` (a task may hold a task group open; a generator may
not, docs/concepts.md), and forwards their items into the pipeline with the fast
hand-off. The functions (``merge(a, b)``) are :class:`TaskSource` sources; the pipeable
forms (``a | merge_with(b)``) are staged operators that treat their upstream as the first
input.

**Backpressure.** Every hand-off of the combinator itself is a rendezvous: an input runs
ahead of the consumer by at most the item its forwarder holds, plus whatever its own
pipeline holds. The inputs of ``concat`` / ``concat_with`` that have no staged operator
run inline in the combinator's task (``_emit_inline``): no read-ahead of their own. An
input of the concurrent combinators that has no staged operator gets a
``buffered(INPUT_BUFFER)`` (16) of its own, so that its source runs in a task that a
stop can interrupt: such an input is at most ``INPUT_BUFFER + 2`` items ahead (buffer,
its source task's hand, its forwarder's hand). A slow consumer therefore bounds what
every input pulls; ``zip`` holds one more item per input in its assembling rendezvous.

**Errors.** An input that fails ends the whole combinator: its exception propagates as
itself, with a note naming the combinator and the input's position, and every other input
is closed (their ``finally`` blocks run) before it reaches the caller.

**Early exit.** When the consumer leaves (``take(3)``, ``break``), every input run is
closed before the pipeline's ``async with`` exits.

**Graceful stop.** A stop of the run is relayed at once to every input run with
``run.stop()`` (a watcher task waits on the run's ``StopState``): each input's source
stops and what it already pulled drains through, exactly as for a single stream, even
when every input is idle. ``concat`` starts no further input. The relay is a stop, not
a cancel: cancelling the combinator's scope, as the runner does for a plain source,
would abort the input runs instead of draining them. The pipeable forms do the same for
their *other* streams with the ``StageContext.stop`` the runner hands them, while their
upstream stops with the run's source as usual; ``concat_with`` starts none of its
``others`` once a stop was requested. (Run outside the runner, without a
``StageContext.stop``, a pipeable form is not told about stops.)

Names compared with aiostream's ``stream`` module: ``merge`` and ``zip`` are the same;
``concat`` is aiostream's ``chain``; ``zip_latest`` is aiostream's ``ziplatest`` (RxJS
``combineLatest``).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, Literal, TypeVar, TypeVarTuple, overload

import anyio
from anyio import BrokenResourceError
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.errors import add_operator_note, reraise_unwrapped
from .._core.handoff import END, downstream_left, receive_or_end, send_unless_left
from .._core.operator import Operator, StageContext, StagedStep, step_name
from .._core.poll import WAIT, poll
from .._core.runner import Run
from .._core.shutdown import StopState
from .._core.source import TaskSource
from .._core.stats import StageCounts
from .._core.stream import Stream
from .flow import buffered

__all__ = [
    "ZippedWith",
    "concat",
    "concat_with",
    "merge",
    "merge_with",
    "zip",
    "zip_latest",
    "zip_with",
]

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
X = TypeVar("X")
Y = TypeVar("Y")
Ts = TypeVarTuple("Ts")

#: Buffer given to an input without a staged operator of its own (see ``_interruptible``).
#: A rendezvous there would cost a scheduler round-trip per item (about 10 us, doubling
#: the cost of ``merge``); 16 items of read-ahead per input amortise it.
INPUT_BUFFER = 16

_MISSING: Any = object()

# An input is either a Stream (run inside the combinator's task) or, for the pipeable
# forms, the staged step's upstream receive stream.
Input = Stream[Any] | MemoryObjectReceiveStream[Any]


# -- shared machinery -----------------------------------------------------------------------


class _Upstream:
    """The staged step's input as an async iterator (fast path first), counting receipts."""

    __slots__ = ("_counts", "_rx")

    def __init__(self, rx: MemoryObjectReceiveStream[Any], counts: StageCounts) -> None:
        self._rx = rx
        self._counts = counts

    def __aiter__(self) -> _Upstream:
        return self

    async def __anext__(self) -> Any:
        item = poll(self._rx)
        if item is WAIT:
            item = await receive_or_end(self._rx)
        if item is END:
            raise StopAsyncIteration
        self._counts.received += 1
        return item


class _Combinator:
    """One run of a combinator: its inputs, its output, and the stop relay.

    ``stop`` is the run's :class:`StopState` (None only for a staged step run with a
    ``StageContext`` that carries none: then stops are not relayed). ``counts`` is the staged
    step's :class:`StageCounts` (a throwaway one for sources: the runner counts a
    source's items downstream of it).
    """

    def __init__(
        self,
        name: str,
        tx: MemoryObjectSendStream[Any],
        stop: StopState | None,
        counts: StageCounts,
    ) -> None:
        self.name = name
        self.tx = tx
        self.stop = stop
        self.counts = counts
        self.runs: list[Run[Any]] = []

    def is_stopping(self) -> bool:
        # A method, not a property: type checkers would narrow a property's value across
        # awaits, during which another task may request the stop.
        return self.stop is not None and self.stop.stopping

    def relay_stop(self, run: Run[Any]) -> None:
        if self.is_stopping() and not run.stopping:
            run.stop()

    async def watch_stop(self, stop: StopState) -> None:
        """Relay a graceful stop to every input run (cancelled when the combinator ends).

        Runs opened after the stop are stopped by ``open`` itself (``relay_stop``), so
        between them every input run is told exactly once.
        """
        await stop.wait()
        for run in list(self.runs):
            run.stop()

    @asynccontextmanager
    async def open(self, index: int, source: Input) -> AsyncIterator[AsyncIterator[Any]]:
        """Iterate input ``index``; an error of a stream input gets a note naming it."""
        if not isinstance(source, Stream):
            yield _Upstream(source, self.counts)
            return
        if self.stop is not None:
            source = _interruptible(source)
        try:
            async with source.stream() as run:
                self.runs.append(run)
                try:
                    self.relay_stop(run)
                    yield run
                finally:
                    self.runs.remove(run)
        except BrokenResourceError:
            # Our own send failing because the consumer left is handled by ``emit``;
            # anything else is the input's own error.
            if not downstream_left(self.tx):
                raise
        except Exception as exc:
            add_operator_note(exc, f"{self.name}, input {index + 1}")
            raise

    async def emit(self, item: Any, tg: TaskGroup) -> bool:
        """Send ``item`` downstream; False (and everything cancelled) if downstream left."""
        if not await send_unless_left(self.tx, item, tg.cancel_scope):
            return False
        self.counts.emitted += 1
        return True


def _interruptible(stream: Stream[Any]) -> Stream[Any]:
    """``stream``, run so that ``run.stop()`` from another task interrupts its source.

    A stream without a staged operator runs inline in the iterating task, where a stop is
    a flag checked before the next pull (see ``_core/shutdown.py``): an idle input such as
    ``never()`` would never see it. A buffer after its steps gives its source a task of
    its own, whose waits a stop can cancel (and whose buffered items a stop drains).
    Only inputs that have no staged operator already get one.
    """
    if isinstance(stream.source, TaskSource) or any(
        isinstance(step, StagedStep) for step in stream.steps
    ):
        return stream
    return stream | buffered(INPUT_BUFFER)


Body = Callable[[_Combinator, Sequence[Input], TaskGroup], Awaitable[None]]


async def _run(body: Body, comb: _Combinator, inputs: Sequence[Input]) -> None:
    async with anyio.create_task_group() as tg:
        if comb.stop is not None:
            tg.start_soon(comb.watch_stop, comb.stop, name=f"anystream {comb.name} stop relay")
        await body(comb, inputs, tg)
        tg.cancel_scope.cancel()  # the stop relay, and zip's inputs after the shortest ended


def _source(name: str, body: Body, streams: Sequence[Stream[Any]]) -> TaskSource[Any]:
    async def run(tx: MemoryObjectSendStream[Any], stop: StopState) -> None:
        # Never sets ``stop.pulling``: a cancel of this task's scope would abort the
        # input runs (their task groups live in it) instead of letting them drain.
        await _run(body, _Combinator(name, tx, stop, StageCounts()), streams)

    return TaskSource(run, name, inputs=tuple(streams))


def _staged(name: str, body: Body, others: Sequence[Stream[Any]]) -> Operator[Any, Any]:
    async def run(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        # The upstream stops with the run's source; ``ctx.stop`` lets the watcher stop
        # the other streams too (and ``concat`` start no more of them).
        await _run(body, _Combinator(name, tx, ctx.stop, ctx.counts), [rx, *others])

    return Operator((StagedStep(name, run),))


def _check_streams(op: str, streams: Sequence[Any], *, first: int = 1) -> None:
    """Refuse anything but anystream Streams, saying what was passed and what to do."""
    for position, stream in enumerate(streams, start=first):
        if isinstance(stream, Stream):
            continue
        got = "None" if stream is None else f"{type(stream).__name__} {stream!r:.60}"
        if isinstance(stream, list | tuple | set | frozenset) and (
            not stream or builtins.all(isinstance(s, Stream) for s in stream)
        ):
            kind = type(stream).__name__
            raise TypeError(
                f"{op}(): pass the streams as separate arguments: {op}(*streams); "
                f"argument {position} is a {kind} (expected an anystream Stream)"
            )
        if isinstance(stream, Operator):
            hint = "; an Operator is a step, not a source: apply it to a stream with stream | op"
        elif hasattr(stream, "__iter__") or hasattr(stream, "__aiter__"):
            hint = "; wrap an iterable or async generator with from_iterable()"
        else:
            hint = ""
        raise TypeError(
            f"{op}(): argument {position} must be a Stream: expected an anystream Stream, "
            f"got {got}{hint}"
        )


# -- merge ------------------------------------------------------------------------------------


async def _merge_body(comb: _Combinator, inputs: Sequence[Input], tg: TaskGroup) -> None:
    async def forward(index: int, source: Input) -> None:
        async with comb.open(index, source) as items:
            async for item in items:
                if not await comb.emit(item, tg):
                    return

    async with anyio.create_task_group() as forwarders:
        for index, source in enumerate(inputs):
            forwarders.start_soon(forward, index, source, name=f"anystream {comb.name} input")


def merge(*streams: Stream[T]) -> Stream[T]:
    """Emit the items of all ``streams`` as they arrive, interleaved; end when all have ended.

    ::

        a:        -1---2-----3|
        b:        ---x----y|
        merge:    -1-x-2--y--3|

    Items of one input keep their order; between inputs, arrival order. Each input runs
    concurrently and pauses while its item waits for the consumer (backpressure: at most
    one item in hand per input). An error in any input ends the merge and closes the
    others. ``merge()`` is empty. aiostream: ``stream.merge``; RxJS ``merge``.
    """
    _check_streams("merge", streams)
    return Stream(_source(f"merge({len(streams)})", _merge_body, streams))


def merge_with(*others: Stream[T], name: str | None = None) -> Operator[T, T]:
    """Pipeable :func:`merge`: ``s | merge_with(t, u)`` interleaves ``s``, ``t`` and ``u``.

    Ends when the upstream and every other stream have ended. A graceful stop of the run
    stops the upstream and every other stream, and all they pulled drains through, so
    ``s | merge_with(interval(1))`` ends promptly.
    """
    _check_streams("merge_with", others)
    return _staged(step_name("merge_with", name, f"merge_with({len(others)})"), _merge_body, others)


# -- concat -----------------------------------------------------------------------------------


async def _emit_all(comb: _Combinator, index: int, stream: Stream[Any], tg: TaskGroup) -> bool:
    """Forward every item of ``stream``, an input run on its own; False if the consumer left."""
    if comb.stop is not None and _is_inline(stream):
        return await _emit_inline(comb, index, stream, tg)
    async with comb.open(index, stream) as items:
        async for value in items:
            if not await comb.emit(value, tg):
                return False
    return True


def _is_inline(stream: Stream[Any]) -> bool:
    return not isinstance(stream.source, TaskSource) and not any(
        isinstance(step, StagedStep) for step in stream.steps
    )


async def _emit_inline(comb: _Combinator, index: int, stream: Stream[Any], tg: TaskGroup) -> bool:
    """``_emit_all`` for a stream with no task of its own: run it in this task.

    For the inputs that run one at a time (``concat``, ``catch``, ``retry_stream``). The
    concurrent combinators give such an input a buffer, so that a graceful stop can
    interrupt an idle source (``_interruptible``); but that buffer reads up to
    ``INPUT_BUFFER`` items ahead of a lazy source, and a failure of the run cancels it
    before the items already in it were forwarded, while RxJS, Kotlin and aiostream
    deliver every item emitted before an error (``catch`` and ``retry_stream`` must not
    lose them). So a sequential input runs inline and the stop is relayed here: the run is
    told to stop (it ends before its next pull), and if its source is waiting for an item
    at that moment, that wait is cancelled (nothing pulled is lost: this is the runner's
    own rule for a source task, ``_core/shutdown.py``).
    """
    stop = comb.stop
    assert stop is not None
    scope = anyio.CancelScope()
    try:
        async with stream.stream() as run:

            async def relay() -> None:
                await stop.wait()
                run.stop()
                if run._stop.pulling:  # waiting inside the source: interrupt that wait
                    scope.cancel()

            watcher = anyio.CancelScope()
            tg.start_soon(_watch, relay, watcher, name=f"anystream {comb.name} stop")
            try:
                with scope:
                    async for value in run:
                        if not await comb.emit(value, tg):
                            return False
            finally:
                watcher.cancel()
    except Exception as exc:
        add_operator_note(exc, f"{comb.name}, input {index + 1}")
        raise
    return True


async def _watch(relay: Callable[[], Any], scope: anyio.CancelScope) -> None:
    with scope:
        await relay()


async def _concat_body(comb: _Combinator, inputs: Sequence[Input], tg: TaskGroup) -> None:
    for index, source in enumerate(inputs):
        if comb.is_stopping():
            return
        if isinstance(source, Stream):
            if not await _emit_all(comb, index, source, tg):
                return
            continue
        async with comb.open(index, source) as items:
            async for item in items:
                if not await comb.emit(item, tg):
                    return


def concat(*streams: Stream[T]) -> Stream[T]:
    """Emit every item of the first stream, then of the second, and so on.

    ::

        a:        -1-2|
        b:             -3-4|      (b starts only when a has ended)
        concat:   -1-2-3-4|

    Each input is started only when the previous one has ended, so an endless input
    hides the ones after it. An input with no staged operator runs in concat's own task
    and is asked for its next item only once the previous one was handed on (one item
    ahead of the consumer at most); every item an input emitted before failing is
    emitted before its error. A graceful stop drains the current input and starts no
    other. aiostream: ``stream.chain``; RxJS ``concat``.
    """
    _check_streams("concat", streams)
    return Stream(_source(f"concat({len(streams)})", _concat_body, streams))


def concat_with(*others: Stream[T], name: str | None = None) -> Operator[T, T]:
    """Pipeable :func:`concat`: ``s | concat_with(t)`` emits ``s``, then ``t``.

    A graceful stop drains the stream currently running (the upstream or one of the
    ``others``) and starts no further one.
    """
    _check_streams("concat_with", others)
    return _staged(
        step_name("concat_with", name, f"concat_with({len(others)})"), _concat_body, others
    )


# -- zip --------------------------------------------------------------------------------------


def _zip_body(strict: bool) -> Body:
    async def body(comb: _Combinator, inputs: Sequence[Input], tg: TaskGroup) -> None:
        # Every input (the pipeable form's upstream too) is run by a feeder task that puts
        # its items into its slot of the row being built, so all inputs work on their next
        # item concurrently, and an input's end is seen when it happens, not when zip next
        # asks that input for an item (see ``_ZipRows``).
        rows = _ZipRows(comb, len(inputs), strict)
        try:
            async with anyio.create_task_group() as feeders:
                for index, source in enumerate(inputs):
                    feeders.start_soon(rows.feed, index, source, name="anystream zip input")
                try:
                    await rows.run(tg)
                finally:
                    feeders.cancel_scope.cancel()  # close the inputs that have not ended
        except BaseExceptionGroup as group:
            # An input's own error and zip's length check can fail in the same pass; the
            # input's error is the cause, and reaches the caller as itself.
            own = [e for e in _real_leaves(group) if e is not rows.length_error]
            if len(own) == 1:
                reraise_unwrapped(own[0])
            raise

    return body


def _real_leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _real_leaves(inner)]
    return [] if isinstance(exc, anyio.get_cancelled_exc_class()) else [exc]


class _ZipRows:
    """zip's row under construction: one slot per input, filled by that input's feeder.

    A feeder puts its item in its empty slot (and otherwise waits for the row to be
    emitted), then pulls its next one: each input is at most one item ahead of the row.
    The assembler (``run``) sleeps until a feeder fills a slot or ends, so the moment an
    input has ended with its slot still empty, no more rows can be formed and zip ends,
    however slow or idle the other inputs are (``zip(never(), empty())`` ends at once).
    """

    def __init__(self, comb: _Combinator, width: int, strict: bool) -> None:
        self.comb = comb
        self.width = width
        self.strict = strict
        self.row: list[Any] = [_MISSING] * width
        self.filled = 0
        self.ended: set[int] = set()
        self.length_error: ValueError | None = None
        self._changed: anyio.Event | None = None
        self._space: list[anyio.Event | None] = [None] * width

    def _wake(self) -> None:
        changed = self._changed
        if changed is not None:
            changed.set()

    async def feed(self, index: int, source: Input) -> None:
        try:
            async with self.comb.open(index, source) as items:
                async for item in items:
                    while self.row[index] is not _MISSING:
                        self._space[index] = space = anyio.Event()
                        await space.wait()
                    self.row[index] = item
                    self.filled += 1
                    self._wake()
        finally:
            self.ended.add(index)
            self._wake()

    def _next_row(self) -> None:
        self.row[:] = [_MISSING] * self.width
        self.filled = 0
        for index, space in enumerate(self._space):
            if space is not None:
                self._space[index] = None
                space.set()

    async def run(self, tg: TaskGroup) -> None:
        comb = self.comb
        count = 0
        while self.width:
            if self.filled == self.width:
                comb.counts.received += 1  # the staged form's upstream is input 0
                row = tuple(self.row)
                self._next_row()
                if not await comb.emit(row, tg):
                    return
                count += 1
                continue
            short = [index for index in self.ended if self.row[index] is _MISSING]
            if short:
                if not self.strict or comb.is_stopping():
                    return
                if self.filled + len(short) == self.width:
                    if self.filled:
                        self.length_error = _length_error(comb.name, self.row, short, count)
                        raise self.length_error
                    return  # all ended together: equal lengths
                # strict: wait until every input has either an item for this row or ended,
                # so that the error names all the inputs involved, whatever the timing.
            self._changed = changed = anyio.Event()
            try:
                await changed.wait()
            finally:
                self._changed = None


def _length_error(name: str, row: list[Any], short: list[int], count: int) -> ValueError:
    """The ``ValueError`` of ``builtins.zip(strict=True)``, naming inputs and lengths."""
    shortest = min(short)
    longer = [index for index, value in enumerate(row) if value is not _MISSING]
    before = [index for index in longer if index < shortest]
    if before:
        if before == list(builtins.range(shortest)):
            which = "1" if shortest == 1 else f"1-{shortest}"
        else:
            which = ", ".join(str(index + 1) for index in before)
        return ValueError(
            f"{name}: input {shortest + 1} is shorter than input {which} "
            f"(it ended after {count} items; the others have at least {count + 1})"
        )
    first = longer[0]
    return ValueError(
        f"{name}: input {first + 1} is longer than input {shortest + 1} "
        f"(input {shortest + 1} ended after {count} items; input {first + 1} has at least "
        f"{count + 1})"
    )


@overload
def zip(s1: Stream[T1], /, *, strict: bool = ...) -> Stream[tuple[T1]]: ...
@overload
def zip(s1: Stream[T1], s2: Stream[T2], /, *, strict: bool = ...) -> Stream[tuple[T1, T2]]: ...
@overload
def zip(
    s1: Stream[T1], s2: Stream[T2], s3: Stream[T3], /, *, strict: bool = ...
) -> Stream[tuple[T1, T2, T3]]: ...
@overload
def zip(
    s1: Stream[Any],
    s2: Stream[Any],
    s3: Stream[Any],
    s4: Stream[Any],
    /,
    *streams: Stream[Any],
    strict: bool = ...,
) -> Stream[tuple[Any, ...]]: ...
def zip(*streams: Stream[Any], strict: bool = False) -> Stream[tuple[Any, ...]]:
    """Emit tuples of the ``n``-th item of every stream; end with the shortest.

    ::

        a:     -1---2---3|
        b:     ---x-y|
        zip:   ---(1,x)-(2,y)|

    zip ends as soon as an input has ended with no item waiting for the current tuple
    (no more tuples can be formed), whatever the other inputs are doing: ``zip(never(),
    empty())`` ends at once, and with ``a`` ending at t=8 and ``b`` at t=6 zip ends at 6
    (RxJS ``zip``). Like ``builtins.zip``, the items already taken from the others for the
    unfinished tuple are discarded, and every other input is closed before zip ends.
    With ``strict=True``, inputs of different lengths raise ``ValueError`` naming the
    inputs and lengths: zip then waits until every input has either an item for the
    current tuple or has ended, so that the message names them all. An error of an input
    reaches the caller as itself (with a note naming the input), even when a length
    mismatch is found in the same instant. All inputs run concurrently, each at most one
    item ahead of the tuple being built. aiostream: ``stream.zip`` (no ``strict``); RxJS
    ``zip``; Kotlin ``zip`` (two flows).
    """
    _check_strict_flag("zip", strict)
    _check_streams("zip", streams)
    name = "zip" if not strict else "zip(strict=True)"
    return Stream(_source(name, _zip_body(strict), streams))


class ZippedWith(Operator[Any, Any], Generic[*Ts]):
    """The type of ``zip_with(*others)`` and ``with_latest_from(other)``.

    Turns a ``Stream[T]`` into a ``Stream[tuple[T, *Ts]]``.

    ``Ts`` are the item types of the other streams; the first item type comes from the
    stream it is piped into (as for :class:`~anystream.SameOperator`), so
    ``events | zip_with(numbers)`` is ``Stream[tuple[Event, int]]``.
    """

    __slots__ = ()

    def _pipe_into(self, stream: Stream[X], /) -> Stream[tuple[X, *Ts]]:
        return stream._extend(self._steps)

    def __ror__(
        self, other: Callable[[Stream[X]], Stream[Y]]
    ) -> Callable[[Stream[X]], Stream[tuple[Y, *Ts]]]:
        # ``fn | op``: a function from stream to stream, then this operator.
        return super().__ror__(other)


@overload
def zip_with(
    s1: Stream[T1], /, *, strict: bool = ..., name: str | None = ...
) -> ZippedWith[T1]: ...
@overload
def zip_with(
    s1: Stream[T1], s2: Stream[T2], /, *, strict: bool = ..., name: str | None = ...
) -> ZippedWith[T1, T2]: ...
@overload
def zip_with(
    s1: Stream[T1],
    s2: Stream[T2],
    s3: Stream[T3],
    /,
    *,
    strict: bool = ...,
    name: str | None = ...,
) -> ZippedWith[T1, T2, T3]: ...
@overload
def zip_with(
    s1: Stream[Any],
    s2: Stream[Any],
    s3: Stream[Any],
    s4: Stream[Any],
    /,
    *others: Stream[Any],
    strict: bool = ...,
    name: str | None = ...,
) -> ZippedWith[*tuple[Any, ...]]: ...
def zip_with(
    *others: Stream[Any], strict: bool = False, name: str | None = None
) -> ZippedWith[*tuple[Any, ...]]:
    """Pipeable :func:`zip`: ``s | zip_with(t)`` emits ``(s_item, t_item)`` tuples."""
    _check_strict_flag("zip_with", strict)
    _check_streams("zip_with", others)
    name = step_name("zip_with", name, "zip_with" if not strict else "zip_with(strict=True)")
    return ZippedWith(_staged(name, _zip_body(strict), others).steps)


def _check_strict_flag(op: str, strict: object) -> None:
    if not isinstance(strict, bool):
        raise TypeError(f"{op}(): strict must be True or False, got {strict!r}")


# -- zip_latest -------------------------------------------------------------------------------


def _zip_latest_body(partial: bool) -> Body:
    async def body(comb: _Combinator, inputs: Sequence[Input], tg: TaskGroup) -> None:
        latest = [_MISSING] * len(inputs)
        missing = len(inputs)

        async def forward(index: int, source: Input) -> None:
            nonlocal missing
            async with comb.open(index, source) as items:
                async for item in items:
                    if latest[index] is _MISSING:
                        missing -= 1
                    latest[index] = item
                    if partial or missing == 0:
                        # The tuple is a snapshot taken on arrival; this input waits
                        # (and so pulls nothing more) until the consumer takes it.
                        row = tuple(None if v is _MISSING else v for v in latest)
                        if not await comb.emit(row, tg):
                            return
            if not partial and latest[index] is _MISSING:
                # No tuple can ever be complete: end now (RxJS combineLatest would wait for
                # the other inputs to complete: see docs/operators.md).
                forwarders.cancel_scope.cancel()

        async with anyio.create_task_group() as forwarders:
            for index, source in enumerate(inputs):
                forwarders.start_soon(forward, index, source, name="anystream zip_latest input")

    return body


@overload
def zip_latest(s1: Stream[T1], /, *, partial: Literal[False]) -> Stream[tuple[T1]]: ...
@overload
def zip_latest(s1: Stream[T1], /, *, partial: bool = ...) -> Stream[tuple[T1 | None]]: ...
@overload
def zip_latest(
    s1: Stream[T1], s2: Stream[T2], /, *, partial: Literal[False]
) -> Stream[tuple[T1, T2]]: ...
@overload
def zip_latest(
    s1: Stream[T1], s2: Stream[T2], /, *, partial: bool = ...
) -> Stream[tuple[T1 | None, T2 | None]]: ...
@overload
def zip_latest(
    s1: Stream[T1], s2: Stream[T2], s3: Stream[T3], /, *, partial: Literal[False]
) -> Stream[tuple[T1, T2, T3]]: ...
@overload
def zip_latest(
    s1: Stream[T1], s2: Stream[T2], s3: Stream[T3], /, *, partial: bool = ...
) -> Stream[tuple[T1 | None, T2 | None, T3 | None]]: ...
@overload
def zip_latest(
    s1: Stream[Any],
    s2: Stream[Any],
    s3: Stream[Any],
    s4: Stream[Any],
    /,
    *streams: Stream[Any],
    partial: bool = ...,
) -> Stream[tuple[Any, ...]]: ...
def zip_latest(*streams: Stream[Any], partial: bool = True) -> Stream[tuple[Any, ...]]:
    """Whenever any stream emits, emit a tuple of the latest item of every stream.

    ::

        a:           -1-----2----|
        b:           ---x-y---|
        zip_latest:  -(1,None)-(1,x)-(1,y)-(2,y)|        (partial=True)
        zip_latest:  ---(1,x)-(1,y)-(2,y)|               (partial=False)

    With ``partial=True`` (the default) tuples start with the first item of any input,
    ``None`` standing for inputs that have not emitted yet; with ``partial=False``
    nothing is emitted until every input has emitted once, and if an input ends without
    ever emitting, the result ends at once. Otherwise it ends when all inputs have ended.
    Each tuple is a snapshot taken when its item arrived; the input that sent it waits
    until the consumer takes the tuple. aiostream: ``stream.ziplatest`` (same
    ``partial``); RxJS ``combineLatest`` is ``partial=False`` except at completion: it
    completes only once every input has completed, even one that never emitted.
    """
    if not isinstance(partial, bool):
        raise TypeError(f"zip_latest(): partial must be True or False, got {partial!r}")
    _check_streams("zip_latest", streams)
    name = "zip_latest" if partial else "zip_latest(partial=False)"
    return Stream(_source(name, _zip_latest_body(partial), streams))
