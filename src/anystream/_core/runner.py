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

The node list and the segments' loops are built by ``plan.py``; this module decides
where each runs and owns the tasks. Shutdown is documented in ``shutdown.py``, error
unwrapping in ``errors.py``, acknowledgements in ``acks.py``, timing in ``timing.py``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
from anyio import BrokenResourceError, CancelScope
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .acks import RunTracking, require_tracking
from .errors import collapse, reraise, reraise_unwrapped, unwrap
from .handoff import (
    BoundaryReceive,
    Producer,
    boundary,
    demand_link,
    downstream_left,
    end_output,
    make_put,
    on_demand,
)
from .hooks import progress_view
from .operator import StageContext, StageRun
from .plan import Boundary, Node, Segment, Stage, close_all, plan, stage_names, untracked_steps
from .shutdown import Aborted, StopState, check_grace, relay_signals
from .source import Source, TaskSource
from .stats import OpStats, RunStats, StageCounts

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
        self._progress = progress
        self._progress_view: Any = None
        self._handle_signals = handle_signals
        self._grace = grace
        self._timing = timing
        self._clock = clock
        self._timer: Timer | None = None
        self._stop = StopState()
        self._tg: TaskGroup | None = None
        self._source_scope: CancelScope | None = None
        # One scope per helper task (signal watcher, grace timer): cancelled at the end.
        self._helper_scopes: list[CancelScope] = []
        self._closables: list[Any] = []  # generators and iterators, in creation order
        self._streams: list[Any] = []
        self._final_factory: Callable[[str, Any], Any] | None = None
        self._final: Any = None
        self._final_closables: list[Any] = []
        self._final_upstream: MemoryObjectReceiveStream[Any] | None = None
        self._producers: list[Producer] = []
        # The receive side of each task's output, by id of the send side the task holds:
        # where a failing task leaves its error for its receiver (handoff.BoundaryReceive).
        self._ends: dict[int, BoundaryReceive[Any]] = {}
        self._done = False
        self._entered = False
        self._abort_error: BaseException | None = None
        # Set once the consumer has left its ``async for`` (the run is being exited): only
        # then may the runner close the stream the consumer's loop reads.
        self._consumer_left = False
        self._nodes: list[Node] = []
        source = stream._source
        self._tracking = (
            RunTracking(source.name, task_source=isinstance(source, TaskSource))
            if source.acknowledged
            else None
        )
        self._stats = self._make_stats()
        stream._last_stats = self._stats

    # -- stats ---------------------------------------------------------------------------

    def _make_stats(self) -> RunStats:
        source: Source[Any] = self._stream._source
        ops = [OpStats(source.name)] + [OpStats(step.name) for step in self._stream._steps]
        return RunStats(ops)

    def stats(self) -> RunStats:
        """The live counters of this run (see :class:`RunStats`)."""
        return self._stats

    def latency(self) -> LatencyReport:
        """Per-stage wait / compute / blocked and end-to-end latency (``timing=True``).

        Available during and after the run; see ``anystream._core.timing``.
        """
        if self._timer is None:
            raise RuntimeError(
                "this run was not timed: start it with stream.stream(timing=True)"
                if not self._timing
                else "timing starts when the run is entered (async with)"
            )
        return self._timer.report()

    # -- control -------------------------------------------------------------------------

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
            self._tg.start_soon(self._grace_timer, grace)

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

        Cancelling the task group alone is not enough. After a graceful stop the source
        finishes the item in hand shielded (shutdown.py), and that shield must not outlive
        an abort: its send may wait on a buffer that only the consumer reads, and the
        consumer is about to wait for the source's task. Closing the consumer's side of
        that buffer makes such a send fail at once (``BrokenResourceError``: the item was
        not delivered, and the hand-off counts it as discarded); ``StopState.abort()``
        cancels whatever other shielded finish is still waiting.
        """
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        self._stop.abort()
        if self._final_upstream is not None and self._consumer_left:
            self._final_upstream.close()

    def _helper(self) -> CancelScope:
        scope = CancelScope()
        self._helper_scopes.append(scope)
        return scope

    async def _grace_timer(self, grace: float) -> None:
        with self._helper():
            await anyio.sleep(grace)
            self.abort(Aborted(f"the graceful stop did not finish within {grace:g} s"))

    async def _watch_signals(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        with self._helper():
            await relay_signals(
                lambda: self._stop.stopping, self.stop, self.abort, task_status=task_status
            )

    # -- set-up --------------------------------------------------------------------------

    async def __aenter__(self) -> Run[T_co]:
        run = await self._enter()
        if self._progress:
            # Registered by the outer layer (anystream/__init__.py): the core imports
            # nothing from anystream.observe, and rich / IPython are optional.
            view = progress_view(self)
            try:
                await view.__aenter__()
            except BaseException as exc:
                await self.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            self._progress_view = view
        return run

    async def _enter(self) -> Run[T_co]:
        if self._entered:
            raise RuntimeError("a Run can be entered only once; call stream.stream() again")
        self._entered = True
        nodes = plan(self._stream._steps)
        source = self._stream._source
        if self._tracking is not None:
            require_tracking(untracked_steps(nodes))
        if (
            len(nodes) == 1
            and not isinstance(source, TaskSource)
            and not self._handle_signals
            and self._grace is None
            and not self._timing
        ):
            # No staged operator and no stop to enforce from outside: one loop, no task.
            return self._enter_inline(nodes[0])
        first = nodes[0]
        assert isinstance(first, Segment)
        if not isinstance(source, TaskSource) and (len(nodes) == 1 or first.gens):
            # The source must be alone in its task's cancel scope for a stop to interrupt
            # it: a generator operator after it (scan, take_last...) would be cancelled
            # too and lose what it holds. One rendezvous keeps the source separate. (A
            # task source stops by itself and has its own stream already.)
            nodes[0:1] = [Segment([]), Boundary(0, "block", None), first]
        self._bind_stats(nodes)
        self._nodes = nodes
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        try:
            if self._handle_signals:
                await tg.start(self._watch_signals)
            self._start_tasks(nodes, tg)
        except BaseException as exc:
            tg.cancel_scope.cancel()
            await self._exit_task_group(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _enter_inline(self, segment: Node) -> Run[T_co]:
        """No staged operator: the whole pipeline is one loop in the consumer's task."""
        assert isinstance(segment, Segment)
        self._bind_stats([segment])
        opened = self._stream._source.open()
        self._closables.append(opened[1])

        def final(kind: str, out: Any) -> Any:
            return segment.build(
                opened,
                (kind, out),
                self._stop,
                stoppable=True,
                closables=self._closables,
                tracking=self._tracking,
                is_source=True,
            )

        self._final_factory = final
        return self

    def _bind_stats(self, nodes: list[Node]) -> None:
        ops = self._stats.operators
        first = nodes[0]
        assert isinstance(first, Segment)
        ops[0]._bind_split(first.in_ref, first.in_ref)
        for index, node in enumerate(nodes):
            if isinstance(node, Segment):
                node.bind_stats(ops)
            elif isinstance(node, Stage):
                ops[node.position]._bind(node.counts)
            elif node.position is not None:
                before, after = nodes[index - 1], nodes[index + 1]
                assert not isinstance(before, Boundary)
                assert not isinstance(after, Boundary)
                ops[node.position]._bind_split(before.out_ref, after.in_ref)

    def _start_tasks(self, nodes: list[Node], tg: TaskGroup) -> None:
        ops = self._stats.operators
        source = self._stream._source
        upstream: MemoryObjectReceiveStream[Any] | None = None
        opened: Any = None
        skip = 0
        source_capacity = 0
        if isinstance(source, TaskSource):
            first, after = nodes[0], nodes[1] if len(nodes) > 1 else None
            if (
                self._tracking is None  # a segment must turn Acked items into pairs
                and isinstance(first, Segment)
                and first.empty
                and isinstance(after, Boundary)
                and after.position is None
            ):
                # Nothing between the task source and a stage: let the stage read the
                # source's own stream instead of pumping it through an empty segment.
                skip = 2
                source_capacity = after.capacity
                following = nodes[2]
                assert not isinstance(following, Boundary)
                ops[0]._bind_split(following.in_ref, following.in_ref)
        if self._timing:
            from .timing import Timer  # the sketches are imported only by timed runs

            self._timer = Timer(stage_names(nodes[skip:], source), self._clock or time.perf_counter)
        stage = 0  # index of the next task's stage, for timing
        if isinstance(source, TaskSource):
            tx, rx = self._link(source_capacity, stage)
            stage += 1
            self._source_scope = CancelScope()
            self._stop.source_stats = ops[0]
            tg.start_soon(self._run_task_source, source, tx, name=f"anystream {source.name}")
            upstream = rx
        else:
            opened = source.open()
            if self._timer is not None:
                self._closables.append(opened[1])
                opened = ("aiter", self._timer.source(*opened))
        last = len(nodes) - 1
        for index, node in enumerate(nodes):
            if index < skip or isinstance(node, Boundary):
                continue
            if index == last:
                assert isinstance(node, Segment)
                assert upstream is not None
                from_source = index == 0 and isinstance(source, TaskSource)
                self._final_factory = functools.partial(
                    self._build_final, node, upstream, from_source, stage
                )
                self._final_upstream = upstream
                break
            boundary = nodes[index + 1]
            assert isinstance(boundary, Boundary)
            following = nodes[index + 2]
            if (
                index == 0
                and opened is not None
                and self._timer is None
                and self._tracking is None
                and isinstance(node, Segment)
                and isinstance(following, Stage)
                and following.step.on_demand
                and boundary.capacity == 0
                and boundary.position is None
                and not node.gens
            ):
                # The stage reads nothing ahead (flat_map): the source is asked for an
                # item only when the stage waits for one (handoff.demand_link).
                tx, next_rx, gate = demand_link()
                self._streams += [tx, next_rx]
                self._ends[id(tx)] = next_rx
                self._closables.append(opened[1])  # the wrapper does not close it
                opened = on_demand(opened, gate, functools.partial(_count, *node.out_ref))
            else:
                tx, next_rx = self._link(boundary.capacity, stage)
            stage += 1
            if isinstance(node, Stage):
                assert upstream is not None
                ctx = StageContext(stats=ops[node.position], counts=node.counts, stop=self._stop)
                name = f"anystream {node.step.name}"
                run = node.step.run if self._tracking is None else node.step.tracked
                tg.start_soon(self._run_stage, run, upstream, tx, ctx, name=name)
            else:
                output: tuple[str, Any] = ("send", tx)
                if boundary.overflow != "block":
                    assert boundary.position is not None
                    put = make_put(tx, next_rx, boundary.overflow, ops[boundary.position])
                    output = ("put", put)
                is_source = upstream is None
                closables: list[Any] = [opened[1]] if is_source else []
                self._closables.append(closables)
                src: tuple[str, Any] = opened if is_source else ("stream", upstream)
                loop = node.build(
                    src,
                    output,
                    self._stop,
                    stoppable=is_source,
                    closables=closables,
                    tracking=self._tracking,
                    is_source=is_source or (index == 0 and isinstance(source, TaskSource)),
                )
                scope = None
                if is_source:
                    scope = self._source_scope = CancelScope()
                tg.start_soon(
                    self._run_segment,
                    loop,
                    upstream,
                    tx,
                    closables,
                    scope,
                    name="anystream segment",
                )
            upstream = next_rx

    def _link(self, capacity: int, sender_stage: int) -> tuple[Any, Any]:
        """A boundary stream: (send side, receive side), timed in a timed run."""
        tx, rx = boundary(capacity)
        self._streams += [tx, rx]
        if self._timer is not None:
            timed_tx, timed_rx = self._timer.link(tx, rx, sender_stage)
            self._ends[id(timed_tx)] = rx
            return timed_tx, timed_rx
        self._ends[id(tx)] = rx
        return tx, rx

    def _build_final(
        self,
        segment: Segment,
        upstream: MemoryObjectReceiveStream[Any],
        from_source: bool,
        stage: int,
        kind: str,
        out: Any,
    ) -> Any:
        final = segment.build(
            ("stream", upstream),
            (kind, out),
            self._stop,
            stoppable=False,
            closables=self._final_closables,
            tracking=self._tracking,
            is_source=from_source,
        )
        if self._timer is None:
            return final
        self._final_closables.append(final)
        return self._timer.final(stage, final)

    # -- tasks ---------------------------------------------------------------------------

    async def _run_segment(
        self,
        loop: Any,
        upstream: MemoryObjectReceiveStream[Any] | None,
        downstream: MemoryObjectSendStream[Any],
        closables: list[Any],
        scope: CancelScope | None,
    ) -> None:
        try:
            await self._produce(loop, downstream, scope, in_band=True)
        finally:
            if upstream is not None:
                upstream.close()
            # Close this segment's generators (and the source, for the first segment) now,
            # so their ``finally`` blocks run as soon as the segment ends.
            with CancelScope(shield=True):
                await close_all(closables)

    async def _run_stage(
        self,
        run: StageRun | None,
        upstream: MemoryObjectReceiveStream[Any],
        downstream: MemoryObjectSendStream[Any],
        ctx: StageContext,
    ) -> None:
        assert run is not None
        try:
            await self._produce(run(upstream, downstream, ctx), downstream, None)
        finally:
            upstream.close()

    async def _run_task_source(
        self, source: TaskSource[Any], downstream: MemoryObjectSendStream[Any]
    ) -> None:
        assert self._source_scope is not None
        await self._produce(source.run(downstream, self._stop), downstream, self._source_scope)

    async def _produce(
        self,
        work: Awaitable[None],
        downstream: MemoryObjectSendStream[Any],
        scope: CancelScope | None,
        *,
        in_band: bool = False,
    ) -> None:
        """Run one task's ``work`` into ``downstream``; end the output when it ends.

        The one place a task of the run ends. The consumer having left is a quiet end,
        and a task's own group of failures is collapsed to its first one (errors.py).
        With ``in_band`` (a segment: the source and per-item operators, which a pull
        would have run in order) a failure is not raised here: it is left on the
        output's receive side, behind the items already sent, and the output is closed
        (handoff.BoundaryReceive). The receiver raises it when it gets there, or never,
        if it stops reading first. A staged operator's failure fails the run at once: its
        tasks may feed side channels (``group_by``'s groups) that would wait for it.
        """
        producer = self._producer(downstream)
        try:
            with producer.scope, scope if scope is not None else nullcontext():
                await work
        except BrokenResourceError as broken:
            if not downstream_left(downstream):
                self._fail(downstream, broken, broken, in_band)
        except BaseExceptionGroup as group:
            error = collapse(group)
            if not (isinstance(error, BrokenResourceError) and downstream_left(downstream)):
                self._fail(downstream, group, error, in_band)
        except Exception as error:
            if not in_band:
                raise
            self._fail(downstream, error, error, in_band)
        producer.ended = True
        end_output(downstream)

    def _fail(
        self,
        downstream: MemoryObjectSendStream[Any],
        raised: BaseException,
        error: BaseException,
        in_band: bool,
    ) -> None:
        end = self._ends.get(id(downstream)) if in_band else None
        if end is None or not isinstance(error, Exception):
            reraise(raised, error)  # a stage's failure, a cancellation...: at once
            return  # pragma: no cover - reraise always raises
        end.fail(error)

    def _producer(self, output: MemoryObjectSendStream[Any]) -> Producer:
        producer = Producer(output)
        self._producers.append(producer)
        return producer

    # -- iteration -----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T_co]:
        if self._final is None:
            if self._final_factory is None:
                raise RuntimeError("iterate a Run inside its 'async with' block")
            self._final = self._final_factory("yield", None)
            self._final_closables.append(self._final)
        return self._final  # type: ignore[no-any-return]

    async def __anext__(self) -> T_co:
        return await self.__aiter__().__anext__()

    async def _collect(self) -> list[T_co]:
        """Drain the run into a list with the final loop appending directly."""
        if self._final is not None or self._final_factory is None:
            raise RuntimeError("collect() needs a fresh run")
        if self._timer is not None:  # timing measures each delivery: iterate
            return [item async for item in self]
        result: list[T_co] = []
        self._final = self._final_factory("list", result)
        await self._final
        self._done = True
        return result

    def _finished(self) -> bool:
        """Did the run reach the end of its input (rather than being left early)?

        The consumer's generator cannot tell: a closed async generator looks the same
        whether it ran to its end or was ``aclose()``-d half way (aiostream does that
        after its own ``take``), and neither can ``collect()`` after a ``take``. The
        stream feeding the consumer's segment can: at the end of input every sender has
        closed it and nothing is left in it.
        """
        upstream = self._final_upstream
        if upstream is None:
            return self._done
        # A take() in the consumer's segment may have ended it early while the upstream
        # still runs (or waits on a quiet source): that is not the end of input.
        stats = upstream.statistics()
        return stats.open_send_streams == 0 and stats.current_buffer_used == 0

    # -- tear-down -----------------------------------------------------------------------

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        view, self._progress_view = self._progress_view, None
        view_error: BaseException | None = None
        if view is not None:
            # Entered last, left first (its monitor task group is nested in ours); drawn
            # once more with the final counts. A cancellation here is the run's own abort
            # arriving early: the run's exit below deals with it.
            try:
                await view.__aexit__(None, None, None)
            except anyio.get_cancelled_exc_class():
                pass
            except BaseException as error:
                view_error = error
        try:
            suppress = await self._exit(exc_type, exc, tb)
            if view_error is not None:
                raise view_error
            return suppress
        finally:
            if self._tracking is not None and self._tracking.live:
                # Whatever is still in flight was not fully handled: nack it (acks.py).
                self._tracking.abandon(exc if isinstance(exc, BaseException) else None)

    async def _exit(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        self._consumer_left = True
        finished = exc is None and self._finished()
        try:
            with CancelScope(shield=True):
                await close_all(self._final_closables)
        except BaseException as cleanup_error:
            if self._tg is None:
                raise
            exc_type, exc, tb = type(cleanup_error), cleanup_error, cleanup_error.__traceback__
            finished = False
        if self._tg is None:
            with CancelScope(shield=True):
                await close_all(self._closables)
            if isinstance(exc, BaseExceptionGroup):
                # The consumer's own task group wrapped an operator's error: unwrap it as
                # the task group of a staged run does (errors.py), so that adding or
                # removing a buffered() does not change what ``except`` catches.
                leaf = unwrap(exc)
                if leaf is not exc:
                    reraise(exc, leaf)
            if self._abort_error is not None and exc is None:
                error, self._abort_error = self._abort_error, None
                raise error
            return None
        if not finished:
            self._cancel_tasks()
        else:
            # The consumer saw the end of input, but a task whose output nobody reads any
            # more (the source behind a take_until that fired) may still wait on its own
            # input: stop those. A task that ended its output and is finishing up (a
            # source flushing acknowledgements) is left to finish.
            for producer in self._producers:
                if producer.orphaned():
                    producer.scope.cancel()
        for scope in self._helper_scopes:
            scope.cancel()
        try:
            suppress = await self._exit_task_group(exc_type, exc, tb)
        finally:
            if not finished:
                self._count_discarded()
        if self._abort_error is not None:
            error, self._abort_error = self._abort_error, None
            total = self._stats.discarded_total
            if total:
                error.add_note(
                    f"anystream: the abort discarded {total} item(s) still in hand-offs "
                    f"(run.stats().discarded: {self._stats.discarded})"
                )
            raise error
        return suppress

    def _count_discarded(self) -> None:
        """Count what the abort left in each hand-off: sent (or being sent), never taken.

        Every node counts an item as emitted just before handing it on, and the next node
        counts it as received when it takes it, so the difference across a boundary, less
        what the boundary's overflow policy dropped, is exactly the items in its buffer
        plus the one a sender held when it was cancelled. Items held inside an operator
        (a partial window, a call in progress) show as that operator's ``in_flight``.
        """
        ops = self._stats.operators
        nodes = self._nodes
        for index in range(1, len(nodes) - 1):
            node = nodes[index]
            if not isinstance(node, Boundary):
                continue
            before, after = nodes[index - 1], nodes[index + 1]
            assert not isinstance(before, Boundary)
            assert not isinstance(after, Boundary)
            lost = _count(*before.out_ref) - _count(*after.in_ref)
            if node.position is not None:
                lost -= ops[node.position].dropped_total
                where = ops[node.position].name
            else:
                where = f"hand-off after {ops[_last_position(before)].name}"
            if lost > 0:
                self._stats.discarded[where] = self._stats.discarded.get(where, 0) + lost

    async def _exit_task_group(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        assert self._tg is not None
        try:
            suppress = bool(await self._tg.__aexit__(exc_type, exc, tb))
        except BaseException as raised:
            await self._close_everything()
            reraise_unwrapped(raised)
            raise  # pragma: no cover - reraise_unwrapped always raises
        await self._close_everything()
        return suppress

    async def _close_everything(self) -> None:
        # On asyncio a task cancelled before its first step never runs its body, so its
        # ``finally`` never closed what it owned: close every stream and generator here.
        with CancelScope(shield=True):
            for item in self._streams:
                item.close()
            await close_all(self._closables)


def _last_position(node: Segment | Stage) -> int:
    """The position (in the run's stats) of the last operator of ``node``; 0: the source."""
    if isinstance(node, Stage):
        return node.position
    positions = [p for group in node.positions for p in group] + node.gen_positions
    return max(positions, default=0)


def _count(counts: StageCounts, field: str) -> int:
    """The count kept in ``field`` of ``counts`` (a plan's ``in_ref`` / ``out_ref``)."""
    n: int = getattr(counts, field)
    return n
