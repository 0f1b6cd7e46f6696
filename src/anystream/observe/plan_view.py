"""The plan of a running pipeline, annotated live: ``stream.explain()`` with its numbers.

``stream.explain()`` draws what a run executes: the source, the fused segments, the
buffers between them and the staged operators. :func:`annotate` writes a
:class:`~anystream.observe.metrics.MetricsSnapshot` onto that picture: under each box
the items per second it emits (or, before there are rates, how many it emitted), and
under each ``buffered(n)`` its fill as a bar. :func:`show_plan` keeps such a picture
up to date in a Jupyter cell while a run goes::

    async with stream.stream() as run, show_plan(run):
        async for item in run:
            ...

Outside Jupyter :func:`show_plan` draws nothing (use ``show_progress`` in a terminal);
:func:`annotate` works anywhere and returns the SVG text.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from .._core.callables import check_number
from .._core.explain import BoundaryPart, Explanation, SegmentPart, StagePart
from .._core.owned import Owned
from .._core.runner import Run
from ._where import in_jupyter
from .metrics import MetricsSnapshot, OperatorMetrics, format_rate, take_snapshot
from .monitor import Monitor, monitor

__all__ = ["PlanView", "annotate", "plan_notes", "show_plan"]


def _rate(op: OperatorMetrics, rates: bool = True) -> str:
    if op.out_rate is None or not rates:
        return f"{op.emitted} out"
    return f"{format_rate(op.out_rate)}/s out"


def _fill(op: OperatorMetrics, width: int = 8) -> str:
    fill, capacity = op.buffer_fill or 0, op.buffer_capacity or 0
    full = min(width, round(width * fill / capacity)) if capacity else 0
    waiting = f" +{op.buffer_waiting}" if op.buffer_waiting else ""
    return "█" * full + "░" * (width - full) + f" {fill}/{capacity}{waiting}"


def plan_notes(
    plan: Explanation, snap: MetricsSnapshot, *, rates: bool = True
) -> tuple[list[str], list[str]]:
    """The notes :meth:`Explanation.annotated_svg` takes, for the boxes and boundaries.

    The snapshot's operators are matched to the plan in flow order: a segment gets the
    rate of its last operator, a stage its own, an explicit ``buffered(n)`` boundary the
    fill of that buffer. When the two do not describe the same pipeline, the notes stop
    where they part (nothing is guessed). ``rates=False`` writes counts instead of rates.
    """
    ops = list(snap.operators)
    boxes = [_rate(ops[0], rates)] if ops else []
    boundaries: list[str] = []
    position = 1
    for part in plan.parts:
        if isinstance(part, SegmentPart):
            names = list(part.operators)
            here = [op.name for op in ops[position : position + len(names)]]
            if here != names:
                break
            position += len(names)
            if names:
                boxes.append(_rate(ops[position - 1], rates))
        elif isinstance(part, StagePart):
            if position >= len(ops) or ops[position].name != part.name:
                break
            boxes.append(_rate(ops[position], rates))
            position += 1
        elif isinstance(part, BoundaryPart):
            if not part.explicit:
                boundaries.append("")
                continue
            if position >= len(ops) or ops[position].kind != "buffer":
                break
            boundaries.append(_fill(ops[position]))
            position += 1
    return boxes, boundaries


def annotate(plan: Explanation, snap: MetricsSnapshot, *, rates: bool = True) -> str:
    """The plan's SVG with the snapshot's rates (or counts) and buffer fill written on it."""
    boxes, boundaries = plan_notes(plan, snap, rates=rates)
    return plan.annotated_svg(boxes, boundaries)


class PlanView:
    """The context manager :func:`show_plan` returns; ``active`` says if it draws."""

    def __init__(self, run: Run[Any], interval: float, enabled: bool | None) -> None:
        self._run = run
        self._interval = interval
        self._enabled = enabled
        self._plan: Explanation = run._stream.explain()
        self._handle: Any = None
        self.monitor: Monitor | None = None
        self._owned = Owned()  # holds the monitor open from __aenter__ to __aexit__

    @property
    def active(self) -> bool:
        return self.monitor is not None

    def _bundle(self, snap: MetricsSnapshot) -> dict[str, str]:
        # The snapshot taken when the block exits usually follows the last sample by a
        # moment: rates over that moment say nothing, so it shows the counts instead.
        short = snap.interval is not None and snap.interval < self._interval / 2
        svg = annotate(self._plan, snap, rates=not short)
        return {"image/svg+xml": svg, "text/plain": str(self._plan)}

    def _update(self, snap: MetricsSnapshot) -> None:
        if self._handle is not None:
            self._handle.update(self._bundle(snap), raw=True)

    async def __aenter__(self) -> PlanView:
        if self._enabled is False or (self._enabled is None and not in_jupyter()):
            return self
        from IPython.display import display as ipython_display

        display: Any = ipython_display  # IPython's display() is untyped
        first = take_snapshot(self._run)
        self._handle = display(self._bundle(first), raw=True, display_id=True)
        self.monitor = await self._owned.enter(
            monitor(self._run, self._interval, on_snapshot=self._update)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        mon, self.monitor = self.monitor, None
        if mon is None:
            return None
        # The monitor's exit sends the final snapshot through _update.
        return await self._owned.exit(exc_type, exc, tb)


def show_plan(run: Run[Any], *, interval: float = 0.5, enabled: bool | None = None) -> PlanView:
    """Show the run's plan in the Jupyter cell, annotated with live rates and buffer fill.

    Redrawn every ``interval`` seconds and once more with the final counts when the
    block exits. ``enabled=None`` draws only in a Jupyter kernel; ``True`` forces it
    (needs IPython), ``False`` turns it off.
    """
    if not isinstance(run, Run):
        raise TypeError(
            f"show_plan(): run must be a Run (from 'async with stream.stream() as run'), "
            f"got {type(run).__name__} {run!r:.60}"
        )
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"show_plan(): enabled must be True, False or None, got {enabled!r}")
    seconds = check_number("show_plan", "interval", interval)
    return PlanView(run, seconds, enabled)
