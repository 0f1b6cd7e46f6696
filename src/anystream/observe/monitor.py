"""The periodic emitter of metrics snapshots: :func:`monitor` and :class:`Monitor`.

What a snapshot holds, and how one is taken on demand, is in :mod:`.metrics`; this module
samples a run every ``interval`` seconds while its ``async with`` block runs::

    async with stream.stream() as run, monitor(run, on_snapshot=print):
        async for item in run:
            ...

The monitor is a context manager and not an async generator on purpose: it owns a task
(the sampler), and only a context manager may keep a task group open while the caller's
code runs (docs/concepts.md). Sampling reads plain integers in the event loop's own
thread, so it costs nothing on the pipeline's hot path.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from contextlib import suppress
from types import TracebackType
from typing import Any

import anyio
from anyio import CancelScope, WouldBlock, create_memory_object_stream
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_callable, check_int, check_number
from .._core.errors import reraise_unwrapped
from .._core.owned import Owned
from .._core.poll import poll
from .._core.runner import Run
from .._core.stream import Stream
from .latency import PipelineTiming
from .metrics import MetricsSnapshot, take_snapshot

__all__ = ["Monitor", "SnapshotCallback", "monitor"]

SnapshotCallback = Callable[[MetricsSnapshot], Awaitable[None] | None]


class Monitor:
    """Samples a run every ``interval`` seconds while its ``async with`` block runs.

    Use :func:`monitor` to make one. Each sample is a :class:`MetricsSnapshot` with rates
    since the previous one. It is passed to ``on_snapshot`` (a plain or ``async``
    function, called in the sampler task: an exception from it ends the block with that
    exception) and sent to every subscriber. Iterating the monitor itself is the default
    subscription; :meth:`subscribe` adds more.

    A subscriber that falls behind loses the *oldest* snapshots it has not read (each
    holds ``buffer`` at most): a slow display must never slow the pipeline down.

    When the block exits (or :meth:`close` is called) one last snapshot is taken with
    ``final=True``, delivered, and every subscriber's iteration ends.
    """

    def __init__(
        self,
        run: Run[Any] | Stream[Any],
        interval: float = 1.0,
        *,
        on_snapshot: SnapshotCallback | None = None,
        buffer: int = 16,
        timing: PipelineTiming | None = None,
    ) -> None:
        if not isinstance(run, Run | Stream):
            raise TypeError(
                f"monitor(): run must be a Run (from 'async with stream.stream() as run') or "
                f"a Stream, got {type(run).__name__} {run!r:.60}"
            )
        self._run = run
        self.interval: float = check_number("monitor", "interval", interval)
        if on_snapshot is not None:
            check_callable("monitor", "on_snapshot", on_snapshot)
        self._callback = on_snapshot
        self._buffer = check_int("monitor", "buffer", buffer, minimum=1)
        if timing is not None and not isinstance(timing, PipelineTiming):
            raise TypeError(f"monitor(): timing must be a PipelineTiming, got {timing!r:.60}")
        self._timing = timing
        self._subscribers: list[
            tuple[MemoryObjectSendStream[MetricsSnapshot], MemoryObjectReceiveStream[Any]]
        ] = []
        self._default: MemoryObjectReceiveStream[MetricsSnapshot] | None = None
        self._tg: TaskGroup | None = None
        self._owned = Owned()  # holds _tg open from __aenter__ to __aexit__
        self._sampler_scope = CancelScope()
        self._callback_failed = False
        self._closed = False
        self._entered = False
        self.latest: MetricsSnapshot | None = None
        """The most recent snapshot (the baseline taken on entry, before any sample)."""

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(self) -> MemoryObjectReceiveStream[MetricsSnapshot]:
        """A new receive stream of every snapshot from now on; it ends when the monitor does.

        Close it (or use it as a context manager) when done reading before the monitor ends.
        """
        tx, rx = create_memory_object_stream[MetricsSnapshot](self._buffer)
        if self._closed:
            tx.close()
        else:
            self._subscribers.append((tx, rx))
        return rx

    def __aiter__(self) -> Monitor:
        if not self._entered:
            raise RuntimeError("iterate a monitor inside its 'async with' block")
        if self._default is None:
            self._default = self.subscribe()
        return self

    async def __anext__(self) -> MetricsSnapshot:
        rx = self.__aiter__()._default
        assert rx is not None
        try:
            return await rx.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            rx.close()
            raise StopAsyncIteration from None

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Monitor:
        if self._entered:
            raise RuntimeError("a Monitor can be entered only once; call monitor() again")
        self._entered = True
        self.latest = take_snapshot(self._run, timing=self._timing)
        tg = await self._owned.enter(anyio.create_task_group())
        self._tg = tg
        tg.start_soon(self._sample, name="anystream monitor")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        # Only the sampler is cancelled: the task group's own scope also covers the
        # caller's block, which must not be cancelled by a monitor closing.
        self._sampler_scope.cancel()
        error = None
        if exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
            error = f"{type(exc).__name__}: {exc}"
        try:
            await self._finish(error)
        finally:
            try:
                suppress = await self._owned.exit(exc_type, exc, tb)
            except BaseException as raised:
                reraise_unwrapped(raised)
                raise  # pragma: no cover - reraise_unwrapped always raises
        return suppress

    def close(self) -> None:
        """Stop sampling now: publish a final snapshot and end every subscriber's iteration.

        Safe to call more than once and from any task of the run's event loop; typically
        called by the task consuming the run once it is done. ``on_snapshot`` still gets
        its final snapshot when the block exits.
        """
        self._sampler_scope.cancel()
        if self._closed:
            return
        snap = take_snapshot(self._run, self.latest, final=True, timing=self._timing)
        self.latest = snap
        self._publish(snap)
        self._end_subscribers()

    # -- internals ------------------------------------------------------------------------

    async def _sample(self) -> None:
        interval = self.interval
        deadline = anyio.current_time() + interval
        with self._sampler_scope:
            while True:
                await anyio.sleep_until(deadline)
                now = anyio.current_time()
                # A sampler that fell behind (a slow callback) skips ticks instead of
                # bursting to catch up.
                deadline = max(deadline + interval, now + interval / 2)
                snap = take_snapshot(self._run, self.latest, now=now, timing=self._timing)
                self.latest = snap
                self._publish(snap)
                try:
                    await self._call_back(snap)
                except BaseException:
                    # Do not call a broken callback again for the final snapshot.
                    self._callback_failed = True
                    raise

    async def _call_back(self, snap: MetricsSnapshot) -> None:
        if self._callback is not None and not self._callback_failed:
            result = self._callback(snap)
            if inspect.isawaitable(result):
                await result

    def _publish(self, snap: MetricsSnapshot) -> None:
        alive = []
        for tx, rx in self._subscribers:
            try:
                tx.send_nowait(snap)
            except WouldBlock:
                # Full: drop the oldest unread snapshot, keep the newest.
                with suppress(anyio.ClosedResourceError):
                    poll(rx)  # WAIT or END when there is nothing to drop
                with suppress(WouldBlock, anyio.BrokenResourceError):
                    tx.send_nowait(snap)
            except anyio.BrokenResourceError:
                # The subscriber closed its stream: forget it.
                tx.close()
                continue
            alive.append((tx, rx))
        self._subscribers = alive

    def _end_subscribers(self, *, exiting: bool = False) -> None:
        self._closed = True
        for tx, _ in self._subscribers:
            tx.close()
        self._subscribers = []
        default = self._default
        if exiting and default is not None and not default.statistics().current_buffer_used:
            # Nothing left to read from the default subscription: close it for a reader
            # that broke out of its loop (a reader still inside one just sees the end).
            default.close()

    async def _finish(self, error: str | None) -> None:
        latest = self.latest
        if self._closed and latest is not None and latest.final:
            # close() already published the final snapshot to the subscribers.
            snap = latest if error is None else dataclasses.replace(latest, error=error)
        else:
            snap = take_snapshot(self._run, latest, final=True, error=error, timing=self._timing)
            self._publish(snap)
        self.latest = snap
        try:
            # The block may be exiting because it was cancelled: the final snapshot is
            # still worth delivering, but not worth hanging on.
            with CancelScope(shield=True), anyio.move_on_after(max(self.interval, 1.0)):
                await self._call_back(snap)
        finally:
            self._end_subscribers(exiting=True)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._tg is not None else "new"
        return f"<Monitor every {self.interval:g}s, {state}>"


def monitor(
    run: Run[Any] | Stream[Any],
    interval: float = 1.0,
    *,
    on_snapshot: SnapshotCallback | None = None,
    buffer: int = 16,
    timing: PipelineTiming | None = None,
) -> Monitor:
    """Sample ``run`` every ``interval`` seconds while the ``async with`` block runs.

    ::

        time    0 ---- 1 ---- 2 ---- 3 -x          (interval = 1, block exits at x)
        samples        s1     s2     s3  final

    ``run`` is the object ``stream.stream()`` returns (or a Stream: its latest run). Each
    sample goes to ``on_snapshot`` (sync or async) and to every subscriber (iterate the
    monitor, or call :meth:`Monitor.subscribe`). ``timing``, the run's
    :class:`~anystream.observe.latency.PipelineTiming`, adds latency percentiles and
    blocked time to every snapshot. See :class:`Monitor`.
    """
    return Monitor(run, interval, on_snapshot=on_snapshot, buffer=buffer, timing=timing)
