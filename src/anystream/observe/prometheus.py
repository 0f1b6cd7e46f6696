"""Expose a run's counters to Prometheus: ``/metrics`` from a running pipeline.

Needs the ``prometheus`` extra (``pip install 'anystream[prometheus]'``, which brings
``prometheus_client``). Two pieces:

:class:`RunCollector`
    a ``prometheus_client`` collector that reads a run's counters each time it is scraped
    (nothing is copied on the pipeline's hot path). Register it on any registry::

        from prometheus_client import CollectorRegistry
        registry = CollectorRegistry()
        registry.register(RunCollector(stream, pipeline="ingest"))

:func:`start_http_server`
    serves one collector on ``http://ADDR:PORT/metrics`` from a thread of its own, so it
    works the same on asyncio and trio; close it with ``server.close()`` (or
    ``await server.aclose()``, or use it as a context manager)::

        async with start_http_server(stream, port=9464) as server:
            await stream.collect()

What a scrape shows, per operator (labels ``pipeline``, ``position``, ``operator``):

- ``anystream_items_total{outcome="received"|"emitted"|"dead_lettered"}``: counters;
- ``anystream_dropped_total{reason=...}``: items dropped, by reason (``filtered``,
  ``malformed``, ``overflow``, ...);
- ``anystream_buffer_fill`` / ``anystream_buffer_capacity`` for each ``buffered(n)``;
- with a timed run (``stream.stream(timing=True)``): the summaries
  ``anystream_stage_seconds{stage, phase="wait"|"compute"|"blocked", quantile}`` and
  ``anystream_end_to_end_seconds{quantile}`` (quantiles 0.5, 0.95 and 0.99).

Given a :class:`Stream`, the collector follows the stream's most recent run, so one
collector serves a stream that is run again and again; given a :class:`Run`, that run.
Before the first run a scrape shows no anystream samples (nothing is invented).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import anyio.to_thread

from .._core.callables import check_int
from .._core.runner import Run
from .._core.stream import Stream
from .latency import LatencyReport, Summary
from .metrics import MetricsSnapshot, take_snapshot

try:
    import prometheus_client
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as _missing:  # pragma: no cover - the extra is installed in the tests
    raise ModuleNotFoundError(
        "anystream.observe.prometheus needs prometheus_client: pip install 'anystream[prometheus]'"
    ) from _missing

__all__ = ["MetricsServer", "RunCollector", "start_http_server"]

QUANTILES = (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"))
_OP_LABELS = ["pipeline", "position", "operator"]
_READ_ATTEMPTS = 3


def _check_source(op: str, source: Any) -> Run[Any] | Stream[Any]:
    if not isinstance(source, Run | Stream):
        raise TypeError(
            f"{op}(): source must be a Stream or a Run (from 'async with stream.stream() as "
            f"run'), got {type(source).__name__} {source!r:.60}"
        )
    return source


class RunCollector(Collector):
    """A ``prometheus_client`` collector for one run (or a stream's most recent run).

    ``pipeline`` is the value of the ``pipeline`` label on every sample, so that several
    pipelines can share one registry. ``namespace`` prefixes every metric name
    (``anystream`` by default). See the module docstring for the metrics.
    """

    def __init__(
        self,
        source: Run[Any] | Stream[Any],
        *,
        pipeline: str = "default",
        namespace: str = "anystream",
    ) -> None:
        self._source = _check_source("RunCollector", source)
        if not isinstance(pipeline, str) or not pipeline:
            raise TypeError(f"RunCollector(): pipeline must be a non-empty str, got {pipeline!r}")
        if not isinstance(namespace, str) or not namespace.isidentifier():
            raise ValueError(
                f"RunCollector(): namespace must be a metric-name prefix such as "
                f"'anystream', got {namespace!r}"
            )
        self.pipeline = pipeline
        self.namespace = namespace

    def describe(self) -> Iterable[Metric]:
        # Nothing to describe up front: the operators are known only once a run exists,
        # and an empty description keeps registration from scraping the run early.
        return ()

    def _snapshot(self) -> MetricsSnapshot | None:
        try:
            # Called from the HTTP server's thread: no event loop, so pass a clock
            # reading of our own (rates are not exported, only counters).
            return take_snapshot(self._source, now=0.0)
        except RuntimeError:  # a Stream that has not been run yet
            return None

    def _latency(self) -> LatencyReport | None:
        source = self._source
        run = source if isinstance(source, Run) else None
        if run is None:
            return None
        if run._timer is None:  # not timed
            return None
        # The sketches are updated by the event loop's thread while this one reads
        # them; a bucket merged away mid-read shows as a KeyError. Read again.
        for _ in range(_READ_ATTEMPTS - 1):
            try:
                return run.latency()
            except (KeyError, RuntimeError):
                continue
        return run.latency()

    def collect(self) -> Iterable[Metric]:
        """Read the run's counters now; called by the registry on every scrape."""
        snap = self._snapshot()
        if snap is None:
            return []
        ns = self.namespace
        items = CounterMetricFamily(
            f"{ns}_items",
            "Items per operator and outcome (received, emitted, dead_lettered).",
            labels=[*_OP_LABELS, "outcome"],
        )
        dropped = CounterMetricFamily(
            f"{ns}_dropped",
            "Items an operator dropped, by reason (nothing is dropped silently).",
            labels=[*_OP_LABELS, "reason"],
        )
        fill = GaugeMetricFamily(
            f"{ns}_buffer_fill", "Items inside a buffered(n) right now.", labels=_OP_LABELS
        )
        capacity = GaugeMetricFamily(
            f"{ns}_buffer_capacity", "Capacity of a buffered(n).", labels=_OP_LABELS
        )
        for op in snap:
            labels = [self.pipeline, str(op.position), op.name]
            items.add_metric([*labels, "received"], op.received)
            items.add_metric([*labels, "emitted"], op.emitted)
            items.add_metric([*labels, "dead_lettered"], op.dead_lettered)
            for reason, n in sorted(op.dropped.items()):
                dropped.add_metric([*labels, reason], n)
            if op.buffer_fill is not None and op.buffer_capacity is not None:
                fill.add_metric(labels, op.buffer_fill)
                capacity.add_metric(labels, op.buffer_capacity)
        metrics: list[Metric] = [items, dropped, fill, capacity]
        report = self._latency()
        if report is not None:
            metrics.extend(self._latency_metrics(report))
        return metrics

    def _latency_metrics(self, report: LatencyReport) -> list[Metric]:
        ns = self.namespace
        stages = Metric(
            f"{ns}_stage_seconds",
            "Per-stage time of an item: waiting in the buffer, computing, blocked downstream.",
            "summary",
        )
        for stage in report.stages:
            for phase in ("wait", "compute", "blocked"):
                labels = {"pipeline": self.pipeline, "stage": stage.name, "phase": phase}
                _add_summary(stages, f"{ns}_stage_seconds", labels, getattr(stage, phase))
        end = Metric(
            f"{ns}_end_to_end_seconds",
            "Time from the source producing an item to the consumer receiving it.",
            "summary",
        )
        _add_summary(
            end, f"{ns}_end_to_end_seconds", {"pipeline": self.pipeline}, report.end_to_end
        )
        return [stages, end]


def _add_summary(metric: Metric, name: str, labels: dict[str, str], s: Summary) -> None:
    if s.count:
        for quantile, field in QUANTILES:
            value = getattr(s, field)
            if not math.isnan(value):
                metric.add_sample(name, {**labels, "quantile": quantile}, value)
    metric.add_sample(f"{name}_count", labels, s.count)
    metric.add_sample(f"{name}_sum", labels, s.mean * s.count if s.count else 0.0)


class MetricsServer:
    """A running ``/metrics`` endpoint (see :func:`start_http_server`).

    ``port`` is the port it listens on (the one chosen when 0 was asked for), ``url`` the
    address to scrape, ``registry`` the registry it serves, ``collector`` the run's
    collector on it.
    """

    def __init__(
        self, server: Any, thread: Any, registry: CollectorRegistry, collector: RunCollector
    ) -> None:
        self._server = server
        self._thread = thread
        self.registry = registry
        self.collector = collector
        self.addr: str = server.server_address[0]
        self.port: int = server.server_address[1]
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port (blocks for up to half a second)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread, so the event loop keeps running meanwhile."""
        await anyio.to_thread.run_sync(self.close)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> MetricsServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"MetricsServer({self.url}, {state})"


def start_http_server(
    source: Run[Any] | Stream[Any],
    port: int = 0,
    *,
    addr: str = "127.0.0.1",
    pipeline: str = "default",
    registry: CollectorRegistry | None = None,
) -> MetricsServer:
    """Serve ``source``'s metrics on ``http://addr:port/metrics`` from a background thread.

    ``port=0`` picks a free port (read it from ``server.port``). ``addr`` defaults to the
    loopback address: pass ``"0.0.0.0"`` to let other machines scrape. The collector is
    registered on ``registry`` (a new ``CollectorRegistry`` by default, so the endpoint
    shows this pipeline only; pass ``prometheus_client.REGISTRY`` to add the process
    metrics). Returns at once; the server runs until :meth:`MetricsServer.close`.
    """
    port = check_int("start_http_server", "port", port)
    if port > 65535:
        raise ValueError(f"start_http_server(): port must be between 0 and 65535, got {port}")
    if not isinstance(addr, str) or not addr:
        raise TypeError(f"start_http_server(): addr must be a host address, got {addr!r}")
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise TypeError(
            f"start_http_server(): registry must be a prometheus_client CollectorRegistry, "
            f"got {type(registry).__name__}"
        )
    collector = RunCollector(_check_source("start_http_server", source), pipeline=pipeline)
    chosen = CollectorRegistry() if registry is None else registry
    chosen.register(collector)
    try:
        server, thread = prometheus_client.start_http_server(port, addr=addr, registry=chosen)
    except BaseException:
        chosen.unregister(collector)
        raise
    return MetricsServer(server, thread, chosen, collector)
