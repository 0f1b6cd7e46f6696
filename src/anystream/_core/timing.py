"""Per-stage timing: ``stream.stream(timing=True)`` and ``run.latency()``.

A timed run measures, for every item and every *stage* of the run (the source's
segment, each fused segment, each staged operator, the consumer's segment):

``wait``
    from the moment the item *entered the buffer* in front of the stage, timestamped on
    the sending side before the hand-off, to the moment the stage took it out. (Stamping
    after the dequeue, as some pipeline frameworks do, makes every wait zero.)
``compute``
    from taking the item to offering the result downstream;
``blocked``
    how long offering the result took (non-zero when the next buffer was full);

and, for every item reaching the consumer, the end-to-end latency from the moment the
source produced the item it derives from. Figures are kept in bounded memory
(``anystream.observe.quantiles``); ``run.latency()`` returns a
:class:`~anystream.observe.latency.LatencyReport` at any moment, during or after the run.
Both types are defined in ``_core`` (``latency.py``, ``quantiles.py``) and re-exported
by ``anystream.observe``, so timing a run imports nothing outside the core.

How: every boundary stream of a timed run is wrapped. The sending side records
``(source time, entry time)`` in a FIFO beside the stream; the receiving side pops it when
it takes an item (memory object streams are FIFO, so the two stay in step) and keeps
"the item in hand" in a context variable, which is per task on both backends, so the
workers of a concurrent stage each see their own. A result sent by a stage is charged
to the last item that stage's task took: exact for one-to-one stages, the newest
contributor for aggregating ones (a window's latency is its newest item's). The wrapped
streams are not anyio's own types, so the fused loops' inline fast path could not apply
anyway: a timed run runs its per-item operators in the reference interpreter of
``kernels.py`` (the same items, counters and stop behaviour, written as a plain loop)
instead of generated code. A timed run is slower, which is why timing is opt-in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from typing import Any

from anyio import EndOfStream

from .latency import LatencyReport, PipelineTiming

__all__ = ["TimedReceive", "TimedSend", "Timer"]

Clock = Callable[[], float]

# (source time, wait, time taken) of the item the current task holds.
_IN_HAND: ContextVar[tuple[float, float, float] | None] = ContextVar(
    "anystream_item_in_hand", default=None
)


class Timer:
    """The timing state of one run."""

    def __init__(self, stage_names: Sequence[str], clock: Clock) -> None:
        self.clock = clock
        self.timing = PipelineTiming(list(stage_names), clock=clock)

    def report(self) -> LatencyReport:
        return self.timing.report()

    def link(self, tx: Any, rx: Any, sender_stage: int) -> tuple[TimedSend, TimedReceive]:
        """Both sides of a boundary stream, timed: the send side stamps each item's entry."""
        entries: deque[tuple[float, float]] = deque()
        return TimedSend(tx, entries, self, sender_stage), TimedReceive(rx, entries, self)

    def took(self, entry: tuple[float, float] | None) -> None:
        """The current task took an item that entered its buffer as ``entry``."""
        now = self.clock()
        if entry is None:  # a source: produced right now, nothing waited
            _IN_HAND.set((now, 0.0, now))
        else:
            source_time, entered = entry
            _IN_HAND.set((source_time, now - entered, now))

    def offered_source_time(self) -> float:
        """Source time of the item the current task holds (now, for a source)."""
        held = _IN_HAND.get()
        return self.clock() if held is None else held[0]

    def offered(self, stage: int, started: float, blocked: float) -> float:
        """Record the stage's figures for a result offered at ``started``; source time."""
        held = _IN_HAND.get()
        if held is None:
            held = (started, 0.0, started)
        source_time, wait, taken = held
        self.timing.record(stage, wait, started - taken, blocked)
        return source_time

    def delivered(self, stage: int) -> None:
        """The consumer's segment yielded the item in hand to the consumer."""
        now = self.clock()
        held = _IN_HAND.get()
        if held is None:
            return
        source_time, wait, taken = held
        self.timing.record(stage, wait, now - taken, 0.0)
        self.timing.record_end_to_end(now - source_time)

    async def source(self, kind: str, it: Any) -> AsyncIterator[Any]:
        """The source's items, each stamped as produced now."""
        if kind == "iter":
            for item in it:
                self.took(None)
                yield item
        else:
            async for item in it:
                self.took(None)
                yield item

    async def final(self, stage: int, items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in items:
            self.delivered(stage)
            yield item


class TimedReceive:
    """The receiving side of a timed boundary (pops the entry stamp of each item)."""

    def __init__(self, inner: Any, entries: deque[tuple[float, float]], timer: Timer) -> None:
        self._inner = inner
        self._entries = entries
        self._timer = timer

    def receive_nowait(self) -> Any:
        item = self._inner.receive_nowait()
        self._timer.took(self._entries.popleft() if self._entries else None)
        return item

    async def receive(self) -> Any:
        item = await self._inner.receive()
        self._timer.took(self._entries.popleft() if self._entries else None)
        return item

    def __aiter__(self) -> TimedReceive:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except EndOfStream:
            raise StopAsyncIteration from None

    def __getattr__(self, name: str) -> Any:  # close, statistics, clone...
        return getattr(self._inner, name)


class TimedSend:
    """The sending side of a timed boundary (stamps each item before the hand-off)."""

    def __init__(
        self, inner: Any, entries: deque[tuple[float, float]], timer: Timer, stage: int
    ) -> None:
        self._inner = inner
        self._entries = entries
        self._timer = timer
        self._stage = stage

    def send_nowait(self, item: Any) -> None:
        clock = self._timer.clock
        started = clock()
        entry = (self._timer.offered_source_time(), started)
        self._entries.append(entry)
        try:
            self._inner.send_nowait(item)
        except BaseException:
            self._entries.remove(entry)
            raise
        self._timer.offered(self._stage, started, 0.0)

    async def send(self, item: Any) -> None:
        clock = self._timer.clock
        started = clock()
        entry = (self._timer.offered_source_time(), started)
        self._entries.append(entry)
        try:
            await self._inner.send(item)
        except BaseException:
            if entry in self._entries:
                self._entries.remove(entry)
            raise
        self._timer.offered(self._stage, started, clock() - started)

    def __getattr__(self, name: str) -> Any:  # close, statistics...
        return getattr(self._inner, name)
