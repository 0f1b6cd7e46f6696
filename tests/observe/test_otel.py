"""Tests for anystream.observe.otel with the OpenTelemetry SDK's in-memory reader/exporter."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from anystream import buffered, from_iterable, map, parse, tumbling_window
from anystream.observe.otel import PipelineTelemetry, instrument, window_spans

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-item"


@pytest.fixture
def meter() -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


@pytest.fixture
def tracer() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Metric name -> its data points, from one collection."""
    data = reader.get_metrics_data()
    result: dict[str, list[Any]] = {}
    if data is None:
        return result
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                result.setdefault(metric.name, []).extend(metric.data.data_points)
    return result


def value(pts: list[Any], operator: str, **attrs: Any) -> Any:
    for p in pts:
        a = p.attributes
        if a["anystream.operator"].startswith(operator) and all(
            a.get(k.replace("_", ".")) == v for k, v in attrs.items()
        ):
            return p.value
    raise KeyError(operator)


async def ticking(n: int, period: float) -> AsyncIterator[str]:
    for i in range(n):
        await anyio.sleep(period)
        yield SECRET if i % 10 == 9 else str(i)


def pipeline(n: int) -> Any:
    return from_iterable(ticking(n, 0.1)) | parse(int) | buffered(4) | map(lambda v: v + 1)


async def test_counters_and_gauges_while_running_and_after(meter: Any) -> None:
    provider, reader = meter
    s = pipeline(100)
    async with s.stream() as run, instrument(run, pipeline="p", meter_provider=provider):
        seen = 0
        async for _ in run:
            seen += 1
            if seen == 40:
                live = points(reader)
                assert value(live["anystream.operator.received"], "parse") >= 44
                assert value(live["anystream.buffer.capacity"], "buffered") == 4
                assert 0 <= value(live["anystream.buffer.fill"], "buffered") <= 4
                for p in live["anystream.operator.received"]:
                    assert p.attributes["anystream.pipeline"] == "p"
        assert seen == 90
    after = points(reader)
    assert value(after["anystream.operator.received"], "from_iterable") == 100
    assert value(after["anystream.operator.emitted"], "parse") == 90
    assert (
        value(after["anystream.operator.dropped"], "parse", anystream_drop_reason="malformed") == 10
    )
    assert value(after["anystream.operator.emitted"], "map") == 90
    kinds = {p.attributes["anystream.operator.kind"] for p in after["anystream.operator.emitted"]}
    assert kinds == {"source", "operator", "buffer"}
    # Gauges describe live runs only.
    assert "anystream.buffer.fill" not in after or not after["anystream.buffer.fill"]


async def test_counters_add_up_across_runs(meter: Any) -> None:
    provider, reader = meter
    for _ in range(3):
        s = pipeline(20)
        async with s.stream() as run, instrument(run, pipeline="p", meter_provider=provider):
            async for _ in run:
                pass
    pts = points(reader)
    assert value(pts["anystream.operator.received"], "parse") == 60
    assert value(pts["anystream.operator.emitted"], "map") == 54


async def test_histograms_sampled_per_interval(meter: Any) -> None:
    provider, reader = meter
    s = pipeline(55)
    async with s.stream() as run, instrument(run, meter_provider=provider, interval=1.0):
        async for _ in run:
            pass
    pts = points(reader)
    throughput = [
        p
        for p in pts["anystream.operator.throughput"]
        if p.attributes["anystream.operator"] == "parse(int)"
    ]
    assert len(throughput) == 1
    # Samples at t = 1..5 (5 of them at ~9 items/s) plus the final partial one.
    assert throughput[0].count == 6
    assert throughput[0].max == pytest.approx(10.0, abs=1.1)
    ratio = pts["anystream.buffer.fill_ratio"]
    assert ratio[0].count == 6
    assert 0 <= ratio[0].min <= ratio[0].max <= 1


async def test_run_span_with_operator_events(meter: Any, tracer: Any) -> None:
    provider, _ = meter
    tracer_provider, exporter = tracer
    s = pipeline(30)
    async with (
        s.stream() as run,
        instrument(
            run, pipeline="p", spans=True, meter_provider=provider, tracer_provider=tracer_provider
        ) as inst,
    ):
        assert inst.span is not None
        async for _ in run:
            pass
    (span,) = exporter.get_finished_spans()
    assert span.name == "anystream.run"
    assert span.attributes["anystream.pipeline"] == "p"
    assert span.attributes["anystream.emitted"] == 27
    assert [e.attributes["anystream.operator"] for e in span.events][1] == "parse(int)"
    assert span.events[1].attributes["anystream.errors"] == 3
    assert span.status.status_code == StatusCode.UNSET


async def test_failed_run_span_has_error_type_but_no_item(meter: Any, tracer: Any) -> None:
    provider, _ = meter
    tracer_provider, exporter = tracer

    def strict(line: str) -> int:
        raise ValueError(f"bad line {line!r}")

    s = from_iterable(ticking(5, 0.1)) | buffered(1) | map(strict)
    with pytest.raises(ValueError, match="bad line"):
        async with (
            s.stream() as run,
            instrument(run, spans=True, meter_provider=provider, tracer_provider=tracer_provider),
        ):
            async for _ in run:
                pass
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    assert "bad line" not in str(span.to_json())


async def test_window_spans_are_children_of_the_run_span(meter: Any, tracer: Any) -> None:
    provider, _ = meter
    tracer_provider, exporter = tracer
    s = (
        from_iterable(ticking(50, 0.1))
        | tumbling_window(2.0)
        | window_spans(tracer_provider=tracer_provider)
    )
    async with (
        s.stream() as run,
        instrument(run, spans=True, meter_provider=provider, tracer_provider=tracer_provider),
    ):
        windows = [w async for w in run]
    spans = exporter.get_finished_spans()
    run_span = next(sp for sp in spans if sp.name == "anystream.run")
    window = [sp for sp in spans if sp.name == "anystream.window"]
    assert len(window) == len(windows) == 3
    assert [sp.attributes["anystream.window.count"] for sp in window] == [len(w) for w in windows]
    for sp in window:
        assert sp.parent is not None
        assert sp.parent.span_id == run_span.context.span_id
        assert sp.end_time - sp.start_time == pytest.approx(2e9, rel=1e-6)
    assert SECRET not in "".join(sp.to_json() for sp in spans)


async def test_nothing_about_items_is_exported(meter: Any, tracer: Any) -> None:
    provider, reader = meter
    tracer_provider, exporter = tracer
    s = pipeline(20)
    async with (
        s.stream() as run,
        instrument(run, spans=True, meter_provider=provider, tracer_provider=tracer_provider),
    ):
        async for _ in run:
            pass
    data = reader.get_metrics_data()
    assert data is not None
    assert SECRET not in data.to_json()
    assert SECRET not in "".join(sp.to_json() for sp in exporter.get_finished_spans())


async def test_one_telemetry_per_provider(meter: Any) -> None:
    provider, _ = meter
    a = instrument(pipeline(1).stream(), meter_provider=provider)
    b = instrument(pipeline(1).stream(), meter_provider=provider)
    assert a.telemetry is b.telemetry
    assert isinstance(a.telemetry, PipelineTelemetry)


async def test_bad_arguments(meter: Any) -> None:
    provider, _ = meter
    with pytest.raises(TypeError, match="run must be a Run"):
        instrument(pipeline(1), meter_provider=provider)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pipeline must be a str"):
        instrument(pipeline(1).stream(), pipeline=3, meter_provider=provider)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="spans"):
        instrument(pipeline(1).stream(), spans="yes", meter_provider=provider)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        instrument(pipeline(1).stream(), interval=0, meter_provider=provider)
    with pytest.raises(TypeError, match="name"):
        window_spans(name="")


async def test_missing_otel_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ModuleNotFoundError, match=r"anystream\[otel\]"):
        instrument(pipeline(1).stream())
