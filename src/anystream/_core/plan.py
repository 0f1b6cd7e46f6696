"""Compiling a stream's steps into the nodes a run executes.

A run's chain becomes::

    [segment] -> boundary -> [segment or stage task] -> boundary -> ... -> [segment]

A *segment* (:class:`Segment`) is a maximal run of per-item steps: fused kernels and
generator operators executed as one loop; a *boundary* (:class:`Boundary`) is a bounded
memory object stream (``buffered(n)``, or an implicit rendezvous next to a stage); a
*stage* (:class:`Stage`) is a staged operator's task. This module builds that list and
the loops of segments; ``runner.py`` decides which run where and owns the tasks.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from anyio import CancelScope

from .acks import tracked_loop
from .fuse import compile_kernels
from .operator import GenStep, Kernel, StagedStep, Step
from .shutdown import StopState
from .source import Source, TaskSource
from .stats import Edge, OpStats, StageCounts

__all__ = [
    "Boundary",
    "Node",
    "Segment",
    "Stage",
    "close_all",
    "plan",
    "stage_names",
    "untracked_steps",
]

Piece = Kernel | GenStep


class Segment:
    """Per-item steps between two boundaries, split into fused groups around generators.

    Pieces come with their position in the stream's step list, which is how their
    counters are found (the same operator object may appear twice in one stream).
    """

    def __init__(self, pieces: Sequence[tuple[int, Piece]]) -> None:
        self.groups: list[list[Kernel]] = [[]]
        self.positions: list[list[int]] = [[]]
        self.gens: list[GenStep] = []
        self.gen_positions: list[int] = []
        for position, piece in pieces:
            if isinstance(piece, GenStep):
                self.gens.append(piece)
                self.gen_positions.append(position)
                self.groups.append([])
                self.positions.append([])
            else:
                self.groups[-1].append(piece)
                self.positions[-1].append(position)
        # Counters (see StageCounts): every piece counts what enters it, the kernels their
        # drops; ``exit`` counts, as received, what the segment hands on (to a hand-off, a
        # list or the consumer). A generator operator's received is counted by the loop
        # before it, so that loop counts into the generator's StageCounts.
        self.gen_counts = [StageCounts() for _ in self.gens]
        self.exit = StageCounts()
        #: Per fused group, what its loop counts into: its kernels' StageCounts, then the
        #: one that counts the loop's output (the next generator's, or ``exit``).
        self.counts: list[tuple[StageCounts, ...]] = [
            (*(StageCounts() for _ in group), after)
            for group, after in zip(self.groups, [*self.gen_counts, self.exit], strict=True)
        ]

    @property
    def in_ref(self) -> Edge:
        """The items this segment took: what its first piece received."""
        return (self.counts[0][0], "received")

    @property
    def out_ref(self) -> Edge:
        """The items this segment handed on."""
        return (self.exit, "received")

    def bind_stats(self, ops: list[OpStats]) -> None:
        for gi, group_counts in enumerate(self.counts):
            for i, position in enumerate(self.positions[gi]):
                # What kernel i emitted is what entered the next piece.
                ops[position]._bind(group_counts[i], (group_counts[i + 1], "received"))
        for gi, position in enumerate(self.gen_positions):
            ops[position]._bind(self.gen_counts[gi], (self.counts[gi + 1][0], "received"))

    @property
    def empty(self) -> bool:
        return not self.gens and not self.groups[0]

    def build(
        self,
        source: tuple[str, Any],
        output: tuple[str, Any],
        stop: StopState,
        *,
        stoppable: bool,
        closables: list[Any],
        tracking: Any = None,
        is_source: bool = False,
        interpreted: bool = False,
    ) -> Any:
        """Chain the fused groups and generators; return the last group's loop object.

        ``closables`` holds what is upstream of this segment (the source, for the first
        one); the generators made here are appended to it. With ``tracking`` (the source
        acknowledges items) the kernels run in the interpreted loop of ``acks.py``; with
        ``interpreted`` (a timed run) in the reference interpreter of ``kernels.py``.
        """
        if tracking is not None:
            return tracked_loop(
                self.groups[0],
                source,
                output,
                self.counts[0],
                stop,
                tracking.live,
                tracking.source_name,
                is_source=is_source,
                task_source=tracking.task_source,
            )
        kind, it = source
        last = len(self.groups) - 1
        for gi, group in enumerate(self.groups):
            out_kind, out = output if gi == last else ("yield", None)
            loop = compile_kernels(
                group, kind, out_kind, stoppable=stoppable and gi == 0, interpreted=interpreted
            )
            upstream = list(closables)

            async def close_upstream(upstream: list[Any] = upstream) -> None:
                with CancelScope(shield=True):
                    await close_all(upstream)

            made = loop(it, out, self.counts[gi], stop, close_upstream)
            if gi == last:
                return made
            closables.append(made)
            gen_iter = aiter(self.gens[gi].make(made))
            closables.append(gen_iter)
            kind, it = "aiter", gen_iter
        raise AssertionError("unreachable")  # pragma: no cover


def stage_names(nodes: list[Node], source: Source[Any]) -> list[str]:
    """A name per task of a timed run, in order (the task source first, if any)."""
    names = [source.name] if isinstance(source, TaskSource) else []
    for index, node in enumerate(nodes):
        if isinstance(node, Stage):
            names.append(node.step.name)
        elif isinstance(node, Segment):
            parts = [kernel.name for kernel in node.groups[0]]
            for gen, group in zip(node.gens, node.groups[1:], strict=True):
                parts += [gen.name] + [kernel.name for kernel in group]
            if index == 0 and not isinstance(source, TaskSource):
                parts.insert(0, source.name)
            label = " | ".join(parts) or "pass"
            names.append(f"{label} (consumer)" if index == len(nodes) - 1 else label)
    return names


class Boundary:
    def __init__(self, capacity: int, overflow: str, position: int | None) -> None:
        self.capacity = capacity
        self.overflow = overflow
        # Position of the buffered() step it came from; None for an implicit rendezvous.
        self.position = position


class Stage:
    def __init__(self, step: StagedStep, position: int) -> None:
        self.step = step
        self.position = position
        # The staged operator counts both fields itself (StageContext.counts).
        self.counts = StageCounts()

    @property
    def in_ref(self) -> Edge:
        return (self.counts, "received")

    @property
    def out_ref(self) -> Edge:
        return (self.counts, "emitted")


Node = Segment | Boundary | Stage


def plan(steps: Sequence[Step]) -> list[Node]:
    """Nodes for ``steps``; positions count from 1 (0 is the source's counters)."""
    pieces: list[tuple[int, Piece]] = []
    nodes: list[Node] = []
    for position, step in enumerate(steps, start=1):
        if isinstance(step, StagedStep):
            nodes.append(Segment(pieces))
            pieces = []
            if step.run is None:
                nodes.append(Boundary(step.capacity, step.overflow, position))
            else:
                if step.capacity == 0 and step.overflow == "block":
                    nodes.append(Boundary(step.handoff, "block", None))  # implicit
                else:
                    nodes.append(Boundary(step.capacity, step.overflow, position))
                nodes.append(Stage(step, position))
                nodes.append(Boundary(step.handoff, "block", None))
        elif isinstance(step, Kernel | GenStep):
            pieces.append((position, step))
        else:  # pragma: no cover - Operator only builds these
            raise TypeError(f"unknown step {step!r}")
    nodes.append(Segment(pieces))
    return merge_boundaries(nodes)


def untracked_steps(nodes: list[Node]) -> list[str]:
    """Names of the steps that cannot carry acknowledgements (see acks.py)."""
    unsupported: list[str] = []
    for node in nodes:
        if isinstance(node, Segment):
            unsupported += [gen.name for gen in node.gens]
        elif isinstance(node, Stage) and node.step.tracked is None:
            unsupported.append(node.step.name)
        elif isinstance(node, Boundary) and node.overflow != "block":
            unsupported.append(f"buffered(overflow={node.overflow!r})")
    return unsupported


def merge_boundaries(nodes: list[Node]) -> list[Node]:
    """Drop ``boundary, empty segment, boundary`` triples where one side is implicit.

    ``buffered(50) | tumbling_window(2)`` would otherwise put a pump task and a
    rendezvous between the buffer and the window: one more task, one more hop, one more
    item in hand. The window task reads the buffer directly instead. Between two implicit
    hand-offs the larger one is kept (a concurrent stage's batch room must not be lost
    to its neighbour's rendezvous); an explicit ``buffered()`` always wins.
    """
    i = 1
    while i + 2 < len(nodes):
        a, seg, b = nodes[i], nodes[i + 1], nodes[i + 2]
        if (
            isinstance(a, Boundary)
            and isinstance(seg, Segment)
            and isinstance(b, Boundary)
            and seg.empty
            and (a.position is None or b.position is None)
        ):
            if a.position is None and b.position is None:
                keep = a if a.capacity > b.capacity else b
            else:
                keep = b if a.position is None else a
            nodes[i : i + 3] = [keep]
            continue
        i += 1
    return nodes


async def close_all(items: list[Any]) -> None:
    """Close generators and iterators, downstream first, so each upstream closes last."""
    for item in reversed(items):
        if isinstance(item, list):
            await close_all(item)
            continue
        aclose = getattr(item, "aclose", None)
        if aclose is not None:
            await aclose()
            continue
        close = getattr(item, "close", None)
        if close is not None and (inspect.isgenerator(item) or hasattr(item, "__next__")):
            close()
