"""Per-operator metrics: rates, buffer fill and errors, sampled from a run's counters.

A run already counts, per operator, what it received, emitted and dropped (``run.stats()``,
see ``_core/stats.py``). Counters alone do not say how fast a pipeline is going or where
it is backed up, so this module turns them into :class:`MetricsSnapshot` objects:

- ``in_rate`` / ``out_rate``: items per second received / emitted since the previous
  snapshot (rates need two points in time, so the first snapshot has none);
- ``buffer_fill`` / ``buffer_capacity`` for every ``buffered(n)``: the queue depth
  (items in the buffer, not yet taken out or discarded), and ``buffer_waiting``: items an
  upstream is blocked trying to put into it (backpressure happening right now);
- ``errors``: items that failed (malformed input, dead-lettered), next to ``dropped`` by
  reason;
- ``blocked_seconds``: time the operator spent waiting on a full downstream. The run's
  counters do not include it yet, so it is ``None`` (shown as unavailable, never a
  misleading zero) unless the run's per-stage timing (``anystream.observe.latency``)
  is passed as ``timing=``, which also attaches latency percentiles to the snapshot.

Two ways to get snapshots:

``take_snapshot(run, previous)``
    one snapshot on demand; pass the previous one to get rates.
``monitor(run, interval=1.0)`` (in :mod:`anystream.observe.monitor`)
    an async context manager that samples every ``interval`` seconds while the block
    runs, calls ``on_snapshot`` for each and feeds any number of subscribers::

        async with stream.stream() as run, monitor(run, on_snapshot=print):
            async for item in run:
                ...

    or, iterating snapshots while another task consumes the run::

        async with stream.stream() as run, monitor(run) as snapshots:
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, run, snapshots)   # calls snapshots.close() at the end
                async for snap in snapshots:
                    print(snap)

The monitor is a context manager and not an async generator on purpose: it owns a task
(the sampler), and only a context manager may keep a task group open while the caller's
code runs (docs/concepts.md). Sampling reads plain integers in the event loop's own
thread, so it costs nothing on the pipeline's hot path.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from .._core.operator import StagedStep, Step
from .._core.reprs import html_table, rich_table
from .._core.runner import Run
from .._core.stats import RunStats
from .._core.stream import Stream
from .latency import LatencyReport, PipelineTiming

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "ERROR_REASONS",
    "MetricsSnapshot",
    "OperatorKind",
    "OperatorMetrics",
    "take_snapshot",
    "to_pandas",
    "to_records",
]

OperatorKind = Literal["source", "operator", "stage", "buffer"]

#: Drop reasons that mean "this item failed" rather than "this item was not wanted".
#: ``filtered`` (``where``) and ``overflow`` (a lossy ``buffered``) are deliberate, not errors.
ERROR_REASONS = frozenset({"malformed", "error", "failed"})


@dataclass(frozen=True, slots=True)
class OperatorMetrics:
    """One operator of one run at one moment (see :class:`MetricsSnapshot`).

    ``position`` is 0 for the source and ``i`` for the pipeline's ``i``-th step. Rates are
    ``None`` in a snapshot taken without a previous one. ``buffer_fill`` and
    ``buffer_capacity`` are set for ``buffered(n)`` only, with ``buffer_waiting``: items
    an upstream is trying to put into the full buffer right now (1 while it is blocked
    by backpressure, 0 otherwise). ``blocked_seconds`` is ``None`` until the core counts
    time spent blocked by backpressure.
    """

    position: int
    name: str
    kind: OperatorKind
    received: int
    emitted: int
    dropped: Mapping[str, int] = field(default_factory=dict)
    retried: int = 0
    dead_lettered: int = 0
    in_rate: float | None = None
    out_rate: float | None = None
    buffer_fill: int | None = None
    buffer_capacity: int | None = None
    buffer_waiting: int | None = None
    blocked_seconds: float | None = None

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def errors(self) -> int:
        """Items that failed here: dropped for an :data:`ERROR_REASONS` reason or dead-lettered."""
        failed = sum(n for reason, n in self.dropped.items() if reason in ERROR_REASONS)
        return failed + self.dead_lettered

    @property
    def buffer_ratio(self) -> float | None:
        """``buffer_fill / buffer_capacity`` (``None`` when not a buffer or capacity 0)."""
        if self.buffer_fill is None or not self.buffer_capacity:
            return None
        return self.buffer_fill / self.buffer_capacity


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Every operator of a run at one moment, in pipeline order (source first).

    ``time`` is the event loop's clock (``anyio.current_time()``), ``interval`` the seconds
    since the previous snapshot the rates were computed against (``None`` for the first).
    ``final`` marks the snapshot a :class:`Monitor` takes when its block exits, and
    ``error`` describes the exception the block exited with, if any. ``latency`` is the
    per-stage timing report (wait / compute / blocked percentiles) when the snapshot was
    taken with a ``timing`` (see ``anystream.observe.latency``).

    Index by position or by operator name, like ``RunStats``: ``snap["parse"].out_rate``.
    """

    time: float
    operators: tuple[OperatorMetrics, ...]
    interval: float | None = None
    final: bool = False
    error: str | None = None
    latency: LatencyReport | None = None

    def __getitem__(self, key: int | str) -> OperatorMetrics:
        if isinstance(key, int):
            return self.operators[key]
        for op in self.operators:
            if op.name == key:
                return op
        for op in self.operators:
            if op.name.split("(", 1)[0] == key:
                return op
        raise KeyError(key)

    def __iter__(self) -> Iterator[OperatorMetrics]:
        return iter(self.operators)

    def __len__(self) -> int:
        return len(self.operators)

    @property
    def buffers(self) -> tuple[OperatorMetrics, ...]:
        """The ``buffered(n)`` operators, in pipeline order."""
        return tuple(op for op in self.operators if op.kind == "buffer")

    @property
    def errors(self) -> int:
        return sum(op.errors for op in self.operators)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per operator (for tables, DataFrames, JSON logs)."""
        return [
            {
                "position": op.position,
                "name": op.name,
                "kind": op.kind,
                "received": op.received,
                "emitted": op.emitted,
                "dropped": dict(op.dropped),
                "errors": op.errors,
                "in_rate": op.in_rate,
                "out_rate": op.out_rate,
                "buffer_fill": op.buffer_fill,
                "buffer_capacity": op.buffer_capacity,
                "buffer_waiting": op.buffer_waiting,
                "blocked_seconds": op.blocked_seconds,
            }
            for op in self.operators
        ]

    def to_records(self, origin: float | None = None) -> list[dict[str, Any]]:
        """:meth:`rows` with the snapshot's ``time`` on each (seconds since ``origin``).

        ``origin`` is usually the first snapshot's time, so that a history of snapshots
        reads as seconds since the run started; ``None`` keeps the raw clock reading.
        """
        time = self.time if origin is None else self.time - origin
        return [{"time": time, **row} for row in self.rows()]

    def to_pandas(self, origin: float | None = None) -> Any:
        """The snapshot as a ``pandas.DataFrame``, one row per operator (needs pandas).

        See :func:`to_pandas` for a whole history of snapshots in one frame.
        """
        return to_pandas([self], origin=origin)

    def format(self) -> str:
        """A plain-text table, one line per operator."""
        header = f"{'operator':<32} {'in':>9} {'out':>9} {'in/s':>9} {'out/s':>9} "
        header += f"{'dropped':>8} {'errors':>6} {'buffer':>9} {'blocked':>8}"
        lines = [header]
        for op in self.operators:
            lines.append(
                f"{op.name[:32]:<32} {op.received:>9} {op.emitted:>9} "
                f"{format_rate(op.in_rate):>9} {format_rate(op.out_rate):>9} "
                f"{op.dropped_total:>8} {op.errors:>6} {format_buffer(op):>9} "
                f"{format_blocked(op.blocked_seconds):>8}"
            )
        if self.error is not None:
            lines.append(f"ended with {self.error}")
        if self.latency is not None:
            lines.append(str(self.latency))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        ops = ", ".join(
            f"{op.name}: in={op.received} out={op.emitted}"
            + (f" dropped={dict(op.dropped)}" if op.dropped else "")
            for op in self.operators
        )
        return f"MetricsSnapshot({self._state()}; {ops})"

    def _state(self) -> str:
        if self.error is not None:
            return f"failed: {self.error}"
        rates = (
            "counts only (no earlier snapshot for rates)"
            if self.interval is None
            else f"rates over {self.interval:.3g} s"
        )
        return f"final, {rates}" if self.final else rates

    _COLUMNS = ("operator", "kind", "in", "out", "in/s", "out/s", "dropped", "errors", "buffer")

    def _rows(self) -> list[tuple[str, ...]]:
        return [
            (
                op.name,
                op.kind,
                str(op.received),
                str(op.emitted),
                format_rate(op.in_rate),
                format_rate(op.out_rate),
                ", ".join(f"{reason} {n}" for reason, n in sorted(op.dropped.items()) if n),
                str(op.errors) if op.errors else "",
                format_buffer(op) + (f" +{op.buffer_waiting} waiting" if op.buffer_waiting else ""),
            )
            for op in self.operators
        ]

    def _repr_html_(self) -> str:
        """Jupyter's display: one row per operator, then the latency table if any."""
        table = html_table(
            f"MetricsSnapshot · {self._state()}",
            self._COLUMNS,
            self._rows(),
            css_class="anystream-metrics",
            text_columns=(0, 1, 6),
        )
        if self.latency is None:
            return table
        return table + self.latency._repr_html_()

    def __rich__(self) -> Table:
        """rich's display: the same table as ``_repr_html_`` (without the latency)."""
        return rich_table(
            f"MetricsSnapshot · {self._state()}",
            self._COLUMNS,
            self._rows(),
            text_columns=(0, 1, 6),
        )


def to_records(
    snapshots: Iterable[MetricsSnapshot], origin: float | None = None
) -> list[dict[str, Any]]:
    """One dict per operator per snapshot, in order (see :meth:`MetricsSnapshot.to_records`).

    ``origin=None`` measures ``time`` from the first snapshot; pass a clock reading to
    measure from it instead.
    """
    records: list[dict[str, Any]] = []
    for snap in snapshots:
        if not isinstance(snap, MetricsSnapshot):
            raise TypeError(
                f"to_records(): snapshots must be MetricsSnapshot objects, "
                f"got {type(snap).__name__} {snap!r:.60}"
            )
        if origin is None:
            origin = snap.time
        records.extend(snap.to_records(origin))
    return records


def to_pandas(snapshots: Iterable[MetricsSnapshot], origin: float | None = None) -> Any:
    """:func:`to_records` as a ``pandas.DataFrame`` (pandas is imported only here).

    Raises ``ModuleNotFoundError`` saying so when pandas is not installed.
    """
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as exc:
        raise ModuleNotFoundError(
            "to_pandas() needs pandas: pip install pandas (or use to_records())"
        ) from exc
    return pandas.DataFrame.from_records(to_records(snapshots, origin))


def format_rate(rate: float | None) -> str:
    """``1234.5 -> '1.2k'``; ``None`` (no rate yet) -> ``'-'``."""
    if rate is None:
        return "-"
    if rate >= 1_000_000:
        return f"{rate / 1_000_000:.1f}M"
    if rate >= 10_000:
        return f"{rate / 1000:.0f}k"
    if rate >= 1000:
        return f"{rate / 1000:.1f}k"
    return f"{rate:.1f}"


def format_buffer(op: OperatorMetrics) -> str:
    if op.buffer_fill is None:
        return ""
    return f"{op.buffer_fill}/{op.buffer_capacity}"


def format_blocked(seconds: float | None) -> str:
    """``None`` means the core does not count it (yet): shown as ``n/a``, never as 0."""
    return "n/a" if seconds is None else f"{seconds:.2f}s"


# -- taking snapshots -------------------------------------------------------------------


def _describe(source: Run[Any] | Stream[Any] | RunStats) -> tuple[RunStats, tuple[Step, ...]]:
    """The live counters and the step list they describe (``()`` if unknown)."""
    if isinstance(source, Run):
        stream: Stream[Any] = source._stream
        return source.stats(), stream.steps
    if isinstance(source, Stream):
        return source.stats(), source.steps
    if isinstance(source, RunStats):
        return source, ()
    raise TypeError(
        f"expected a Run (from 'async with stream.stream() as run'), a Stream or RunStats, "
        f"got {type(source).__name__} {source!r:.60}"
    )


def _rate(now: int, before: int, interval: float | None) -> float | None:
    if interval is None or interval <= 0:
        return None
    return (now - before) / interval


def take_snapshot(
    source: Run[Any] | Stream[Any] | RunStats,
    previous: MetricsSnapshot | None = None,
    *,
    now: float | None = None,
    final: bool = False,
    error: str | None = None,
    timing: PipelineTiming | None = None,
) -> MetricsSnapshot:
    """A :class:`MetricsSnapshot` of a running (or finished) run.

    ``source`` is a :class:`Run`, a :class:`Stream` (its most recent run) or bare
    :class:`RunStats` (then buffers cannot be recognised). With ``previous`` (an earlier
    snapshot of the same run), rates are the counts' differences divided by the time in
    between. ``now`` defaults to ``anyio.current_time()`` and must be given outside an
    event loop.

    With ``timing`` (the run's :class:`~anystream.observe.latency.PipelineTiming`), the
    snapshot carries its ``latency`` report, and each operator whose name matches a timed
    stage gets ``blocked_seconds``: the total time that stage spent handing items to a
    full downstream.
    """
    stats, steps = _describe(source)
    if now is None:
        now = anyio.current_time()
    interval = None
    if previous is not None:
        if len(previous.operators) != len(stats):
            raise ValueError(
                f"previous snapshot has {len(previous.operators)} operators, this run "
                f"{len(stats)}: it belongs to another pipeline"
            )
        interval = now - previous.time
    report = timing.report() if timing is not None else None
    blocked = _blocked_by_operator(report, [op.name for op in stats.operators])
    ops: list[OperatorMetrics] = []
    for position, op in enumerate(stats.operators):
        kind: OperatorKind = "source" if position == 0 else "operator"
        fill = capacity = waiting = None
        step = steps[position - 1] if 0 < position <= len(steps) else None
        snap = op.snapshot()
        if isinstance(step, StagedStep):
            if step.run is None:
                # buffered(n): the runner binds its counters to the hand-off itself
                # (received = put in, emitted = taken out), so what is still inside is
                # what was neither taken out nor discarded.
                # An upstream blocked on a full buffer has already counted the item it
                # is trying to put, so anything above the capacity is waiting outside.
                kind = "buffer"
                capacity = step.capacity
                held = max(0, snap.in_flight)
                fill = min(held, capacity)
                waiting = held - fill
            else:
                kind = "stage"
        before = previous.operators[position] if previous is not None else None
        ops.append(
            OperatorMetrics(
                position=position,
                name=op.name,
                kind=kind,
                received=snap.received,
                emitted=snap.emitted,
                dropped=dict(snap.dropped),
                retried=snap.retried,
                dead_lettered=snap.dead_lettered,
                in_rate=None if before is None else _rate(snap.received, before.received, interval),
                out_rate=None if before is None else _rate(snap.emitted, before.emitted, interval),
                buffer_fill=fill,
                buffer_capacity=capacity,
                buffer_waiting=waiting,
                blocked_seconds=blocked.get(position),
            )
        )
    return MetricsSnapshot(
        time=now,
        operators=tuple(ops),
        interval=interval,
        final=final,
        error=error,
        latency=report,
    )


def _blocked_by_operator(report: LatencyReport | None, names: list[str]) -> dict[int, float]:
    """Operator position -> total seconds blocked downstream, for the timed stages.

    Stages are matched to operators by name, in order (a name may occur twice).
    """
    if report is None:
        return {}
    result: dict[int, float] = {}
    start = 0
    for stage in report.stages:
        for position in range(start, len(names)):
            if names[position] == stage.name:
                summary = stage.blocked
                total = summary.mean * summary.count if summary.count else 0.0
                result[position] = total
                start = position + 1
                break
    return result


def __getattr__(name: str) -> Any:
    # The periodic emitter lives in monitor.py (it imports this module, so it cannot be
    # re-exported eagerly); ``from anystream.observe.metrics import monitor`` still works.
    if name in ("Monitor", "monitor"):
        from . import monitor as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
