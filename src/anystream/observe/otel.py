"""OpenTelemetry export: per-operator counters and histograms, and spans around runs.

::

    from anystream.observe.otel import instrument

    async with stream.stream() as run, instrument(run, pipeline="ingest", spans=True):
        async for item in run:
            ...

Metrics (instrument names; every data point carries ``anystream.pipeline``,
``anystream.operator`` (its name), ``anystream.operator.position`` and
``anystream.operator.kind``):

==================================  ===========================  ============================
``anystream.operator.received``     observable counter, {item}   items that entered
``anystream.operator.emitted``      observable counter, {item}   items passed on
``anystream.operator.dropped``      observable counter, {item}   by ``anystream.drop.reason``
``anystream.operator.retried``      observable counter, {item}   retries (``map_async``)
``anystream.operator.dead_lettered``observable counter, {item}   items given up on
``anystream.buffer.fill``           observable gauge, {item}     items in each ``buffered(n)``
``anystream.buffer.capacity``       observable gauge, {item}     its ``n``
``anystream.operator.throughput``   histogram, {item}/s          items out per second, one
                                                                 value per sampling interval
``anystream.buffer.fill_ratio``     histogram, 1                 fill / capacity per interval
==================================  ===========================  ============================

The counters are *observable*: the SDK's reader calls back at collection time and the
callback reads the runs' live counters, so nothing is added to the pipeline's hot path.
They are cumulative across runs: when a tracked run ends, its final counts are kept and
added to later runs with the same pipeline name, so a counter never goes backwards.
The histograms are fed by a sampler task every ``interval`` seconds (the same one
``monitor()`` uses).

Spans (``spans=True``): one ``anystream.run`` span from entering to leaving the block,
with one ``anystream.operator`` event per operator carrying its final counts, and status
ERROR (exception type only) if the block fails. :func:`window_spans` adds one child span
per :class:`~anystream.Window` passing through it, spanning the window's own time range.
Per-item or per-stage-task spans need a runner hook (see docs/observability.md).

Item contents are never recorded: only counts, operator names and exception *types*
(an exception message can quote the item that caused it).

OpenTelemetry is an optional dependency: ``pip install 'anystream[otel]'``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from .._core.operator import GenStep, Operator
from .._core.owned import Owned
from .._core.runner import Run
from .metrics import MetricsSnapshot, take_snapshot
from .monitor import Monitor, monitor

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Histogram, Meter, MeterProvider, Observation
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from .._core.stream import Stream
    from ..ops.window import Window

__all__ = ["Instrumentation", "PipelineTelemetry", "WindowSpans", "instrument", "window_spans"]

W = TypeVar("W", bound="Window[Any, Any, Any]")
X = TypeVar("X")

SCOPE = "anystream"
Key = tuple[str, int, str, str]  # pipeline, position, operator name, kind


def _import_otel() -> Any:
    try:
        import opentelemetry.metrics
        import opentelemetry.trace
    except ImportError as exc:
        raise ModuleNotFoundError(
            "OpenTelemetry export needs opentelemetry-api (and an SDK to send data "
            "somewhere): pip install 'anystream[otel]'"
        ) from exc
    return opentelemetry


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("anystream")
    except Exception:  # pragma: no cover - not installed as a distribution
        return ""


@dataclass
class _Totals:
    """Counts of one operator (summed over runs) for the cumulative counters."""

    received: int = 0
    emitted: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def add(self, received: int, emitted: int, retried: int, dead: int, dropped: Any) -> None:
        self.received += received
        self.emitted += emitted
        self.retried += retried
        self.dead_lettered += dead
        for reason, n in dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + n


def _attributes(key: Key) -> dict[str, Any]:
    pipeline, position, name, kind = key
    return {
        "anystream.pipeline": pipeline,
        "anystream.operator": name,
        "anystream.operator.position": position,
        "anystream.operator.kind": kind,
    }


class PipelineTelemetry:
    """The instruments on one meter, shared by every run tracked with it.

    OpenTelemetry instruments live as long as their meter and cannot be unregistered, so
    they are created once per meter provider (:func:`instrument` keeps one per provider)
    and each tracked run registers with them for its lifetime.
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        otel = _import_otel()
        meter: Meter = otel.metrics.get_meter(SCOPE, _version(), meter_provider=meter_provider)
        self._live: dict[int, Instrumentation] = {}
        self._retired: dict[Key, _Totals] = {}
        item = "{item}"
        meter.create_observable_counter(
            "anystream.operator.received",
            [self._observe_received],
            unit=item,
            description="Items that entered the operator",
        )
        meter.create_observable_counter(
            "anystream.operator.emitted",
            [self._observe_emitted],
            unit=item,
            description="Items the operator passed on",
        )
        meter.create_observable_counter(
            "anystream.operator.dropped",
            [self._observe_dropped],
            unit=item,
            description="Items the operator discarded, by anystream.drop.reason",
        )
        meter.create_observable_counter(
            "anystream.operator.retried",
            [self._observe_retried],
            unit=item,
            description="Retries of a failed call",
        )
        meter.create_observable_counter(
            "anystream.operator.dead_lettered",
            [self._observe_dead_lettered],
            unit=item,
            description="Items given up on after retries",
        )
        meter.create_observable_gauge(
            "anystream.buffer.fill",
            [self._observe_fill],
            unit=item,
            description="Items held in a buffered(n) right now",
        )
        meter.create_observable_gauge(
            "anystream.buffer.capacity",
            [self._observe_capacity],
            unit=item,
            description="Capacity n of a buffered(n)",
        )
        self.throughput: Histogram = meter.create_histogram(
            "anystream.operator.throughput",
            unit="{item}/s",
            description="Items emitted per second, one value per sampling interval",
        )
        self.fill_ratio: Histogram = meter.create_histogram(
            "anystream.buffer.fill_ratio",
            unit="1",
            description="Buffer fill / capacity, one value per sampling interval",
            explicit_bucket_boundaries_advisory=[0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0],
        )
        self._observation: Any = otel.metrics.Observation

    # -- bookkeeping ----------------------------------------------------------------------

    def _register(self, tracked: Instrumentation) -> None:
        self._live[id(tracked)] = tracked

    def _retire(self, tracked: Instrumentation) -> None:
        """Fold a finished run's final counts into the retired totals."""
        if self._live.pop(id(tracked), None) is None:
            return
        for key, op in tracked.keyed(take_snapshot(tracked.run, now=0.0)):
            totals = self._retired.setdefault(key, _Totals())
            totals.add(op.received, op.emitted, op.retried, op.dead_lettered, op.dropped)

    def _totals(self) -> dict[Key, _Totals]:
        result = {key: _Totals() for key in self._retired}
        for key, totals in self._retired.items():
            result[key].add(
                totals.received,
                totals.emitted,
                totals.retried,
                totals.dead_lettered,
                totals.dropped,
            )
        for tracked in list(self._live.values()):
            for key, op in tracked.keyed(take_snapshot(tracked.run, now=0.0)):
                totals = result.setdefault(key, _Totals())
                totals.add(op.received, op.emitted, op.retried, op.dead_lettered, op.dropped)
        return result

    # -- callbacks (called by the SDK's reader, in its thread) ------------------------------

    def _observe(self, attr: str) -> Iterable[Observation]:
        make = self._observation
        return [make(getattr(t, attr), _attributes(k)) for k, t in self._totals().items()]

    def _observe_received(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe("received")

    def _observe_emitted(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe("emitted")

    def _observe_retried(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe("retried")

    def _observe_dead_lettered(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe("dead_lettered")

    def _observe_dropped(self, options: CallbackOptions) -> Iterable[Observation]:
        make = self._observation
        return [
            make(n, {**_attributes(key), "anystream.drop.reason": reason})
            for key, totals in self._totals().items()
            for reason, n in totals.dropped.items()
        ]

    def _buffers(self, attr: str) -> Iterable[Observation]:
        make = self._observation
        values: dict[Key, int] = {}
        for tracked in list(self._live.values()):
            for key, op in tracked.keyed(take_snapshot(tracked.run, now=0.0)):
                value = getattr(op, attr)
                if value is not None:
                    values[key] = values.get(key, 0) + value
        return [make(v, _attributes(k)) for k, v in values.items()]

    def _observe_fill(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._buffers("buffer_fill")

    def _observe_capacity(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._buffers("buffer_capacity")

    # -- tracking -------------------------------------------------------------------------

    def track(
        self,
        run: Run[Any],
        *,
        pipeline: str | None = None,
        spans: bool = False,
        tracer_provider: TracerProvider | None = None,
        interval: float = 1.0,
    ) -> Instrumentation:
        """Export ``run``'s metrics (and a span, with ``spans=True``) while the block runs."""
        return Instrumentation(
            self,
            run,
            pipeline=pipeline,
            spans=spans,
            tracer_provider=tracer_provider,
            interval=interval,
        )


class Instrumentation:
    """What :func:`instrument` returns: an async context manager tracking one run."""

    def __init__(
        self,
        telemetry: PipelineTelemetry,
        run: Run[Any],
        *,
        pipeline: str | None,
        spans: bool,
        tracer_provider: TracerProvider | None,
        interval: float,
    ) -> None:
        if not isinstance(run, Run):
            raise TypeError(
                f"instrument(): run must be a Run (from 'async with stream.stream() as run'), "
                f"got {type(run).__name__} {run!r:.60}"
            )
        if pipeline is not None and not isinstance(pipeline, str):
            raise TypeError(f"instrument(): pipeline must be a str, got {pipeline!r:.60}")
        if not isinstance(spans, bool):
            raise TypeError(f"instrument(): spans must be True or False, got {spans!r}")
        self.telemetry = telemetry
        self.run = run
        self.pipeline: str = pipeline if pipeline is not None else repr(run._stream)
        self._spans = spans
        self._tracer_provider = tracer_provider
        self._monitor: Monitor = monitor(run, interval, on_snapshot=self._record)
        self._keys: list[Key] | None = None
        self.span: Span | None = None
        self._context_token: object | None = None
        self._owned = Owned()  # holds _monitor open from __aenter__ to __aexit__

    def keyed(self, snap: MetricsSnapshot) -> list[tuple[Key, Any]]:
        if self._keys is None:
            self._keys = [(self.pipeline, op.position, op.name, op.kind) for op in snap]
        return list(zip(self._keys, snap.operators, strict=True))

    def _record(self, snap: MetricsSnapshot) -> None:
        telemetry = self.telemetry
        for key, op in self.keyed(snap):
            attrs = _attributes(key)
            if op.out_rate is not None:
                telemetry.throughput.record(op.out_rate, attrs)
            if op.buffer_ratio is not None:
                telemetry.fill_ratio.record(op.buffer_ratio, attrs)

    async def __aenter__(self) -> Instrumentation:
        if self._spans:
            otel = _import_otel()
            tracer: Tracer = otel.trace.get_tracer(
                SCOPE, _version(), tracer_provider=self._tracer_provider
            )
            snap = take_snapshot(self.run)
            self.span = tracer.start_span(
                "anystream.run",
                attributes={
                    "anystream.pipeline": self.pipeline,
                    "anystream.operators": [op.name for op in snap],
                },
            )
            # Current in this task, so window_spans() at the end of the pipeline (which
            # runs in the consumer's task) parents its spans here.
            ctx = otel.trace.set_span_in_context(self.span)
            self._context_token = _attach(ctx)
        self.telemetry._register(self)
        try:
            await self._owned.enter(self._monitor)
        except BaseException:
            self._close_span(None)
            self.telemetry._retire(self)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        error: BaseException | None = exc
        try:
            return await self._owned.exit(exc_type, exc, tb)
        except BaseException as raised:
            error = raised
            raise
        finally:
            self.telemetry._retire(self)
            self._close_span(error)

    def _close_span(self, error: BaseException | None) -> None:
        span = self.span
        if span is None:
            return
        otel = _import_otel()
        if self._context_token is not None:
            _detach(self._context_token)
            self._context_token = None
        snap = self._monitor.latest or take_snapshot(self.run)
        for op in snap:
            span.add_event(
                "anystream.operator",
                {
                    "anystream.operator": op.name,
                    "anystream.operator.position": op.position,
                    "anystream.operator.kind": op.kind,
                    "anystream.received": op.received,
                    "anystream.emitted": op.emitted,
                    "anystream.dropped": op.dropped_total,
                    "anystream.errors": op.errors,
                },
            )
        if snap.operators:
            span.set_attribute("anystream.emitted", snap.operators[-1].emitted)
        if error is not None and not isinstance(error, anyio.get_cancelled_exc_class()):
            # The type only: the message may quote an item.
            kind = type(error).__qualname__
            span.set_attribute("error.type", kind)
            span.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, kind))
        span.end()


def _attach(ctx: Any) -> object:
    from opentelemetry import context

    return context.attach(ctx)


def _detach(token: Any) -> None:
    from opentelemetry import context

    context.detach(token)


_telemetry: weakref.WeakKeyDictionary[Any, PipelineTelemetry] = weakref.WeakKeyDictionary()


def instrument(
    run: Run[Any],
    *,
    pipeline: str | None = None,
    spans: bool = False,
    meter_provider: MeterProvider | None = None,
    tracer_provider: TracerProvider | None = None,
    interval: float = 1.0,
) -> Instrumentation:
    """Export ``run``'s per-operator metrics to OpenTelemetry while the block runs.

    ::

        async with stream.stream() as run, instrument(run, pipeline="ingest"):
            async for item in run:
                ...

    ``pipeline`` names the pipeline in every data point (default: the stream's repr);
    runs with the same name add up. ``spans=True`` also records an ``anystream.run`` span
    around the block. ``meter_provider`` / ``tracer_provider`` default to the globally
    configured ones. Histograms are sampled every ``interval`` seconds.
    """
    otel = _import_otel()
    provider = meter_provider if meter_provider is not None else otel.metrics.get_meter_provider()
    telemetry = _telemetry.get(provider)
    if telemetry is None:
        telemetry = _telemetry[provider] = PipelineTelemetry(provider)
    return telemetry.track(
        run,
        pipeline=pipeline,
        spans=spans,
        tracer_provider=tracer_provider,
        interval=interval,
    )


# -- per-window spans -------------------------------------------------------------------


class WindowSpans(Operator[Any, Any]):
    """The type of :func:`window_spans`: a stream of windows keeps its exact window type
    (``Stream[Window[Event, str, float]]`` stays one); other streams are refused."""

    __slots__ = ()

    def _pipe_into(self, stream: Stream[W], /) -> Stream[W]:
        return stream._extend(self._steps)

    def __ror__(self, other: Callable[[Stream[X]], Stream[W]]) -> Callable[[Stream[X]], Stream[W]]:
        # ``fn | op``: a function from stream to stream, then this operator.
        return super().__ror__(other)


def window_spans(
    *, name: str = "anystream.window", tracer_provider: TracerProvider | None = None
) -> WindowSpans:
    """Pass windows through unchanged, recording one span per window.

    ::

        input   --[w1]------[w2]--|
        output  --[w1]------[w2]--|      (and a span per window)

    Each span covers the window's own ``[start, end)`` (converted from the event loop's
    clock to wall-clock time) and carries ``anystream.window.count``; its parent is the
    current span where the operator runs (the ``anystream.run`` span of
    ``instrument(run, spans=True)`` when this is the last operator of the pipeline).
    Items and keys are not recorded.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"window_spans(): name must be a non-empty str, got {name!r:.60}")
    otel = _import_otel()
    tracer_provider_ = tracer_provider

    def make(source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        tracer = otel.trace.get_tracer(SCOPE, _version(), tracer_provider=tracer_provider_)
        return _window_spans(source, tracer, name)

    return WindowSpans((GenStep(f"window_spans({name})", make),))


async def _window_spans(source: AsyncIterator[Any], tracer: Any, name: str) -> AsyncIterator[Any]:
    async for window in source:
        start = getattr(window, "start", None)
        end = getattr(window, "end", None)
        if isinstance(start, int | float) and isinstance(end, int | float):
            # Loop clock -> wall clock, through "now" on both.
            offset = time.time_ns() - int(anyio.current_time() * 1e9)
            span = tracer.start_span(
                name,
                start_time=offset + int(start * 1e9),
                attributes={"anystream.window.count": len(window)},
            )
            span.end(end_time=offset + int(end * 1e9))
        yield window
