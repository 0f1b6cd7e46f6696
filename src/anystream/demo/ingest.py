"""The resilient-ingestion reference scenario (``anystream demo ingest``).

Producers feed a bounded buffer; four consumers write to a flaky sink (15 % transient
failures, 50-150 ms latency), retrying with exponential backoff and full jitter, up to
five retries; an event that still fails is dead-lettered with its reason. Events carry
ids and the write goes through an :class:`~anystream.IdempotentSink`, so a replayed event
is never written twice. The source is an acknowledged queue: an event is acknowledged
once it was written, dead-lettered or skipped as a duplicate, and an abort leaves the
rest unacknowledged for the next run to replay (at-least-once delivery).

At the end every event is accounted for: written, or dead-lettered with its reason;
every written event is in the sink exactly once; and the ledger is printed.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import anyio

from .. import (
    Acked,
    DeadLetters,
    IdempotentSink,
    Retry,
    Stream,
    buffered,
    from_acked,
    map_async,
)
from .._core.runner import Run
from .._core.stats import RunStats

__all__ = ["Event", "FlakySink", "IngestReport", "ReplayableQueue", "build_ingest", "run_ingest"]


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    payload: str
    created: float


class FlakySink:
    """A store whose writes take 50-150 ms and fail transiently with probability ``p``.

    ``permanent`` ids always fail (they end up dead-lettered).
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        failure_rate: float = 0.15,
        permanent: frozenset[int] = frozenset(),
    ) -> None:
        self.rng = rng
        self.failure_rate = failure_rate
        self.permanent = permanent
        self.rows: Counter[int] = Counter()
        self.attempts: int = 0
        self.latencies: list[float] = []

    async def write(self, event: Event) -> None:
        self.attempts += 1
        await anyio.sleep(self.rng.uniform(0.05, 0.15))
        if event.id in self.permanent:
            raise PermissionError(f"event {event.id} rejected by the sink")
        if self.rng.random() < self.failure_rate:
            raise ConnectionError("transient sink failure")
        self.rows[event.id] += 1
        self.latencies.append(anyio.current_time() - event.created)


class ReplayableQueue:
    """An in-memory queue with acknowledgements: unacked events are replayed next run."""

    def __init__(self, count: int) -> None:
        self.pending: dict[int, str] = {i: f"payload-{i}" for i in range(count)}
        self.enqueued = count
        self.acked: int = 0
        self.nacked: int = 0

    async def read(self, rate: float) -> AsyncIterator[Acked[Event]]:
        for event_id in sorted(self.pending):
            await anyio.sleep(1 / rate)
            event = Event(event_id, self.pending[event_id], anyio.current_time())
            yield Acked(event, ack=functools.partial(self._ack, event_id), nack=self._nack)

    def _ack(self, event_id: int) -> None:
        self.pending.pop(event_id, None)
        self.acked += 1

    def _nack(self, reason: BaseException | None) -> None:
        self.nacked += 1


@dataclass
class IngestReport:
    events: int
    written: int
    dead_lettered: dict[int, str]
    duplicates_skipped: int
    retried: int
    sink_attempts: int
    max_queue_depth: int
    rows_per_event: Counter[int]
    latency_p50: float
    latency_max: float
    ledger: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> bool:
        return self.written + len(self.dead_lettered) == self.events

    @property
    def exactly_once(self) -> bool:
        return all(n == 1 for n in self.rows_per_event.values())

    def lines(self) -> list[str]:
        out = [
            f"events: {self.events}, written: {self.written}, "
            f"dead-lettered: {len(self.dead_lettered)}, "
            f"duplicates skipped: {self.duplicates_skipped}",
            f"retries: {self.retried}, sink attempts: {self.sink_attempts}, "
            f"max queue depth: {self.max_queue_depth}",
            f"latency (enqueue -> written): p50 {self.latency_p50 * 1000:.0f} ms, "
            f"max {self.latency_max * 1000:.0f} ms",
            f"all accounted for: {self.accounted}; every written event exactly once: "
            f"{self.exactly_once}",
        ]
        out += [f"dead letter {i}: {reason}" for i, reason in sorted(self.dead_lettered.items())]
        return out + ["ledger:"] + [f"  {row}" for row in self.ledger]

    def as_dict(self) -> dict[str, Any]:
        """The report as one JSON-ready object (``"event": "report"``)."""
        return {
            "event": "report",
            "events": self.events,
            "written": self.written,
            "dead_lettered": {str(i): reason for i, reason in sorted(self.dead_lettered.items())},
            "duplicates_skipped": self.duplicates_skipped,
            "retried": self.retried,
            "sink_attempts": self.sink_attempts,
            "max_queue_depth": self.max_queue_depth,
            "latency_p50": round(self.latency_p50, 6),
            "latency_max": round(self.latency_max, 6),
            "accounted": self.accounted,
            "exactly_once": self.exactly_once,
            "ledger": self.ledger,
        }


def build_ingest(
    queue: ReplayableQueue,
    sink: IdempotentSink[Event],
    dead: DeadLetters[Event],
    *,
    rate: float = 2000.0,
    buffer: int = 50,
    concurrency: int = 4,
    retries: int = 5,
    seed: int = 0,
) -> Stream[bool]:
    """The ingestion pipeline: acked queue -> buffered(buffer) -> concurrent retried writes."""
    policy = Retry(
        attempts=retries + 1,
        base_delay=0.05,
        max_delay=1.0,
        retry_on=(ConnectionError, TimeoutError),
        random=random.Random(seed),
    )
    return (
        from_acked(queue.read(rate))
        | buffered(buffer)
        | map_async(
            sink,
            concurrency=concurrency,
            ordered=False,
            retry=policy,
            on_error=dead,
            name="write",
        )
    )


def _ledger_rows(stats: RunStats) -> list[str]:
    rows = []
    for snap in stats.snapshot():
        extra = f" dropped={dict(snap.dropped)}" if snap.dropped else ""
        rows.append(
            f"{snap.name}: in={snap.received} out={snap.emitted} retried={snap.retried} "
            f"dead-lettered={snap.dead_lettered} in-flight={snap.in_flight}{extra}"
        )
    return rows


async def run_ingest(
    events: int = 500,
    *,
    seed: int = 1,
    concurrency: int = 4,
    retries: int = 5,
    failure_rate: float = 0.15,
    permanent: frozenset[int] = frozenset({13, 377}),
    abort_after: int | None = None,
    watch: Callable[[Run[Any]], AbstractAsyncContextManager[Any]] | None = None,
) -> IngestReport:
    """Run the scenario to completion; with ``abort_after``, abort once mid-way and replay.

    ``watch(run)``, if given, is entered around each run (the first and, after an abort,
    the replay): the CLI shows its live view or progress lines through it.
    """
    rng = random.Random(seed)
    queue = ReplayableQueue(events)
    store = FlakySink(rng, failure_rate=failure_rate, permanent=permanent)
    sink = IdempotentSink(store.write, key=lambda event: event.id, max_keys=10 * events)
    dead: DeadLetters[Event] = DeadLetters()
    max_depth = 0
    stats: RunStats | None = None
    retried = 0
    for attempt in range(2):
        pipeline = build_ingest(
            queue, sink, dead, concurrency=concurrency, retries=retries, seed=seed + attempt
        )
        delivered = 0
        try:
            async with (
                pipeline.stream() as run,
                watch(run) if watch is not None else nullcontext(),
            ):
                buffer_stats = run.stats()[1]
                async for _ in run:
                    delivered += 1
                    max_depth = max(max_depth, buffer_stats.received - buffer_stats.emitted)
                    if attempt == 0 and abort_after is not None and delivered == abort_after:
                        raise _Abort
        except _Abort:
            pass  # the run was aborted: unacked events stay in the queue
        stats = run.stats()
        retried += stats[2].retried
        if not queue.pending:
            break
    assert stats is not None
    latencies = sorted(store.latencies) or [0.0]
    return IngestReport(
        events=events,
        written=len(store.rows),
        dead_lettered={d.item.id: d.reason for d in dead},
        duplicates_skipped=sink.duplicates,
        retried=retried,
        sink_attempts=store.attempts,
        max_queue_depth=max_depth,
        rows_per_event=store.rows,
        latency_p50=latencies[len(latencies) // 2],
        latency_max=latencies[-1],
        ledger=_ledger_rows(stats),
    )


class _Abort(Exception):
    """Raised by the scenario's consumer to simulate a crash."""
