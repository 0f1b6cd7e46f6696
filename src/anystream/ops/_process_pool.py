"""The worker processes of ``map_process`` and its stage loop: a small pipelining pool (POSIX).

Why not ``anyio.to_process``: it sends one request, waits for the response, and only then
sends the next, so every worker idles for one full round trip per call (the parent must
wake up, read the result and write the next request), and the parent pays for a limiter,
several awaits on buffered pipe streams and a checkpoint per call. On a ~1 ms function
with two workers on two cores that capped the speed-up near 1.6x: the parent's share of
each call runs on the same cores as the workers.

This pool *pipelines*: the stage keeps up to two calls outstanding per worker, so the
next request is already in the worker's pipe while it computes the current one, and the
worker goes from one call to the next without waiting for the parent. Each worker has a
*reader* task that owns its response pipe: woken by a response (one ``os.read`` often
brings two), it emits the result and sends the worker the next item if one is already
waiting upstream, all in one task step. The stage's own task, the *feeder*, waits for
input when there is none and sends it to the least busy worker, so that a reader never
waits for input with responses to deliver. The protocol and the worker's loop are in
_process_worker.py.

Shape:

* ``ProcessPool``: one per event loop (an ``anyio.lowlevel.RunVar``): the idle workers
  between runs, and every worker it started, all killed when the event loop ends (a task
  that sleeps until the loop cancels it at shutdown, as anyio's own pool does). Workers
  idle for more than five minutes are retired.
* ``Lease``: one per run of a ``map_process`` stage: ``size`` worker slots, each filled on
  first use (an idle worker of the pool, or a fresh one) and sent the run's function
  once. At the end of the run the workers go back to the pool.
* ``_Stage``: the feeder, the readers, the input numbering and the ordered emission.

Bounds: each worker has at most two calls in flight, so ``2 * workers`` in all.
Unordered, a result read and not yet emitted still counts against its worker's two, so
the stage holds at most ``2 * workers`` items. Ordered, finished results wait for earlier
ones and new items are taken only while fewer than ``4 * workers`` are held (the calls
in flight plus at most ``2 * workers`` finished). A second request is pipelined only
when both frames are small (``_PIPELINE_LIMIT``): a worker blocked writing a large
response while the parent is blocked writing a large request would deadlock.

A worker that dies (a crash, ``os._exit()``, the OOM killer) closes its end of the
response pipe: its reader gets end-of-file and the run fails with ``BrokenWorkerProcess``
(the call queued behind the one that was running never started). Cancellation: with
``kill_on_cancel=False`` a reader waits for the responses of the calls in flight
(shielded; they are discarded), so that no user code of the run is still running when
the stage returns and the worker goes back to the pool in step with its pipes; with
``kill_on_cancel=True`` it kills its worker instead.

Only anyio APIs, except for the one backend-specific function that arranges the shutdown
at the end of the event loop (``_close_at_loop_end``): anyio has no public hook for it.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
from anyio import BrokenResourceError, BrokenWorkerProcess, EndOfStream, WouldBlock
from anyio.abc import Process, TaskGroup
from anyio.lowlevel import RunVar
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.errors import add_operator_note
from .._core.handoff import downstream_left, send
from .._core.operator import StageContext
from ._asyncio_pipe import PipeReader, running_loop
from ._process_worker import CALL, FN, HEADER, INIT, OK

__all__ = ["ProcessPool", "RemoteTraceback", "current_pool", "run_stage"]

IDLE_LIMIT = 300.0  # seconds an idle worker is kept
IN_FLIGHT = 2  # calls outstanding per worker: one running, the next waiting in its pipe
_PIPELINE_LIMIT = 4096  # larger request frames are sent only to an idle worker
_READ_SIZE = 1 << 16
_WORKER_CODE = "from anystream.ops._process_worker import main; main()"
_HEADER_SIZE = HEADER.size
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class RemoteTraceback(Exception):
    """The worker's formatted traceback, attached as ``__cause__`` of a remote error."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class _WorkerDied(Exception):
    """The worker's response pipe ended, or its request pipe broke."""


class _Worker:
    """One worker process, its request pipe (``wfd``) and its response pipe (``rfd``)."""

    def __init__(self, process: Process, wfd: int, rfd: int) -> None:
        self.process = process
        self.wfd = wfd
        self.rfd = rfd
        self.buffer = bytearray()  # bytes read and not yet parsed
        self.dead = False  # died, killed, or its pipes out of step: never reused
        self.writing = False  # a frame is being written in pieces: no other writer
        self.idle_since = 0.0
        self.signalled = False  # sent SIGKILL
        self.exited = False  # its response pipe ended: it is exiting or gone
        self.closed = False
        # On asyncio the response pipe stays registered with the loop and is read from
        # its callback (see _asyncio_pipe.py); elsewhere anyio.wait_readable() per wait.
        loop = running_loop()
        self.reader = PipeReader(loop, rfd, self.buffer) if loop is not None else None

    @property
    def reusable(self) -> bool:
        # (``returncode`` is a system call on trio: checked between runs, not per call.)
        if self.reader is not None and self.reader.eof:
            return False
        return not self.dead and not self.buffer and self.process.returncode is None

    async def write(self, frame: bytes) -> None:
        """Write a whole frame: at once when the pipe has room (the usual case)."""
        try:
            written = os.write(self.wfd, frame)
        except BlockingIOError:
            written = 0
        except OSError as exc:  # BrokenPipeError: the worker is gone
            self.dead = self.exited = True
            raise _WorkerDied from exc
        if written == len(frame):
            return
        view = memoryview(frame)[written:]
        self.dead = True  # until the frame is complete: a half-written frame is fatal
        self.writing = True
        while view:
            try:
                written = os.write(self.wfd, view)
            except BlockingIOError:
                await anyio.wait_writable(self.wfd)
                continue
            except OSError as exc:
                self.exited = True
                raise _WorkerDied from exc
            view = view[written:]
        self.dead = self.writing = False

    async def read(self) -> list[tuple[int, bytes]]:
        """The next responses (at least one), in request order."""
        buffer = self.buffer
        while True:
            if len(buffer) >= _HEADER_SIZE:
                responses = []
                start = 0
                while len(buffer) - start >= _HEADER_SIZE:
                    length, kind = HEADER.unpack_from(buffer, start)
                    end = start + _HEADER_SIZE + length
                    if len(buffer) < end:
                        break
                    responses.append((kind, bytes(buffer[start + _HEADER_SIZE : end])))
                    start = end
                if responses:
                    del buffer[:start]
                    return responses
            reader = self.reader
            if reader is not None:
                if reader.eof:
                    self.dead = self.exited = True
                    raise _WorkerDied
                await reader.wait()  # the loop's callback fills the buffer
                continue
            try:
                chunk = os.read(self.rfd, _READ_SIZE)
            except BlockingIOError:
                await anyio.wait_readable(self.rfd)
                continue
            if not chunk:
                self.dead = self.exited = True
                raise _WorkerDied
            buffer += chunk

    def kill(self) -> None:
        """SIGKILL, at most once, and never after end-of-file on the response pipe.

        ``Popen.send_signal()`` polls first: a process that already exited would be
        reaped there, behind the back of asyncio's child watcher (which then logs
        "Unknown child process pid ...").
        """
        self.dead = True
        if not self.signalled and not self.exited and self.process.returncode is None:
            self.signalled = True
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def aclose(self) -> None:
        """Kill (if alive), reap, close the pipes. Shielded: cleanup must complete."""
        if self.closed:
            return
        self.closed = True
        self.kill()
        if self.reader is not None:
            self.reader.close()  # before the descriptor is closed (and maybe reused)
        with anyio.CancelScope(shield=True):
            await self.process.aclose()
        os.close(self.wfd)
        os.close(self.rfd)

    async def death_detail(self) -> str:
        with anyio.CancelScope(shield=True):
            code = await self.process.wait()
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return f"pid {self.process.pid}, {how}"


async def _spawn() -> _Worker:
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    try:
        process = await anyio.open_process(
            [sys.executable, "-u", "-c", _WORKER_CODE, str(req_r), str(resp_w)],
            stdin=subprocess.DEVNULL,  # the user's input() must not wait on a terminal
            stdout=None,  # the user's print() goes where the parent's does
            stderr=None,
            pass_fds=(req_r, resp_w),
        )
    except BaseException:
        os.close(req_w)
        os.close(resp_r)
        raise
    finally:
        # The child's ends: closed here so that the worker's death ends the response pipe.
        os.close(req_r)
        os.close(resp_w)
    worker = _Worker(process, req_w, resp_r)
    try:
        os.set_blocking(req_w, False)
        os.set_blocking(resp_r, False)
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        init = pickle.dumps(
            (sys.path, getattr(main, "__file__", None), spec.name if spec else None), _PROTOCOL
        )
        # No response to wait for: the worker reads it first, and an import failure
        # becomes the answer to every call.
        await worker.write(HEADER.pack(len(init), INIT) + init)
    except BaseException:
        await worker.aclose()
        raise
    return worker


class ProcessPool:
    """The worker processes of one event loop (see the module docstring)."""

    def __init__(self) -> None:
        self.idle: list[_Worker] = []
        self.workers: set[_Worker] = set()
        self.closed = False

    async def acquire(self) -> _Worker:
        """An idle worker (the most recently used), or a fresh one."""
        while self.idle:
            worker = self.idle.pop()
            if worker.reusable:
                await self._retire()
                return worker
            await self.discard(worker)
        worker = await _spawn()
        if self.closed:  # the event loop is ending
            await worker.aclose()
            raise BrokenWorkerProcess("the event loop is shutting down")
        self.workers.add(worker)
        return worker

    async def release(self, worker: _Worker) -> None:
        if worker.reusable and not self.closed:
            worker.idle_since = anyio.current_time()
            self.idle.append(worker)
        else:
            await self.discard(worker)

    async def discard(self, worker: _Worker) -> None:
        self.workers.discard(worker)
        await worker.aclose()

    async def _retire(self) -> None:
        now = anyio.current_time()
        while self.idle and now - self.idle[0].idle_since >= IDLE_LIMIT:
            await self.discard(self.idle.pop(0))

    async def aclose(self) -> None:
        self.closed = True
        self.idle.clear()
        workers, self.workers = self.workers, set()
        for worker in workers:
            worker.kill()
        for worker in workers:
            await worker.aclose()


_pool: RunVar[ProcessPool] = RunVar("anystream_process_pool")


def current_pool() -> ProcessPool:
    """This event loop's pool, created (with its shutdown hook) on first use."""
    try:
        return _pool.get()
    except LookupError:
        pool = ProcessPool()
        _pool.set(pool)
        _close_at_loop_end(pool)
        return pool


async def _close_when_cancelled(pool: ProcessPool) -> None:
    try:
        await anyio.sleep(math.inf)
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await pool.aclose()


# asyncio keeps only weak references to tasks: hold the shutdown tasks until they end.
_loop_end_tasks: set[Any] = set()


def _close_at_loop_end(pool: ProcessPool) -> None:
    """Run ``pool.aclose()`` when the event loop shuts down (backend-specific).

    asyncio's runner (``asyncio.run``, ``anyio.run``) cancels every remaining task when
    the main one returns and runs them to completion; trio cancels its system tasks.
    """
    import asyncio  # the one backend-specific spot of this module

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        task = loop.create_task(_close_when_cancelled(pool))
        _loop_end_tasks.add(task)
        task.add_done_callback(_loop_end_tasks.discard)
        return
    import trio.lowlevel

    trio.lowlevel.spawn_system_task(
        _close_when_cancelled, pool, name="anystream process pool shutdown"
    )


class Lease:
    """``size`` worker slots of the pool for one run, all sent the same function."""

    def __init__(self, pool: ProcessPool, size: int, fn: Callable[[Any], Any]) -> None:
        self.pool = pool
        fn_bytes = pickle.dumps(fn, _PROTOCOL)
        self.fn_frame = HEADER.pack(len(fn_bytes), FN) + fn_bytes
        self.slots: list[_Worker | None] = [None] * size

    async def worker(self, slot: int) -> _Worker:
        """The slot's worker, acquired from the pool on first use."""
        worker = self.slots[slot]
        if worker is not None:
            return worker
        for _ in range(2):
            worker = await self.pool.acquire()
            self.slots[slot] = worker
            try:
                await worker.write(self.fn_frame)
            except _WorkerDied:  # an idle worker that died meanwhile: take another
                self.slots[slot] = None
                await self.pool.discard(worker)
                continue
            return worker
        raise BrokenWorkerProcess("a fresh worker process died at once")

    async def aclose(self) -> None:
        """Give the workers back: reusable ones to the pool, the others reaped."""
        with anyio.CancelScope(shield=True):
            for slot, worker in enumerate(self.slots):
                if worker is not None:
                    self.slots[slot] = None
                    await self.pool.release(worker)


_WOULD_BLOCK: Any = object()
_END: Any = object()


class _Slot:
    """One worker of a run and the indices of the calls it has in flight, in order."""

    __slots__ = ("holding", "in_flight", "index", "reader", "work", "worker")

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: _Worker | None = None
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
        counts: list[int],
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
                slot = self.idle_slot() if len(request) > _PIPELINE_LIMIT else self.room()
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
            except _WorkerDied:
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
        try:
            return self.rx.receive_nowait()
        except WouldBlock:
            return _WOULD_BLOCK
        except EndOfStream:
            self.ended = True
            self.notify()
            return _END

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
        self.counts[0] += 1
        if self.tracked:
            item, self.tokens[index] = item
        try:
            payload = pickle.dumps(item, _PROTOCOL)
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

    async def refill(self, slot: _Slot, worker: _Worker) -> None:
        """Send this worker items that are already waiting upstream, up to its room."""
        in_flight = slot.in_flight
        while len(in_flight) < IN_FLIGHT and not worker.writing:
            if self.ordered and self.numbered - self.emitted >= self.window:
                return
            item = self.take_nowait()
            if item is _WOULD_BLOCK or item is _END:
                return
            index, request = self.frame(item)
            if in_flight and len(request) > _PIPELINE_LIMIT:
                self.held = (index, request)  # the feeder sends it to an idle worker
                return
            in_flight.append(index)  # first: the slot is busy while the frame is written
            try:
                await worker.write(request)
            except _WorkerDied:
                return  # it just answered, so it died now: the next read fails the run

    async def receive(self, slot: _Slot, worker: _Worker) -> None:
        in_flight = slot.in_flight
        try:
            responses = await worker.read()
        except _WorkerDied:
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
                    self.counts[1] += 1
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
                self.counts[1] += 1
                await self.emit(result)
        finally:
            self.flushing = False

    async def emit(self, result: Any) -> None:
        try:
            await send(self.tx, result)
        except BrokenResourceError:
            if downstream_left(self.tx):
                assert self.tg is not None
                self.tg.cancel_scope.cancel()  # downstream left: stop quietly
                return
            raise

    async def drain(self, worker: _Worker, in_flight: deque[int]) -> None:
        """Wait for the calls sent (shielded) and discard their results."""
        with anyio.CancelScope(shield=True):
            try:
                while in_flight:
                    for _ in await worker.read():
                        in_flight.popleft()
            except _WorkerDied:
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
