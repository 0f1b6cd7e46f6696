"""The worker processes of ``map_process``: a small pipelining pool (POSIX).

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
* ``_Stage`` (_process_stage.py): the feeder, the readers, the input numbering and the
  ordered emission.

Bounds: each worker has at most two calls in flight, so ``2 * workers`` in all.
Unordered, a result read and not yet emitted still counts against its worker's two, so
the stage holds at most ``2 * workers`` items. Ordered, finished results wait for earlier
ones and new items are taken only while fewer than ``4 * workers`` are held (the calls
in flight plus at most ``2 * workers`` finished). A second request is pipelined only
when both frames are small (``PIPELINE_LIMIT``): a worker blocked writing a large
response while the parent is blocked writing a large request would deadlock.

A worker that dies (a crash, ``os._exit()``, the OOM killer) closes its end of the
response pipe: its reader gets end-of-file and the run fails with ``BrokenWorkerProcess``
(the call queued behind the one that was running never started). Cancellation: with
``kill_on_cancel=False`` a reader waits for the responses of the calls in flight
(shielded; they are discarded), so that no user code of the run is still running when
the stage returns and the worker goes back to the pool in step with its pipes; with
``kill_on_cancel=True`` it kills its worker instead.

Only anyio APIs here; what must name an event loop (the pool's shutdown at the end of
the loop, the asyncio pipe reader) is in _process_backends.py.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import anyio
from anyio import BrokenWorkerProcess
from anyio.abc import Process
from anyio.lowlevel import RunVar

from ._process_backends import PipeReader, call_at_loop_end, running_loop
from ._process_worker import FN, HEADER, INIT

__all__ = [
    "IN_FLIGHT",
    "PIPELINE_LIMIT",
    "PROTOCOL",
    "Lease",
    "ProcessPool",
    "RemoteTraceback",
    "Worker",
    "WorkerDied",
    "current_pool",
]

IDLE_LIMIT = 300.0  # seconds an idle worker is kept
IN_FLIGHT = 2  # calls outstanding per worker: one running, the next waiting in its pipe
PIPELINE_LIMIT = 4096  # larger request frames are sent only to an idle worker
_READ_SIZE = 1 << 16
_WORKER_CODE = "from anystream.ops._process_worker import main; main()"
_HEADER_SIZE = HEADER.size
PROTOCOL = pickle.HIGHEST_PROTOCOL


class RemoteTraceback(Exception):
    """The worker's formatted traceback, attached as ``__cause__`` of a remote error."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class WorkerDied(Exception):
    """The worker's response pipe ended, or its request pipe broke."""


class Worker:
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
        # its callback (see _process_backends.py); elsewhere anyio.wait_readable() per wait.
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
            raise WorkerDied from exc
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
                raise WorkerDied from exc
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
                    raise WorkerDied
                await reader.wait()  # the loop's callback fills the buffer
                continue
            try:
                chunk = os.read(self.rfd, _READ_SIZE)
            except BlockingIOError:
                await anyio.wait_readable(self.rfd)
                continue
            if not chunk:
                self.dead = self.exited = True
                raise WorkerDied
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


async def _spawn() -> Worker:
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
    worker = Worker(process, req_w, resp_r)
    try:
        os.set_blocking(req_w, False)
        os.set_blocking(resp_r, False)
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        init = pickle.dumps(
            (sys.path, getattr(main, "__file__", None), spec.name if spec else None), PROTOCOL
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
        self.idle: list[Worker] = []
        self.workers: set[Worker] = set()
        self.closed = False

    async def acquire(self) -> Worker:
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

    async def release(self, worker: Worker) -> None:
        if worker.reusable and not self.closed:
            worker.idle_since = anyio.current_time()
            self.idle.append(worker)
        else:
            await self.discard(worker)

    async def discard(self, worker: Worker) -> None:
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
        call_at_loop_end(pool.aclose, "anystream process pool shutdown")
        return pool


class Lease:
    """``size`` worker slots of the pool for one run, all sent the same function."""

    def __init__(self, pool: ProcessPool, size: int, fn: Callable[[Any], Any]) -> None:
        self.pool = pool
        fn_bytes = pickle.dumps(fn, PROTOCOL)
        self.fn_frame = HEADER.pack(len(fn_bytes), FN) + fn_bytes
        self.slots: list[Worker | None] = [None] * size

    async def worker(self, slot: int) -> Worker:
        """The slot's worker, acquired from the pool on first use."""
        worker = self.slots[slot]
        if worker is not None:
            return worker
        for _ in range(2):
            worker = await self.pool.acquire()
            self.slots[slot] = worker
            try:
                await worker.write(self.fn_frame)
            except WorkerDied:  # an idle worker that died meanwhile: take another
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
