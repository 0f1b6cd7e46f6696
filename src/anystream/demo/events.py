"""Events of the reference pipeline: parsing a raw line, the region lookup, window summaries.

A raw line is ``ts,type,severity,user_id`` (``12.345,order,warn,3``). :func:`parse_event`
turns it into an :class:`Event` or raises ``ValueError`` (which ``parse`` counts as
malformed). :class:`RegionService` is the slow dependency of the enrich stage: every lookup
takes ``latency`` seconds (30 ms by default), which is what makes the stage the bottleneck
whose backpressure the demo shows. :func:`summarize` reduces a :class:`Window` of enriched
events to the numbers printed per window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from ..ops.window import Window

__all__ = [
    "REGIONS",
    "SEVERITIES",
    "TYPES",
    "Event",
    "RegionService",
    "WindowSummary",
    "at_least",
    "make_enricher",
    "parse_event",
    "severity_rank",
    "summarize",
]

#: Event types the feed produces.
TYPES = ("order", "auth", "payment", "search")
#: Severities in increasing order of importance.
SEVERITIES = ("debug", "info", "warn", "error")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
#: Where each user lives, as the lookup service knows it.
REGIONS: Mapping[int, str] = {1: "eu-west", 2: "us-east", 3: "ap-south", 4: "eu-west", 5: "us-west"}


def severity_rank(severity: str) -> int:
    """Position of ``severity`` in :data:`SEVERITIES`; ``ValueError`` if unknown."""
    try:
        return _RANK[severity]
    except KeyError:
        raise ValueError(
            f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}"
        ) from None


@dataclass(frozen=True, slots=True)
class Event:
    """One parsed feed line; ``region`` is filled in by the enrich stage."""

    ts: float
    type: str
    severity: str
    user_id: int
    region: str | None = None

    @property
    def rank(self) -> int:
        return _RANK[self.severity]


def parse_event(line: str) -> Event:
    """Parse ``ts,type,severity,user_id``; raise ``ValueError`` for anything else."""
    parts = line.strip().split(",")
    if len(parts) != 4:
        raise ValueError(f"expected 4 comma-separated fields, got {len(parts)}: {line!r}")
    ts_text, kind, severity, user_text = parts
    ts = float(ts_text)
    if kind not in TYPES:
        raise ValueError(f"unknown event type {kind!r}")
    severity_rank(severity)
    user_id = int(user_text)
    if user_id <= 0:
        raise ValueError(f"user_id must be positive, got {user_id}")
    return Event(ts, kind, severity, user_id)


def at_least(min_severity: str) -> Callable[[Event], bool]:
    """A predicate keeping events of severity ``min_severity`` or above."""
    threshold = severity_rank(min_severity)

    def keep(event: Event) -> bool:
        return event.rank >= threshold

    keep.__name__ = keep.__qualname__ = f"severity>={min_severity}"
    return keep


class RegionService:
    """A simulated remote lookup: user id -> region, ``latency`` seconds per call.

    ``calls`` counts lookups started, ``completed`` lookups that returned; the difference
    is the number in flight (at most the enrich stage's concurrency).
    """

    def __init__(self, latency: float = 0.030, regions: Mapping[int, str] = REGIONS) -> None:
        if latency < 0:
            raise ValueError(f"RegionService(): latency must be >= 0, got {latency}")
        self.latency = latency
        self.regions = regions
        self.calls: int = 0
        self.completed: int = 0

    async def lookup(self, user_id: int) -> str:
        self.calls += 1
        await anyio.sleep(self.latency)
        self.completed += 1
        return self.regions.get(user_id, "unknown")


def make_enricher(service: RegionService) -> Callable[[Event], Awaitable[Event]]:
    """The enrich stage's coroutine function: the event with its region filled in."""

    async def enrich(event: Event) -> Event:
        return replace(event, region=await service.lookup(event.user_id))

    return enrich


@dataclass(frozen=True)
class WindowSummary:
    """What the demo reports for one window.

    ``start``/``end`` are seconds since the run started; ``buffer_load`` is, per
    ``buffered(n)`` stage, the items in its buffer or handed to it and waiting for room,
    when the window was emitted; ``partial`` marks the window flushed at end of input
    before its time was up (the last one after a graceful stop).
    """

    index: int
    start: float
    end: float
    count: int
    by_type: dict[str, int] = field(default_factory=dict)
    by_region: dict[str, int] = field(default_factory=dict)
    buffer_load: tuple[int, ...] = ()
    partial: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "window",
            "index": self.index,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "count": self.count,
            "by_type": self.by_type,
            "by_region": self.by_region,
            "buffer_load": list(self.buffer_load),
            "partial": self.partial,
        }


def _ordered(counter: Counter[str], order: Sequence[str]) -> dict[str, int]:
    known = {key: counter[key] for key in order if counter[key]}
    rest = {key: n for key, n in sorted(counter.items()) if key not in known}
    return known | rest


def summarize(
    window: Window[Event],
    *,
    index: int,
    origin: float = 0.0,
    buffer_load: Sequence[int] = (),
    partial: bool = False,
) -> WindowSummary:
    """Count a window's events by type and by region."""
    by_type = Counter(event.type for event in window.items)
    by_region = Counter(event.region or "unknown" for event in window.items)
    return WindowSummary(
        index=index,
        start=window.start - origin,
        end=window.end - origin,
        count=len(window),
        by_type=_ordered(by_type, TYPES),
        by_region=_ordered(by_region, sorted(set(REGIONS.values()))),
        buffer_load=tuple(buffer_load),
        partial=partial,
    )
