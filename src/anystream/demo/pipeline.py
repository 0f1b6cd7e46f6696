"""The reference real-time pipeline, buildable from Python (notebooks, tests) and the CLI.

::

    feed --> parse(Event) --> where(severity >= min) --> buffered(50)
         --> map_async(lookup region, 30 ms) --> buffered(50) --> tumbling_window(2.0)

The enrich stage is the bottleneck (about 33 lookups per second per unit of
concurrency), so with a fast feed the bounded buffers fill, the feed is no longer asked
for lines, and memory stays flat: at most ``2 * buffer_size`` events wait, plus one in
hand per stage and the lookups in flight.

:func:`build_pipeline` returns just the :class:`~anystream.Stream` of windows;
:func:`build_demo` returns a :class:`Demo` that also holds the feed and lookup service
and turns the run's counters into window lines and the closing summary. After a
graceful stop the summary balances: every line read was malformed, filtered out, or
counted in a window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from .._core.stats import RunStats
from .._core.stream import Stream
from ..ops.create import from_iterable
from ..ops.flow import buffered
from ..ops.select import where
from ..ops.transform import map_async, parse
from ..ops.window import Window, tumbling_window
from .events import Event, RegionService, WindowSummary, at_least, make_enricher, parse_event
from .events import summarize as summarize_window
from .feed import Feed

__all__ = ["Demo", "DemoConfig", "DemoSummary", "build_demo", "build_pipeline"]

logger: logging.Logger = logging.getLogger("anystream.demo")


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of the reference pipeline (the CLI options map one to one)."""

    window: float = 2.0
    min_severity: str = "info"
    rate: float | None = None
    concurrency: int = 1
    seed: int | None = None
    latency: float = 0.030
    buffer_size: int = 50
    limit: int | None = None

    @property
    def enrich_capacity(self) -> float:
        """Events per second the enrich stage can handle (inf with zero latency)."""
        return self.concurrency / self.latency if self.latency > 0 else float("inf")


@dataclass(frozen=True)
class DemoSummary:
    """The closing numbers of a run.

    ``read`` lines were pulled from the feed; each was then ``malformed`` (dropped by
    ``parse``), ``filtered`` (below the severity threshold), counted in a window
    (``in_windows``), or still ``in_flight`` when the run ended (only after an abort).
    ``max_buffer_load`` is the most items seen held at each ``buffered`` stage: in its
    buffer or waiting to enter it (see :meth:`Demo.buffer_load`).
    """

    read: int
    malformed: int
    filtered: int
    enriched: int
    in_windows: int
    windows: int
    buffer_sizes: tuple[int, ...]
    max_buffer_load: tuple[int, ...]
    elapsed: float
    enrich_capacity: float

    @property
    def in_flight(self) -> int:
        return self.read - self.malformed - self.filtered - self.in_windows

    @property
    def balanced(self) -> bool:
        """``read == malformed + filtered + in_windows`` (and every enriched event landed)."""
        return self.in_flight == 0 and self.enriched == self.in_windows

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "summary",
            "read": self.read,
            "malformed": self.malformed,
            "filtered": self.filtered,
            "enriched": self.enriched,
            "in_windows": self.in_windows,
            "in_flight": self.in_flight,
            "windows": self.windows,
            "balanced": self.balanced,
            "buffer_sizes": list(self.buffer_sizes),
            "max_buffer_load": list(self.max_buffer_load),
            "elapsed": round(self.elapsed, 3),
            "enrich_capacity": self.enrich_capacity,
        }


@dataclass
class Demo:
    """The pipeline plus the state that turns its counters into the demo's report.

    Call :meth:`on_window` for every window the run yields (it keeps the totals) and
    :meth:`summary` at the end. :meth:`watch` samples buffer fill in the background.
    """

    config: DemoConfig
    feed: Feed
    service: RegionService
    stream: Stream[Window[Event]]
    windows: int = 0
    in_windows: int = 0
    origin: float | None = None
    ended: float | None = None
    max_load: list[int] = field(default_factory=list)
    _positions: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _buffers: tuple[int, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        names = [step.name for step in self.stream.steps]
        # Positions in RunStats: 0 is the source, then one per step.
        for kind in ("parse", "where", "map_async", "tumbling_window"):
            self._positions[kind] = 1 + next(i for i, n in enumerate(names) if n.startswith(kind))
        self._buffers = tuple(1 + i for i, n in enumerate(names) if n.startswith("buffered("))
        self.max_load = [0] * len(self._buffers)

    @property
    def buffer_sizes(self) -> tuple[int, ...]:
        return (self.config.buffer_size,) * len(self._buffers)

    def start(self) -> None:
        """Mark the start of a run (window times are reported relative to it)."""
        self.origin = anyio.current_time()
        self.ended = None
        self.windows = self.in_windows = 0
        self.max_load = [0] * len(self._buffers)

    def buffer_load(self, stats: RunStats) -> tuple[int, ...]:
        """Items held at each ``buffered`` stage now: in the buffer, or waiting to enter.

        From the run's counters: a boundary's ``received`` counts items its upstream
        handed over (counted before a send that may have to wait for room) and
        ``emitted`` items its downstream took. So the difference is the buffer's fill
        plus the items of senders blocked on a full buffer (at most one per sending
        task). Also updates :attr:`max_load`.
        """
        ops = stats.operators
        load = tuple(ops[i].received - ops[i].emitted for i in self._buffers)
        self.max_load = [max(a, b) for a, b in zip(self.max_load, load, strict=True)]
        return load

    def on_window(self, window: Window[Event], stats: RunStats) -> WindowSummary:
        """Count ``window`` into the totals and summarise it."""
        now = anyio.current_time()
        if self.origin is None:
            self.origin = window.start
        summary = summarize_window(
            window,
            index=self.windows,
            origin=self.origin,
            buffer_load=self.buffer_load(stats),
            partial=now < window.end,
        )
        self.windows += 1
        self.in_windows += len(window)
        return summary

    async def watch(self, stats: RunStats, interval: float = 0.01) -> None:
        """Sample buffer fill every ``interval`` seconds until cancelled."""
        while True:
            self.buffer_load(stats)
            await anyio.sleep(interval)

    def summary(self, stats: RunStats) -> DemoSummary:
        """The closing numbers, from the run's counters and the windows seen."""
        ops = stats.operators
        pos = self._positions
        if self.ended is None:
            self.ended = anyio.current_time()
        self.buffer_load(stats)
        return DemoSummary(
            read=ops[0].received,
            malformed=ops[pos["parse"]].dropped.get("malformed", 0),
            filtered=ops[pos["where"]].dropped.get("filtered", 0),
            enriched=ops[pos["map_async"]].emitted,
            in_windows=self.in_windows,
            windows=self.windows,
            buffer_sizes=self.buffer_sizes,
            max_buffer_load=tuple(self.max_load),
            elapsed=self.ended - (self.origin if self.origin is not None else self.ended),
            enrich_capacity=self.config.enrich_capacity,
        )


def build_demo(
    config: DemoConfig | None = None,
    *,
    on_source_stop: Callable[[int], None] | None = None,
    **overrides: Any,
) -> Demo:
    """The reference pipeline for ``config`` (fields may also be given as keywords).

    ``on_source_stop(lines)`` is called when the feed stops (graceful stop, abort, or
    ``limit`` reached), with the number of lines it produced.
    """
    config = replace(config or DemoConfig(), **overrides)
    if config.buffer_size < 0:
        raise ValueError(f"build_demo(): buffer_size must be >= 0, got {config.buffer_size}")
    feed = Feed(rate=config.rate, seed=config.seed, limit=config.limit, on_stop=on_source_stop)
    service = RegionService(config.latency)
    stream = (
        from_iterable(feed)
        | parse(parse_event, name="event")
        | where(at_least(config.min_severity), name=f"severity>={config.min_severity}")
        | buffered(config.buffer_size)
        | map_async(make_enricher(service), concurrency=config.concurrency, name="region")
        | buffered(config.buffer_size)
        | tumbling_window(config.window, emit_empty=True)
    )
    return Demo(config, feed, service, stream)


def build_pipeline(
    *,
    window: float = 2.0,
    min_severity: str = "info",
    rate: float | None = None,
    concurrency: int = 1,
    seed: int | None = None,
    latency: float = 0.030,
    buffer_size: int = 50,
    limit: int | None = None,
) -> Stream[Window[Event]]:
    """The reference pipeline as a plain :class:`~anystream.Stream` of windows.

    ::

        windows = build_pipeline(window=1.0, seed=7, limit=500)
        async with windows.stream() as run:
            async for w in run:
                print(w.start, len(w))
    """
    config = DemoConfig(
        window=window,
        min_severity=min_severity,
        rate=rate,
        concurrency=concurrency,
        seed=seed,
        latency=latency,
        buffer_size=buffer_size,
        limit=limit,
    )
    return build_demo(config).stream
