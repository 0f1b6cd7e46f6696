"""The stage loop of ``map_process``: a feeder task and one reader task per worker.

How it keeps two calls in flight per worker, and the bounds that follow, are explained
in _process_pool.py, which owns the workers; this module moves items through them.
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
from anyio import BrokenWorkerProcess, EndOfStream
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.errors import add_operator_note
from .._core.handoff import END, send_unless_left
from .._core.operator import StageContext
from .._core.poll import WAIT, poll
from .._core.stats import StageCounts
from ._process_pool import (
    IN_FLIGHT,
    PIPELINE_LIMIT,
    PROTOCOL,
    Lease,
    RemoteTraceback,
    Worker,
    WorkerDied,
    current_pool,
)
from ._process_worker import CALL, HEADER, OK

__all__ = ["run_stage"]


# poll()'s own sentinels, so that take_nowait() can hand its result on as it is.
_WOULD_BLOCK: Any = WAIT
_END: Any = END


class _Slot:
    """One worker of a run and the indices of the calls it has in flight, in order."""

    __slots__ = ("holding", "in_flight", "index", "reader", "work", "worker")

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: Worker | None = None
        self.in_flight: deque[int] = deque()
        self.holding = 0  # unordered: results read and not yet emitted (count as busy)
        self.work: anyio.Event | None = None  # an idle reader waits here for a request
        self.reader = False  # its reader task is started

    @property
    def busy(self) -> int:
        return len(self.in_flight) + self.holding

    def wake(self) -> None:
        if self.work is not None:
            self.work.set()
            self.work = None


class _Stage:
    """The feeder and the readers of one run (see the module docstring).

    The stage's own task is the *feeder*: it takes items (waiting for input when there
    is none) and sends each to the worker with the fewest calls in flight, whenever one
    has room. Each worker has a *reader* task that waits on its response pipe, emits the
    results, and refills its worker on the spot with items that are already waiting
    upstream (the usual case: one task step per item); when there are none it leaves the
    waiting to the feeder, so that the responses keep flowing however slow the input.
    """

    def __init__(
        self,
        lease: Lease,
        workers: int,
        ordered: bool,
        kill_on_cancel: bool,
        name: str,
        describe_death: Callable[[str], str],
        rx: MemoryObjectReceiveStream[Any],
        tx: MemoryObjectSendStream[Any],
        counts: StageCounts,
        tracked: bool,
    ) -> None:
        self.lease = lease
        self.slots = [_Slot(index) for index in range(workers)]
        self.ordered = ordered
        self.kill_on_cancel = kill_on_cancel
        self.name = name
        self.describe_death = describe_death
        self.rx = rx
        self.tx = tx
        self.counts = counts
        self.tracked = tracked
        self.tokens: dict[int, Any] = {}  # acknowledgement tokens of tracked items
        self.window = 2 * IN_FLIGHT * workers  # ordered: items held at most
        self.numbered = 0  # items taken so far: the index of the next one
        self.emitted = 0  # ordered: index of the next result to emit
        self.results: dict[int, Any] = {}  # ordered: finished, waiting for an earlier one
        self.flushing = False
        self.ended = False  # the input has ended
        self.reading = False  # the feeder waits in rx.receive()
        self.held: tuple[int, bytes] | None = None  # a large request for an idle worker
        self.changed: anyio.Event | None = None  # the feeder waits here for room
        self.tg: TaskGroup | None = None

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            self.tg = tg
            try:
                await self.feed()
            finally:
                self.ended = True
                for slot in self.slots:
                    slot.wake()  # idle readers: nothing more is coming

    # -- the feeder ---------------------------------------------------------------------

    def room(self) -> _Slot | None:
        """The slot for the next request: the least busy one, if it has room."""
        if self.ordered and self.numbered - self.emitted >= self.window:
            return None
        best = None
        least = IN_FLIGHT
        for slot in self.slots:
            busy = len(slot.in_flight) + slot.holding
            if busy < least and not (slot.worker is not None and slot.worker.writing):
                best, least = slot, busy
        return best

    def idle_slot(self) -> _Slot | None:
        for slot in self.slots:
            if not slot.busy and not (slot.worker is not None and slot.worker.writing):
                return slot
        return None

    def notify(self) -> None:
        if self.changed is not None:
            self.changed.set()
            self.changed = None

    async def wait_change(self) -> None:
        self.changed = changed = anyio.Event()
        await changed.wait()

    async def feed(self) -> None:
        while True:
            if self.held is not None:
                index, request = self.held
                slot = self.idle_slot() if len(request) > PIPELINE_LIMIT else self.room()
                if slot is None:
                    await self.wait_change()
                    continue
                self.held = None
                await self.dispatch(slot, index, request)
                continue
            if self.ended:
                return
            slot = self.room()
            if slot is None:
                await self.wait_change()
                continue
            item = self.take_nowait()
            if item is _WOULD_BLOCK:
                item = await self.take()
            if item is _END:
                return
            self.held = self.frame(item)  # sent at the top of the loop

    async def dispatch(self, slot: _Slot, index: int, request: bytes) -> None:
        while True:
            worker = slot.worker
            if worker is None:
                worker = slot.worker = await self.lease.worker(slot.index)
                if not slot.reader:
                    slot.reader = True
                    assert self.tg is not None
                    self.tg.start_soon(self.read_loop, slot)
            in_flight = slot.in_flight
            in_flight.append(index)  # first: the slot is busy while the frame is written
            try:
                await worker.write(request)
            except WorkerDied:
                if in_flight and in_flight[-1] == index:
                    in_flight.pop()
                if in_flight:
                    return  # its reader finds end-of-file and fails the run
                # Died idle (between runs, or killed from outside): replace it.
                slot.worker = None
                self.lease.slots[slot.index] = None
                await self.lease.pool.discard(worker)
                continue
            slot.wake()
            return

    # -- taking items, in input order ---------------------------------------------------

    def take_nowait(self) -> Any:
        """The next item, ``_WOULD_BLOCK`` or ``_END``.

        Not while the feeder waits in ``receive()``: an item handed to a waiting task is
        delivered before that task resumes, so taking the next one meanwhile would number
        it first (see _map_async.py). Nor while a large request waits for an idle worker.
        """
        if self.reading or self.held is not None:
            return _WOULD_BLOCK
        item = poll(self.rx)
        if item is _END:
            self.ended = True
            self.notify()
        return item

    async def take(self) -> Any:
        self.reading = True
        try:
            return await self.rx.receive()
        except EndOfStream:
            self.ended = True
            return _END
        finally:
            self.reading = False

    def frame(self, item: Any) -> tuple[int, bytes]:
        """Number ``item`` and encode its request."""
        index = self.numbered
        self.numbered += 1
        self.counts.received += 1
        if self.tracked:
            item, self.tokens[index] = item
        try:
            payload = pickle.dumps(item, PROTOCOL)
        except Exception as exc:
            add_operator_note(exc, self.name)
            raise
        return index, HEADER.pack(len(payload), CALL) + payload

    # -- one reader per worker ------------------------------------------------------------

    async def read_loop(self, slot: _Slot) -> None:
        in_flight = slot.in_flight
        try:
            while True:
                while not in_flight:
                    if self.ended and self.held is None:
                        return
                    slot.work = work = anyio.Event()
                    await work.wait()
                worker = slot.worker
                assert worker is not None
                await self.receive(slot, worker)
                await self.refill(slot, worker)
                if self.changed is not None and (self.held is not None or self.room()):
                    self.notify()
        except BaseException:
            worker = slot.worker
            if worker is not None and in_flight:
                if self.kill_on_cancel or worker.dead:
                    worker.kill()
                else:
                    await self.drain(worker, in_flight)
            raise

    async def refill(self, slot: _Slot, worker: Worker) -> None:
        """Send this worker items that are already waiting upstream, up to its room."""
        in_flight = slot.in_flight
        while len(in_flight) < IN_FLIGHT and not worker.writing:
            if self.ordered and self.numbered - self.emitted >= self.window:
                return
            item = self.take_nowait()
            if item is _WOULD_BLOCK or item is _END:
                return
            index, request = self.frame(item)
            if in_flight and len(request) > PIPELINE_LIMIT:
                self.held = (index, request)  # the feeder sends it to an idle worker
                return
            in_flight.append(index)  # first: the slot is busy while the frame is written
            try:
                await worker.write(request)
            except WorkerDied:
                return  # it just answered, so it died now: the next read fails the run

    async def receive(self, slot: _Slot, worker: Worker) -> None:
        in_flight = slot.in_flight
        try:
            responses = await worker.read()
        except WorkerDied:
            exc = BrokenWorkerProcess(self.describe_death(await worker.death_detail()))
            add_operator_note(exc, self.name)
            in_flight.clear()
            raise exc from None
        loads = pickle.loads
        indices = [in_flight.popleft() for _ in responses]  # answered, whatever follows
        # Unordered, the results in hand still occupy the worker's room until emitted,
        # so that the stage holds at most two items per worker.
        slot.holding = 0 if self.ordered else len(responses)
        try:
            for index, (kind, payload) in zip(indices, responses, strict=True):
                if kind == OK:
                    result = loads(payload)
                else:
                    error, text = loads(payload)
                    add_operator_note(error, self.name)
                    raise error from RemoteTraceback(text)
                if self.tracked:
                    result = (result, self.tokens.pop(index))
                if self.ordered:
                    self.results[index] = result
                else:
                    self.counts.emitted += 1
                    await self.emit(result)
                    slot.holding -= 1
        finally:
            slot.holding = 0
        if self.ordered and not self.flushing:
            await self.flush()

    async def flush(self) -> None:
        """Emit every consecutive finished result (one reader at a time)."""
        self.flushing = True
        try:
            results = self.results
            while self.emitted in results:
                result = results.pop(self.emitted)
                self.emitted += 1
                self.counts.emitted += 1
                await self.emit(result)
        finally:
            self.flushing = False

    async def emit(self, result: Any) -> None:
        assert self.tg is not None
        await send_unless_left(self.tx, result, self.tg.cancel_scope)

    async def drain(self, worker: Worker, in_flight: deque[int]) -> None:
        """Wait for the calls sent (shielded) and discard their results."""
        with anyio.CancelScope(shield=True):
            try:
                while in_flight:
                    for _ in await worker.read():
                        in_flight.popleft()
            except WorkerDied:
                pass


async def run_stage(
    fn: Callable[[Any], Any],
    workers: int,
    ordered: bool,
    kill_on_cancel: bool,
    name: str,
    describe_death: Callable[[str], str],
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
    *,
    tracked: bool = False,
) -> None:
    """The ``map_process`` stage: ``fn(item)`` for every item, in ``workers`` processes."""
    lease = Lease(current_pool(), workers, fn)
    try:
        stage = _Stage(
            lease,
            workers,
            ordered,
            kill_on_cancel,
            name,
            describe_death,
            rx,
            tx,
            ctx.counts,
            tracked,
        )
        await stage.run()
    finally:
        await lease.aclose()
