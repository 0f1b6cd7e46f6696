"""Wiring a run: streams, loops and tasks built from the plan, with nothing running yet.

``plan.py`` turns a stream's steps into nodes (segments, boundaries, stages). This module
turns those nodes into what a run is made of:

- a *link* per boundary: the bounded stream between two tasks (``handoff.boundary``), or
  the on-demand hand-off in front of a ``flat_map`` (``handoff.demand_link``), timed in a
  timed run;
- a :class:`Task` per producing node (the task source, every segment but the consumer's,
  every stage): what it runs, its output, what it owns and closes when it ends;
- the consumer's loop, as a factory (``final``) called once the consumer says how it
  reads: ``async for`` (output ``"yield"``) or ``collect()`` (output ``"list"``);
- the resources the run closes when it ends (``streams``, ``closables``).

Nothing here awaits or starts anything (only the task coroutines, when the runner runs
them, await): the lifecycle (task group, stop, abort, close) is ``runner.Run``'s. What a
:class:`Wiring` holds is plain data, so a test or a debugger can look at a run's
structure without running it.

Stats are bound here too: the counters every loop and stage increments are wired to the
run's :class:`~anystream._core.stats.OpStats` before any item flows.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from anyio import CancelScope
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .handoff import BoundaryReceive, boundary, demand_link, make_put, on_demand
from .operator import StageContext
from .plan import Boundary, Node, Segment, Stage, stage_names
from .shutdown import EndOfInput, StopState
from .source import Source, TaskSource
from .stats import RunStats, StageCounts

if TYPE_CHECKING:
    from .acks import RunTracking
    from .timing import Timer

__all__ = ["Task", "Wiring"]

#: A link's send side, receive side, and plain receive side (see ``Wiring._link``).
Link = tuple[MemoryObjectSendStream[Any], MemoryObjectReceiveStream[Any], BoundaryReceive[Any]]


@dataclass(slots=True)
class Task:
    """One task of a run, ready to start: what it runs and what it owns.

    ``work`` is the coroutine the task awaits, made here but not started: no user code
    runs until the task does (the runner closes it if the task never starts). ``output``
    is the send side it produces into (closed when the task ends normally, so end of
    input travels downstream); ``end`` the receive side of that output, where an
    ``in_band`` task (a segment) leaves its failure behind the items it sent
    (``handoff.BoundaryReceive``). ``scope`` is the source's cancel scope, for the one
    task that owns the source (a stop cancels it while it waits inside the source:
    shutdown.py). ``upstream`` and ``closables`` are what the task closes when it ends,
    so that their ``finally`` blocks run as soon as it is done.
    """

    name: str
    work: Awaitable[None]
    output: MemoryObjectSendStream[Any]
    end: BoundaryReceive[Any] | None
    in_band: bool = False
    scope: CancelScope | None = None
    upstream: MemoryObjectReceiveStream[Any] | None = None
    closables: list[Any] = field(default_factory=list[Any])


class Wiring:
    """Everything one run of a stream is made of (see the module docstring).

    Built by :meth:`inline` (no staged operator: the whole pipeline is the consumer's
    loop) or :meth:`tasks_for` (everything else); read by the runner.
    """

    def __init__(
        self,
        source: Source[Any],
        stats: RunStats,
        stop: StopState,
        tracking: RunTracking | None,
    ) -> None:
        self._source = source
        self._stats = stats
        self._stop = stop
        self._tracking = tracking
        self._nodes: list[Node] = []
        #: The tasks to start, in pipeline order (the source's first).
        self.tasks: list[Task] = []
        #: The consumer's loop: ``final(kind, out)`` builds it (see :meth:`_build_final`).
        self.final: Callable[[str, Any], Any] | None = None
        #: Generators the consumer's loop made, closed first when the consumer leaves.
        self.final_closables: list[Any] = []
        #: The stream the consumer's loop reads (None when it owns the source).
        self.final_upstream: MemoryObjectReceiveStream[Any] | None = None
        #: Set by the consumer's loop when it has met the end of its input.
        self.end_of_input = EndOfInput()
        #: Both sides of every link, closed when the run ends.
        self.streams: list[Any] = []
        #: Sources and generators, in creation order, closed downstream first when the
        #: run ends (a segment's task closes its own as soon as it ends, too).
        self.closables: list[Any] = []
        #: The cancel scope a graceful stop cancels (the task that owns the source).
        self.source_scope: CancelScope | None = None
        self.timer: Timer | None = None

    # -- no staged operator --------------------------------------------------------------

    def inline(self, segment: Node) -> None:
        """The whole pipeline as one loop in the consumer's task, reading the source."""
        assert isinstance(segment, Segment)
        self._bind_stats([segment])
        opened = self._source.open()
        self.closables.append(opened[1])

        def final(kind: str, out: Any) -> Any:
            return segment.build(
                opened,
                (kind, out),
                self._stop,
                stoppable=True,
                closables=self.closables,
                tracking=self._tracking,
                is_source=True,
                interpreted=self.timer is not None,
            )

        self.final = final

    # -- tasks ---------------------------------------------------------------------------

    def tasks_for(
        self, nodes: list[Node], *, timing: bool, clock: Callable[[], float] | None
    ) -> None:
        """A task per producing node, a link per boundary, and the consumer's loop."""
        source = self._source
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
        head = nodes[0]  # the node that reads the source (or the task source's stream)
        skip = 0
        if self._stage_reads_task_source(nodes):
            # Nothing between the task source and a stage: let the stage read the
            # source's own stream instead of pumping it through an empty segment.
            skip = 2
            following = nodes[2]
            assert not isinstance(following, Boundary)
            ops = self._stats.operators
            ops[0]._bind_split(following.in_ref, following.in_ref)
        # Producing nodes and the boundaries after them alternate: node, link, node, ...
        workers = nodes[skip::2]
        links = nodes[skip + 1 :: 2]
        consumer = workers[-1]
        assert isinstance(consumer, Segment)
        if timing:
            from .timing import Timer  # the sketches are imported only by timed runs

            self.timer = Timer(stage_names(nodes[skip:], source), clock or time.perf_counter)
        upstream: MemoryObjectReceiveStream[Any] | None = None
        opened: Any = None
        if isinstance(source, TaskSource):
            link = nodes[1] if skip else None
            upstream = self._task_source(source, link, workers[0] is consumer)
        else:
            opened = source.open()
            if self.timer is not None:
                self.closables.append(opened[1])
                opened = ("aiter", self.timer.source(*opened))
        for worker, link, reader in zip(workers[:-1], links, workers[1:], strict=True):
            assert isinstance(link, Boundary)
            if isinstance(worker, Stage):
                assert upstream is not None
                upstream = self._stage(worker, link, upstream, reader is consumer)
            else:
                assert isinstance(worker, Segment)
                upstream = self._segment(
                    worker, link, reader, upstream, opened, worker is head, reader is consumer
                )
        assert upstream is not None
        # Stage numbers (timing): task i is stage i, the consumer's loop the last one.
        self.final = functools.partial(
            self._build_final, consumer, upstream, consumer is head, len(self.tasks)
        )
        self.final_upstream = upstream

    def _stage_reads_task_source(self, nodes: list[Node]) -> bool:
        """Does a task source feed a stage through nothing but an implicit hand-off?"""
        first, after = nodes[0], nodes[1] if len(nodes) > 1 else None
        return (
            isinstance(self._source, TaskSource)
            and self._tracking is None  # a segment must turn Acked items into pairs
            and isinstance(first, Segment)
            and first.empty
            and isinstance(after, Boundary)
            and after.position is None
        )

    def _task_source(
        self, source: TaskSource[Any], link: Node | None, to_consumer: bool
    ) -> MemoryObjectReceiveStream[Any]:
        capacity = link.capacity if isinstance(link, Boundary) else 0
        tx, rx, end = self._link(capacity, to_consumer)
        self.source_scope = CancelScope()
        self._stop.source_stats = self._stats.operators[0]
        self.tasks.append(
            Task(
                f"anystream {source.name}",
                source.run(tx, self._stop),
                tx,
                end,
                scope=self.source_scope,
            )
        )
        return rx

    def _stage(
        self,
        node: Stage,
        link: Boundary,
        upstream: MemoryObjectReceiveStream[Any],
        to_consumer: bool,
    ) -> MemoryObjectReceiveStream[Any]:
        ops = self._stats.operators
        tx, rx, end = self._link(link.capacity, to_consumer)
        ctx = StageContext(stats=ops[node.position], counts=node.counts, stop=self._stop)
        run = node.step.run if self._tracking is None else node.step.tracked
        assert run is not None  # untracked stages were refused (acks.require_tracking)
        work = run(upstream, tx, ctx)
        name = f"anystream {node.step.name}"
        self.tasks.append(Task(name, work, tx, end, upstream=upstream))
        return rx

    def _segment(
        self,
        node: Segment,
        link: Boundary,
        reader: Node,
        upstream: MemoryObjectReceiveStream[Any] | None,
        opened: Any,
        is_head: bool,
        to_consumer: bool,
    ) -> MemoryObjectReceiveStream[Any]:
        ops = self._stats.operators
        owns_source = upstream is None
        if owns_source and self._on_demand(node, link, reader):
            # The stage reads nothing ahead (flat_map): the source is asked for an item
            # only when the stage waits for one (handoff.demand_link).
            tx, demand_rx, gate = demand_link()
            self.streams += [tx, demand_rx]
            rx: MemoryObjectReceiveStream[Any] = demand_rx
            end: BoundaryReceive[Any] = demand_rx
            self.closables.append(opened[1])  # the wrapper does not close it
            opened = on_demand(opened, gate, functools.partial(_count, *node.out_ref))
        else:
            tx, rx, end = self._link(link.capacity, to_consumer)
        output: tuple[str, Any] = ("send", tx)
        if link.overflow != "block":
            assert link.position is not None
            output = ("put", make_put(tx, rx, link.overflow, ops[link.position]))
        closables: list[Any] = [opened[1]] if owns_source else []
        loop = node.build(
            opened if owns_source else ("stream", upstream),
            output,
            self._stop,
            stoppable=owns_source,
            closables=closables,
            tracking=self._tracking,
            is_source=is_head,
            interpreted=self.timer is not None,
        )
        self.closables += closables  # the source and the generators build() made
        if owns_source:
            self.source_scope = CancelScope()
        self.tasks.append(
            Task(
                "anystream segment",
                loop,
                tx,
                end,
                in_band=True,
                scope=self.source_scope if owns_source else None,
                upstream=upstream,
                closables=closables,
            )
        )
        return rx

    def _on_demand(self, node: Segment, link: Boundary, reader: Node) -> bool:
        """Does the source's segment feed a stage that reads nothing ahead?"""
        return (
            self.timer is None
            and self._tracking is None
            and isinstance(reader, Stage)
            and reader.step.on_demand
            and link.capacity == 0
            and link.position is None
            and not node.gens
        )

    def _link(self, capacity: int, to_consumer: bool) -> Link:
        """A boundary stream: (send side, receive side, the plain receive side).

        The first two are timed in a timed run; the third is where a failing sender leaves
        its error (:class:`Task`). The link the consumer's loop reads reports when it
        hands that loop its end of input (:class:`~anystream._core.shutdown.EndOfInput`).
        """
        tx, rx = boundary(capacity)
        self.streams += [tx, rx]
        if to_consumer:
            rx.end_of_input = self.end_of_input
        if self.timer is not None:
            # Task i sends as stage i (see tasks_for).
            timed_tx, timed_rx = self.timer.link(tx, rx, len(self.tasks))
            # Stand-ins with the methods the loops and stages use (timing.py).
            return cast("Link", (timed_tx, timed_rx, rx))
        return tx, rx, rx

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
            closables=self.final_closables,
            tracking=self._tracking,
            is_source=from_source,
            interpreted=self.timer is not None,
        )
        if self.timer is None:
            return final
        self.final_closables.append(final)
        return self.timer.final(stage, final)

    def consumer_loop(self, kind: str, out: Any) -> Any:
        """The consumer's loop: output ``"yield"`` (``async for``) or ``"list"`` (collect).

        An iterated loop is an async generator, closed first when the consumer leaves.
        """
        assert self.final is not None
        loop = self.final(kind, out)
        if kind == "yield":
            self.final_closables.append(loop)
        return loop

    # -- stats ---------------------------------------------------------------------------

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
