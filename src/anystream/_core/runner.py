"""The runner: turns a stream description into tasks, and owns all of them.

A run compiles the chain into *nodes*::

    [segment] -> boundary -> [segment or stage task] -> boundary -> ... -> [segment]

A *segment* is a maximal run of per-item steps (fused kernels and generator operators)
executed as one loop; a *boundary* is a bounded anyio memory object stream; a *stage* is
a staged operator's task. The first segment owns the source; the last one runs in the
consumer's own task, as the async generator its ``async for`` drives. Every other
segment and stage is a task in one task group owned by :class:`Run`, an async context
manager: only a context manager may keep a task group open while the consumer's code
runs, an async generator may not (docs/concepts.md).

A pipeline with no staged operator needs no task at all: the whole chain is one fused
loop in the consumer's task, and ``collect()`` appends to its list directly.

Three steps, three places. ``plan.py`` builds the node list and the segments' loops;
``wiring.py`` turns the nodes into links, tasks and the resources to close, without
running anything; this module is the lifecycle: one :class:`~contextlib.AsyncExitStack`
holding the run's resources and its task group, entered with the run and unwound in one
go when it is left, and the one helper (:func:`_produce`) every task runs in. Shutdown
is documented in ``shutdown.py``, error unwrapping in ``errors.py``, acknowledgements in
``acks.py``, timing in ``timing.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
from anyio import BrokenResourceError, CancelScope
from anyio.abc import TaskGroup

from .acks import RunTracking, require_tracking
from .errors import collapse, reraise, reraise_unwrapped, unwrap
from .handoff import Producer, downstream_left, end_output
from .hooks import progress_view
from .plan import close_all, plan, untracked_steps
from .shutdown import Aborted, StopState, check_grace, relay_signals
from .source import TaskSource
from .stats import OpStats, RunStats
from .wiring import Task, Wiring

if TYPE_CHECKING:
    from .latency import LatencyReport
    from .stream import Stream
    from .timing import Timer

__all__ = ["Run", "StopState"]

T_co = TypeVar("T_co", covariant=True)


class Run(Generic[T_co]):
    """One execution of a stream: an async context manager and an async iterator.

    ::

        async with stream.stream() as items:
            async for item in items:
                ...

    Leaving the ``async with`` block early (``break``, an exception, cancellation) stops
    every task and closes every generator of the pipeline before the block exits.
    ``stop()`` asks for a graceful stop, ``abort()`` for an immediate one, ``stats()``
    returns the live counters.
    """

    def __init__(
        self,
        stream: Stream[T_co],
        *,
        handle_signals: bool = False,
        grace: float | None = None,
        timing: bool = False,
        clock: Callable[[], float] | None = None,
        progress: bool = False,
    ) -> None:
        self._stream = stream
        self._handle_signals, self._grace = handle_signals, grace
        self._timing, self._clock, self._progress = timing, clock, progress
        self._progress_view: AbstractAsyncContextManager[Any] | None = None
        self._stop = StopState()
        self._timer: Timer | None = None
        self._source_scope: CancelScope | None = None
        self._tg: TaskGroup | None = None
        # One scope per helper task (signal watcher, grace timer): cancelled at the end.
        self._helper_scopes: list[CancelScope] = []
        self._producers: list[Producer] = []
        self._wiring: Wiring | None = None
        # The resources and the task group, unwound in one go when the run is left. None
        # in a run with no task: leaving it closes the consumer's loop and the source.
        self._stack: AsyncExitStack | None = None
        self._final: Any = None
        self._entered = False
        self._abort_error: BaseException | None = None
        # Only once the consumer has left its ``async for`` (the run is being exited) may
        # the runner close the stream the consumer's loop reads.
        self._consumer_left = False
        self._ran_to_end = False  # the consumer's loop met the end of its input
        self._stats, self._tracking = _stats_and_tracking(stream)

    # -- stats and control ---------------------------------------------------------------

    def stats(self) -> RunStats:
        """The live counters of this run (see :class:`RunStats`)."""
        return self._stats

    def latency(self) -> LatencyReport:
        """Per-stage wait / compute / blocked and end-to-end latency (``timing=True``).

        Available during and after the run; see ``anystream._core.timing``.
        """
        if self._timer is None:
            raise _untimed(self._timing)
        return self._timer.report()

    @property
    def stopping(self) -> bool:
        """True once a graceful stop was requested."""
        return self._stop.stopping

    def stop(self, *, grace: float | None = None) -> None:
        """Ask for a graceful stop: the source stops, everything pulled drains through.

        Safe to call from the consuming task, from any other task of the same event loop,
        and more than once. With ``grace`` (or the run's ``grace``), the run is aborted if
        the drain has not finished that many seconds later: a finite number >= 0.
        """
        check_grace("run.stop()", grace)
        first = not self._stop.stopping
        self._stop.request()
        scope = self._source_scope
        if scope is not None and self._stop.pulling:
            # The source task is waiting inside the source, not inside a send: cancelling
            # it now loses nothing that was pulled. See shutdown.py.
            scope.cancel()
        grace = self._grace if grace is None else grace
        if first and grace is not None and self._tg is not None:
            self._tg.start_soon(_grace_timer, self._helper(), grace, self.abort)

    def abort(self, error: BaseException | None = None) -> None:
        """Stop at once: cancel every task and close every generator.

        ``error``, if given, is raised from the ``async with`` block once everything is
        closed (the runner passes ``KeyboardInterrupt`` for a second Ctrl-C). The run
        ends within a bounded time whatever it is doing (see shutdown.py); what the abort
        discarded is counted in ``stats().discarded``.
        """
        if error is not None and self._abort_error is None:
            self._abort_error = error
        if self._tg is not None:
            self._cancel_tasks()
        else:
            # No task to cancel: the whole pipeline is the consumer's own loop, which
            # checks the stop before every pull. It ends there, and the error (if any)
            # is raised when the run is exited.
            self._stop.request()
            self._stop.abort()

    def _cancel_tasks(self) -> None:
        """The abort itself: cancel the task group and break every shielded wait.

        The shielded finish of the item in hand must not outlive an abort (shutdown.py,
        "An abort always ends the run"): ``StopState.abort()`` cancels those shields, and
        closing the consumer's side of its hand-off makes a send parked on it fail at once
        (``BrokenResourceError``: not delivered, counted as discarded by the hand-off).
        """
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        self._stop.abort()
        upstream = self._wiring.final_upstream if self._wiring is not None else None
        if upstream is not None and self._consumer_left:
            upstream.close()

    def _helper(self) -> CancelScope:
        """The scope of a helper task (grace timer, signal watcher): cancelled on leaving."""
        scope = CancelScope()
        self._helper_scopes.append(scope)
        return scope

    # -- the lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Run[T_co]:
        await self._enter()
        if self._progress:
            self._progress_view = await _open_view(self)
        return self

    async def _enter(self) -> None:
        if self._entered:
            raise RuntimeError("a Run can be entered only once; call stream.stream() again")
        self._entered = True
        nodes = plan(self._stream._steps)
        source = self._stream._source
        if self._tracking is not None:
            require_tracking(untracked_steps(nodes))
        wiring = Wiring(source, self._stats, self._stop, self._tracking)
        outside = self._handle_signals or self._grace is not None or self._timing
        if len(nodes) == 1 and not isinstance(source, TaskSource) and not outside:
            # No staged operator and no stop to enforce from outside: one loop, no task.
            wiring.inline(nodes[0])
            self._wiring = wiring
            return
        # Unwound in reverse: leave (close the consumer's loop, cancel what is left), the
        # task group's exit, the resources, and last the count of what an abort discarded.
        stack = self._stack = AsyncExitStack()
        stack.callback(_count_discarded, self, wiring)
        try:
            try:
                wiring.tasks_for(nodes, timing=self._timing, clock=self._clock)
            finally:  # what the wiring made is closed, even if it failed half way
                _push_resources(stack, wiring)
            self._timer, self._source_scope = wiring.timer, wiring.source_scope
            tg = self._tg = await stack.enter_async_context(anyio.create_task_group())
            if self._handle_signals:
                await tg.start(_watch_signals, self._helper(), self._stop, self.stop, self.abort)
            for task in wiring.tasks:
                tg.start_soon(_produce, task, self._producers, name=task.name)
        except BaseException as exc:
            if self._tg is not None:
                self._tg.cancel_scope.cancel()
            await self._exit(type(exc), exc, exc.__traceback__)
            raise
        self._wiring = wiring
        stack.push_async_exit(self._leave)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        view_error = await _close_view(self._progress_view)
        self._progress_view = None
        try:
            if self._stack is not None:
                suppress: bool | None = await self._exit(exc_type, exc, tb)
            else:
                suppress = None
                await _close_inline(self._wiring, exc)
                if self._abort_error is not None and exc is None:
                    error, self._abort_error = self._abort_error, None
                    raise error
            if view_error is not None:
                raise view_error
            return suppress
        finally:
            if self._tracking is not None and self._tracking.live:
                # Whatever is still in flight was not fully handled: nack it (acks.py).
                self._tracking.abandon(exc if isinstance(exc, BaseException) else None)

    async def _leave(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """The consumer has left: close its loop, stop what is left (unwound first).

        A failure closing its loop replaces ``exc`` on the way into the task group.
        """
        assert self._wiring is not None
        self._consumer_left = True
        self._ran_to_end = exc is None and self._wiring.end_of_input.reached
        try:
            with CancelScope(shield=True):
                await close_all(self._wiring.final_closables)
        except BaseException:
            self._ran_to_end = False
            raise
        finally:
            if not self._ran_to_end:
                self._cancel_tasks()
            else:
                _cancel_orphans(self._producers)
            for scope in self._helper_scopes:
                scope.cancel()

    async def _exit(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        assert self._stack is not None
        try:
            suppress = bool(await self._stack.__aexit__(exc_type, exc, tb))
        except BaseException as raised:
            reraise_unwrapped(raised)
            raise  # pragma: no cover - reraise_unwrapped always raises
        if self._abort_error is not None:
            error, self._abort_error = self._abort_error, None
            raise _with_discard_note(error, self._stats)
        return suppress

    # -- iteration -----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T_co]:
        if self._final is None:
            if self._wiring is None:
                raise RuntimeError("iterate a Run inside its 'async with' block")
            self._final = self._wiring.consumer_loop("yield", None)
        return self._final  # type: ignore[no-any-return]

    async def __anext__(self) -> T_co:
        return await self.__aiter__().__anext__()

    async def _collect(self) -> list[T_co]:
        """Drain the run into a list with the final loop appending directly."""
        if self._final is not None or self._wiring is None:
            raise RuntimeError("collect() needs a fresh run")
        if self._timer is not None:  # timing measures each delivery: iterate
            return [item async for item in self]
        result: list[T_co] = []
        self._final = self._wiring.consumer_loop("list", result)
        await self._final
        return result


async def _grace_timer(
    scope: CancelScope, grace: float, abort: Callable[[BaseException], None]
) -> None:
    with scope:
        await anyio.sleep(grace)
        abort(Aborted(f"the graceful stop did not finish within {grace:g} s"))


async def _watch_signals(
    scope: CancelScope,
    state: StopState,
    stop: Callable[[], None],
    abort: Callable[[BaseException], None],
    *,
    task_status: Any = anyio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await relay_signals(lambda: state.stopping, stop, abort, task_status=task_status)


def _untimed(timing: bool) -> RuntimeError:
    return RuntimeError(
        "this run was not timed: start it with stream.stream(timing=True)"
        if not timing
        else "timing starts when the run is entered (async with)"
    )


def _count_discarded(run: Run[Any], wiring: Wiring) -> None:
    if not run._ran_to_end:  # left early: count what the tasks' cancellation discarded
        wiring._count_discarded()


def _stats_and_tracking(stream: Stream[Any]) -> tuple[RunStats, RunTracking | None]:
    """A run's counters (the source's, then each step's) and acknowledgement tracking."""
    source = stream._source
    stats = RunStats([OpStats(source.name)] + [OpStats(step.name) for step in stream._steps])
    stream._last_stats = stats
    if not source.acknowledged:
        return stats, None
    return stats, RunTracking(source.name, task_source=isinstance(source, TaskSource))


async def _produce(task: Task, producers: list[Producer]) -> None:
    """Run one task of the run into its output; end the output when the task ends.

    The one place a task of the run ends. The consumer having left is a quiet end,
    and a task's own group of failures is collapsed to its first one (errors.py).
    An ``in_band`` task (a segment: the source and per-item operators, which a pull
    would have run in order) does not raise its failure here: it is left on the
    output's receive side, behind the items already sent, and the output is closed
    (handoff.BoundaryReceive). The receiver raises it when it gets there, or never,
    if it stops reading first. A staged operator's failure fails the run at once: its
    tasks may feed side channels (``group_by``'s groups) that would wait for it. Then
    the task closes its input and what it owns (for a segment, its generators and the
    source), so their ``finally`` blocks run as soon as it ends.
    """
    producer = Producer(task.output)
    producers.append(producer)
    downstream = task.output
    try:
        try:
            with producer.scope, task.scope if task.scope is not None else nullcontext():
                await task.work
        except BrokenResourceError as broken:
            if not downstream_left(downstream):
                _fail(task, broken, broken)
        except BaseExceptionGroup as group:
            error = collapse(group)
            if not (isinstance(error, BrokenResourceError) and downstream_left(downstream)):
                _fail(task, group, error)
        except Exception as error:
            if not task.in_band:
                raise
            _fail(task, error, error)
        producer.ended = True
        end_output(downstream)
    finally:
        if task.upstream is not None:
            task.upstream.close()
        if task.closables:
            with CancelScope(shield=True):
                await close_all(task.closables)


def _fail(task: Task, raised: BaseException, error: BaseException) -> None:
    end = task.end if task.in_band else None
    if end is None or not isinstance(error, Exception):
        reraise(raised, error)  # a stage's failure, a cancellation...: at once
        return  # pragma: no cover - reraise always raises
    end.fail(error)


def _close_unstarted(work: Awaitable[None]) -> None:
    """Close a task's coroutine that never ran (its wiring or start failed half way)."""
    if inspect.iscoroutine(work) and inspect.getcoroutinestate(work) == inspect.CORO_CREATED:
        work.close()


async def _close(item: Any) -> None:
    with CancelScope(shield=True):
        await close_all([item])


def _push_resources(stack: AsyncExitStack, wiring: Wiring) -> None:
    """Close every stream and generator of the run when ``stack`` unwinds (after its tasks).

    On asyncio a task cancelled before its first step never runs its body, so its own
    ``finally`` never closed what it owned. The stack is LIFO: the streams close first,
    then the generators, downstream first, so each upstream's ``finally`` runs last.
    """
    for item in wiring.closables:
        stack.push_async_callback(_close, item)
    for task in wiring.tasks:
        stack.callback(_close_unstarted, task.work)
    for end in wiring.streams:
        stack.callback(end.close)


async def _close_inline(wiring: Wiring | None, exc: BaseException | None) -> None:
    """Leave a run with no task: close the consumer's loop, then the source's side."""
    if wiring is not None:
        with CancelScope(shield=True):
            await close_all(wiring.final_closables)
        with CancelScope(shield=True):
            await close_all(wiring.closables)
    if isinstance(exc, BaseExceptionGroup):
        # The consumer's own task group wrapped an operator's error: unwrap it as the
        # task group of a staged run does (errors.py), so that adding or removing a
        # buffered() does not change what ``except`` catches.
        leaf = unwrap(exc)
        if leaf is not exc:
            reraise(exc, leaf)


async def _open_view(run: Run[Any]) -> AbstractAsyncContextManager[Any]:
    """Enter the progress view of ``run`` (entered last); leave the run if that fails.

    Registered by the outer layer (anystream/__init__.py): the core imports nothing from
    anystream.observe, and rich / IPython are optional.
    """
    view = progress_view(run)
    try:
        await view.__aenter__()
    except BaseException as exc:
        await run.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    return view


async def _close_view(view: AbstractAsyncContextManager[Any] | None) -> BaseException | None:
    """Leave the progress view (entered last, left first); return what it raised.

    Its monitor task group is nested in the run's; it draws once more with the final
    counts. A cancellation here is the run's own abort arriving early: the run's exit
    deals with it.
    """
    if view is None:
        return None
    try:
        await view.__aexit__(None, None, None)
    except anyio.get_cancelled_exc_class():
        pass
    except BaseException as error:
        return error
    return None


def _cancel_orphans(producers: list[Producer]) -> None:
    """The consumer saw the end of input: stop the tasks nobody reads any more.

    A task whose output nobody reads (the source behind a take_until that fired) may
    still wait on its own input. A task that ended its output and is finishing up (a
    source flushing acknowledgements) is left to finish.
    """
    for producer in producers:
        if producer.orphaned():
            producer.scope.cancel()


def _with_discard_note(error: BaseException, stats: RunStats) -> BaseException:
    """``error`` (an abort's), noting what the abort left in the hand-offs, if anything."""
    total = stats.discarded_total
    if total:
        error.add_note(
            f"anystream: the abort discarded {total} item(s) still in hand-offs "
            f"(run.stats().discarded: {stats.discarded})"
        )
    return error
