"""Per-stage timing of a pipeline: where each item's time goes, summarised in bounded memory.

For every item and every stage the runner records three durations:

``wait``
    from the moment the item *entered the buffer* in front of the stage (the upstream
    began handing it over) to the moment the stage took it out. Measuring from the
    dequeue instead, as some pipeline frameworks do, makes every queue wait zero: the
    timestamp must be taken on the sending side, before the item goes into the buffer.
    :class:`EntryTimes` is that timestamp queue. The wait includes any time the upstream
    spent blocked offering the item to a full buffer: from the item's point of view it
    was waiting for this stage all along.
``compute``
    from taking the item to having the result ready to hand on.
``blocked``
    time spent handing the result downstream (non-zero only when the next buffer is
    full: the stage is stalled by a slower consumer).

plus, per item that reaches the consumer, the *end-to-end* latency from the source
producing it. Because a stage's ``blocked`` overlaps the next stage's ``wait``, the
end-to-end latency is not the sum of the per-stage figures.

The runner calls, per item and stage, ``timing.record(stage_index, wait, compute,
blocked)`` (or the cheaper ``timing.stages[i].record(...)`` with the stage bound once);
each call is three sketch updates and allocates nothing else. :meth:`PipelineTiming.report`
takes a consistent :class:`LatencyReport` at any moment, during or after the run; print
it for a table, or call ``as_dict()`` for numbers.

How a stage measures, with :class:`Stopwatch` and :class:`EntryTimes`::

    entries_in, entries_out = ...      # EntryTimes of the buffer before / after the stage
    item = await receive(rx)
    wait = entries_in.left()           # seconds since it entered the buffer
    watch.restart()
    result = fn(item)
    compute = watch.lap()
    entries_out.entered()              # before the send, so the next stage's wait counts it
    await send(tx, result)
    blocked = watch.lap()
    stage_timing.record(wait, compute, blocked)

All durations come from one clock per run (``time.perf_counter`` by default; pass
``anyio.current_time`` to measure on the event loop's clock, which makes timing tests on
a virtual clock exact).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .quantiles import QuantileSketch
from .reprs import html_table, rich_table

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "EntryTimes",
    "LatencyReport",
    "PipelineTiming",
    "StageReport",
    "StageTiming",
    "Stopwatch",
    "Summary",
    "format_duration",
]

Clock = Callable[[], float]

METRICS = ("wait", "compute", "blocked")


class Stopwatch:
    """A lap timer cheap enough to call per item: one clock read and a subtraction.

    ``restart()`` starts a lap, ``lap()`` returns the seconds since the previous
    ``restart()`` or ``lap()`` and starts the next one; ``elapsed()`` reads without
    starting a new lap.
    """

    __slots__ = ("_clock", "_last")

    def __init__(self, clock: Clock = perf_counter) -> None:
        self._clock = clock
        self._last = clock()

    def restart(self) -> float:
        """Start a new lap now; return the clock reading."""
        now = self._clock()
        self._last = now
        return now

    def lap(self) -> float:
        """Seconds since the last ``restart()``/``lap()``; starts the next lap."""
        now = self._clock()
        elapsed = now - self._last
        self._last = now
        return elapsed

    def elapsed(self) -> float:
        """Seconds since the last ``restart()``/``lap()``, without starting a new lap."""
        return self._clock() - self._last


class EntryTimes:
    """When each item now in one buffer entered it, oldest first.

    Memory object streams are FIFO, so one timestamp queue per buffer pairs up with the
    items without wrapping them: the sender calls :meth:`entered` immediately before
    handing an item to the buffer (no ``await`` in between, so concurrent senders append
    in the order the stream will deliver their items), the receiver calls :meth:`left`
    right after taking one out. Overflow policies that discard an item discard its
    timestamp too (:meth:`discard_oldest`, :meth:`discard_newest`). Holds one float per
    buffered item: bounded by the buffer's own bound.
    """

    __slots__ = ("_append", "_clock", "_popleft", "_times")

    def __init__(self, clock: Clock = perf_counter) -> None:
        self._clock = clock
        self._times: deque[float] = deque()
        self._append = self._times.append
        self._popleft = self._times.popleft

    def entered(self) -> float:
        """Stamp an item entering the buffer now; return the stamp."""
        now = self._clock()
        self._append(now)
        return now

    def left(self) -> float:
        """The oldest item left the buffer: seconds it spent there."""
        return self._clock() - self._popleft()

    def discard_oldest(self) -> None:
        """The oldest buffered item was dropped (``drop_oldest`` / ``latest``)."""
        self._popleft()

    def discard_newest(self) -> None:
        """The item just stamped was refused (``drop_newest``)."""
        self._times.pop()

    def __len__(self) -> int:
        return len(self._times)


class StageTiming:
    """The three duration sketches of one stage (see the module docstring)."""

    __slots__ = ("blocked", "compute", "name", "wait")

    def __init__(self, name: str, relative_accuracy: float = 0.01) -> None:
        self.name: str = name
        self.wait: QuantileSketch = QuantileSketch(relative_accuracy)
        self.compute: QuantileSketch = QuantileSketch(relative_accuracy)
        self.blocked: QuantileSketch = QuantileSketch(relative_accuracy)

    @property
    def count(self) -> int:
        """Items recorded."""
        return self.compute.count

    def record(self, wait: float, compute: float, blocked: float) -> None:
        """Record one item's durations, in seconds."""
        self.wait.add(wait)
        self.compute.add(compute)
        self.blocked.add(blocked)

    def report(self) -> StageReport:
        return StageReport(
            name=self.name,
            count=self.count,
            wait=Summary.of(self.wait),
            compute=Summary.of(self.compute),
            blocked=Summary.of(self.blocked),
        )


class PipelineTiming:
    """Timing of one run: a :class:`StageTiming` per stage and end-to-end latency.

    ``stage_names`` lists the timed stages in pipeline order; ``record(i, ...)`` refers
    to them by index. ``clock`` is the clock every duration of the run must come from
    (``stopwatch()`` and ``entry_times()`` make helpers bound to it).
    """

    __slots__ = ("clock", "end_to_end", "relative_accuracy", "stages")

    def __init__(
        self,
        stage_names: Sequence[str],
        *,
        relative_accuracy: float = 0.01,
        clock: Clock = perf_counter,
    ) -> None:
        if isinstance(stage_names, str):
            raise TypeError("PipelineTiming(): stage_names must be a sequence of names, not a str")
        self.relative_accuracy: float = relative_accuracy
        self.clock: Clock = clock
        self.stages: list[StageTiming] = [
            StageTiming(str(name), relative_accuracy) for name in stage_names
        ]
        self.end_to_end: QuantileSketch = QuantileSketch(relative_accuracy)

    def record(self, stage_index: int, wait: float, compute: float, blocked: float) -> None:
        """Record one item's durations at stage ``stage_index``, in seconds."""
        self.stages[stage_index].record(wait, compute, blocked)

    def record_end_to_end(self, seconds: float) -> None:
        """Record one item's latency from the source to the consumer."""
        self.end_to_end.add(seconds)

    def stopwatch(self) -> Stopwatch:
        return Stopwatch(self.clock)

    def entry_times(self) -> EntryTimes:
        return EntryTimes(self.clock)

    def report(self) -> LatencyReport:
        """A snapshot of every figure so far (safe to call while the run goes on)."""
        return LatencyReport(
            stages=tuple(stage.report() for stage in self.stages),
            end_to_end=Summary.of(self.end_to_end),
        )


# -- reports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Count, mean, p50, p95, p99 and max of one duration, in seconds (NaN when empty).

    Quantiles are within the sketch's relative accuracy (1% by default); count, mean
    and max are exact.
    """

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, sketch: QuantileSketch) -> Summary:
        if not sketch.count:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan)
        return cls(
            count=sketch.count,
            mean=sketch.mean,
            p50=sketch.quantile(0.5),
            p95=sketch.quantile(0.95),
            p99=sketch.quantile(0.99),
            max=sketch.max,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
        }


@dataclass(frozen=True)
class StageReport:
    name: str
    count: int
    wait: Summary
    compute: Summary
    blocked: Summary

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": self.count,
            "wait": self.wait.as_dict(),
            "compute": self.compute.as_dict(),
            "blocked": self.blocked.as_dict(),
        }


@dataclass(frozen=True)
class LatencyReport:
    """Per-stage wait/compute/blocked summaries and the end-to-end latency of one run.

    ``str(report)`` is a table (durations with units); ``report.as_dict()`` has the
    numbers in seconds.
    """

    stages: tuple[StageReport, ...]
    end_to_end: Summary

    def __getitem__(self, name: str) -> StageReport:
        """The first stage called ``name``, or whose name starts with ``name(``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        for stage in self.stages:
            if stage.name.split("(", 1)[0] == name:
                return stage
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": [stage.as_dict() for stage in self.stages],
            "end_to_end": self.end_to_end.as_dict(),
        }

    _COLUMNS = ("stage", "metric", "count", "mean", "p50", "p95", "p99", "max")

    def _rows(self) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        for stage in self.stages:
            for metric in METRICS:
                rows.append(_summary_row(stage.name, metric, getattr(stage, metric)))
        rows.append(_summary_row("end-to-end", "latency", self.end_to_end))
        return rows

    def _repr_html_(self) -> str:
        """Jupyter's display: one row per stage and metric, durations with units."""
        return html_table(
            "LatencyReport",
            self._COLUMNS,
            self._rows(),
            css_class="anystream-latency",
            text_columns=(0, 1),
        )

    def __rich__(self) -> Table:
        """rich's display: the same table as ``_repr_html_``."""
        return rich_table("LatencyReport", self._COLUMNS, self._rows(), text_columns=(0, 1))

    def __str__(self) -> str:
        rows: list[tuple[str, str, Summary]] = []
        for stage in self.stages:
            for metric in METRICS:
                rows.append(
                    (stage.name if metric == "wait" else "", metric, getattr(stage, metric))
                )
        rows.append(("end-to-end", "latency", self.end_to_end))
        width = max(len("stage"), *(len(name) for name, _, _ in rows))
        columns = ("count", "mean", "p50", "p95", "p99", "max")
        header = f"{'stage':<{width}}  {'metric':<8}" + "".join(f"{c:>10}" for c in columns)
        lines = [header, "-" * len(header)]
        for name, metric, s in rows:
            cells = [f"{s.count:>10}"] + [
                f"{format_duration(v):>10}" for v in (s.mean, s.p50, s.p95, s.p99, s.max)
            ]
            lines.append(f"{name:<{width}}  {metric:<8}" + "".join(cells))
        return "\n".join(lines)


def _summary_row(name: str, metric: str, s: Summary) -> tuple[str, ...]:
    values = (s.mean, s.p50, s.p95, s.p99, s.max)
    return (name, metric, str(s.count), *(format_duration(v) for v in values))


def format_duration(seconds: float) -> str:
    """``seconds`` with a readable unit: ``812ns``, ``3.204us``, ``45.12ms``, ``2.5s``."""
    if math.isnan(seconds):
        return "-"
    if seconds == 0:
        return "0"
    magnitude = abs(seconds)
    if magnitude < 1e-6:
        return f"{seconds * 1e9:.0f}ns"
    if magnitude < 1e-3:
        return f"{seconds * 1e6:.4g}us"
    if magnitude < 1:
        return f"{seconds * 1e3:.4g}ms"
    if magnitude < 1000:
        return f"{seconds:.4g}s"
    return f"{seconds:.0f}s"


# Defined here so the runner can time a run without importing ``anystream.observe``
# (issue 19's layering); the public home of these names is ``anystream.observe.latency``.
for _public in (EntryTimes, LatencyReport, PipelineTiming, StageReport, StageTiming, Stopwatch):
    _public.__module__ = "anystream.observe.latency"
Summary.__module__ = format_duration.__module__ = "anystream.observe.latency"
del _public
