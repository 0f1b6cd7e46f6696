"""Offloading operators: run blocking or CPU-bound functions in worker threads or processes.

``map_thread(fn, workers=k)`` and ``map_process(fn, workers=k)`` emit ``fn(item)`` for
every item, like ``map``, but call ``fn`` away from the event loop so that the loop keeps
serving the rest of the pipeline (input, output, timers) while ``fn`` runs.

Threads or processes?
    A thread helps when ``fn`` spends its time *outside* the interpreter: blocking I/O,
    or C code that releases the GIL (``hashlib`` over large buffers, ``zlib``, numpy,
    most image codecs). Pure-Python computation holds the GIL, so two threads run it no
    faster than one: use ``map_process``, which pays for pickling the item and the result
    and a pipe round trip (50-70 microseconds of the event loop's CPU per call here) and
    for starting the workers (~50 ms each, once per event loop) but runs on every core.

Both are *staged* operators, and a full downstream stops new calls from starting:
backpressure reaches the source as everywhere else.

* ``map_thread``: ``workers`` tasks each run one call at a time, so at most ``workers``
  calls are in flight; the stage holds at most ``2 * workers`` items with
  ``ordered=True`` (the reorder window: calls in flight plus finished results waiting for
  an earlier one) and ``workers`` with ``ordered=False``.
* ``map_process`` keeps *two* calls in flight per worker process (one running, the next
  already in its pipe, so a worker never waits for the event loop between calls; see
  ``_process_pool.py``): at most ``2 * workers`` calls in flight, and the stage holds at
  most ``4 * workers`` items with ``ordered=True`` (those calls plus at most
  ``2 * workers`` finished results waiting for an earlier one) and ``2 * workers`` with
  ``ordered=False``. (On Windows it runs on anyio's process pool, one call per worker,
  with ``map_thread``'s bounds.)

Cancellation (abort, an error elsewhere, the consumer leaving early) cannot interrupt a
function that is already running in a thread: Python has no way to stop a thread. By
default the stage *waits* for the calls in flight and discards their results, so that
when the pipeline's ``async with`` block exits no user code of the pipeline is still
running: ``fn`` may use resources (a connection, a file) whose lifetime is the
pipeline's block. ``abandon_on_cancel=True`` returns at once instead and lets the
running calls finish unobserved: choose it for calls that may block for a long time
(network I/O without a timeout). Either way no thread keeps the program alive once its
running call returns. For processes, ``kill_on_cancel=True`` kills a worker whose calls
are cancelled (the next run starts a fresh one).

A graceful stop does not cancel anything here: the source stops, and every item already
taken in is computed and emitted.
"""

from __future__ import annotations

import functools
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import anyio
import anyio.to_process
import anyio.to_thread
from anyio import BrokenWorkerProcess
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import (
    check_int,
    check_item_callable,
    check_sync_callable,
    describe,
    refuse_unawaited,
)
from .._core.operator import Operator, StageContext, StagedStep, step_name
from .._core.staged import StageTask
from ._map_async import run_map_async
from ._process_pool import RemoteTraceback
from ._process_stage import run_stage

__all__ = ["map_process", "map_thread"]

T = TypeVar("T")
U = TypeVar("U")


Call = Callable[[Any], Awaitable[Any]]

# The pipelining pool (_process_pool.py) needs POSIX pipes and fd passing; elsewhere
# map_process runs on anyio's process pool, one call at a time per worker.
_PIPELINED = os.name == "posix"


def _check_flag(op: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{op}(): {name} must be True or False, got {value!r}")
    return value


# -- threads -------------------------------------------------------------------------------


def map_thread(
    fn: Callable[[T], U],
    *,
    workers: int = 4,
    ordered: bool = True,
    abandon_on_cancel: bool = False,
    name: str | None = None,
) -> Operator[T, U]:
    """Emit ``fn(item)`` for every item, calling ``fn`` in up to ``workers`` threads.

    For blocking calls and C code that releases the GIL (see the module docstring for
    threads versus processes). ``ordered=True`` emits results in input order and holds at
    most ``2 * workers`` items; ``ordered=False`` emits them as calls finish and holds at
    most ``workers``.

    An exception from ``fn`` ends the run: it reaches the caller as itself, with the
    traceback of the worker thread and a note naming this operator. On cancellation the
    stage waits for the calls already running and discards their results;
    ``abandon_on_cancel=True`` leaves them running unobserved instead (their threads
    finish the call and then exit or go back to the pool; they never keep the program
    alive longer than that).
    """
    op = "map_thread"
    check_sync_callable(op, "fn", fn, async_alternative="map_async(fn, concurrency=k)")
    check_item_callable(op, "fn", fn, hint="a plain function")
    check_int(op, "workers", workers, minimum=1)
    _check_flag(op, "ordered", ordered)
    _check_flag(op, "abandon_on_cancel", abandon_on_cancel)
    name = step_name("map_thread", name, f"map_thread({describe(fn)})")

    def make_call() -> Call:
        # A CapacityLimiter belongs to one event loop, so each run makes its own. With our
        # own limiter the stage neither waits for nor uses up tokens of anyio's default
        # thread limiter (40 threads shared by the whole program).
        limiter = anyio.CapacityLimiter(workers)
        run_sync = anyio.to_thread.run_sync

        def boxed(item: Any) -> tuple[Any]:
            # Boxed, so that trio's own check of the thread's result (a coroutine) never
            # fires: the check below gives the same error on both backends.
            return (fn(item),)

        async def call(item: Any) -> Any:
            (result,) = await run_sync(
                boxed, item, limiter=limiter, abandon_on_cancel=abandon_on_cancel
            )
            # A coroutine (closed, so no RuntimeWarning follows), an async generator
            # object or another awaitable would be emitted unawaited: refused. Checked
            # per call: it is nothing beside the hop to a thread and back.
            refuse_unawaited(op, "fn", name, result)
            return result

        return call

    return _staged(name, make_call, workers, ordered, holds=2 * workers if ordered else workers)


# -- processes -----------------------------------------------------------------------------


def map_process(
    fn: Callable[[T], U],
    *,
    workers: int = 2,
    ordered: bool = True,
    kill_on_cancel: bool = False,
    name: str | None = None,
) -> Operator[T, U]:
    """Emit ``fn(item)`` for every item, calling ``fn`` in up to ``workers`` processes.

    For pure-Python, CPU-bound work that holds the GIL. ``fn`` must be picklable (a
    module-level function, or a ``functools.partial`` of one; not a lambda or a nested
    function): it is checked here. Items and results travel pickled. ``ordered=True``
    emits results in input order and holds at most ``4 * workers`` items;
    ``ordered=False`` emits them as calls finish and holds at most ``2 * workers``: each
    worker has up to two calls in flight, the next one waiting in its pipe while it
    computes the current one (only one if the item pickles to more than 4 KiB).

    The workers are fresh interpreters from a pool that belongs to the event loop: started
    on first use, reused by later runs in the same event loop (each run has its own
    workers while it lasts), retired after five idle minutes, and killed when the event
    loop ends; a worker also exits by itself when its parent goes away. Like
    ``multiprocessing``'s spawn method, a worker imports the main script as
    ``__mp_main__``: guard a script's entry point with ``if __name__ == "__main__":``.
    Its standard output and error are the parent's (``print()`` in ``fn`` works), its
    standard input is empty. Workers ignore SIGINT, so a Ctrl-C meant for the pipeline's
    graceful stop does not interrupt a call in progress.

    An exception from ``fn`` reaches the caller as itself (it must be picklable, or it
    arrives as a ``RuntimeError`` describing it), with a note naming this operator and
    the worker's traceback attached as its ``__cause__`` (as ``concurrent.futures``
    does). A worker that dies while running ``fn`` (a crash, ``os._exit()``, killed by
    the OS) ends the run with ``anyio.BrokenWorkerProcess`` saying so. On cancellation the
    stage waits for the calls in flight (at most two per worker) and discards their
    results; ``kill_on_cancel=True`` kills their workers instead.
    """
    op = "map_process"
    check_sync_callable(op, "fn", fn, async_alternative="map_async(fn, concurrency=k)")
    check_item_callable(op, "fn", fn, hint="a plain function")
    check_int(op, "workers", workers, minimum=1)
    _check_flag(op, "ordered", ordered)
    _check_flag(op, "kill_on_cancel", kill_on_cancel)
    _check_picklable(op, fn)
    name = step_name("map_process", name, f"map_process({describe(fn)})")

    def describe_death(detail: str) -> str:
        return (
            f"{name}: the worker process running {describe(fn)} died before returning a "
            f"result ({detail}); it crashed, called os._exit() or was killed"
        )

    # Two calls in flight per worker process (see docs/offload.md).
    holds = 4 * workers if ordered else 2 * workers
    if not _PIPELINED:
        call = _anyio_pool_call(fn, workers, kill_on_cancel, describe_death)
        return _staged(name, call, workers, ordered, holds=holds)
    run = ProcessStage(fn, workers, ordered, kill_on_cancel, name, describe_death)
    step = StagedStep(
        name, run, tracked=replace(run, tracked=True), concurrency=workers, holds=holds
    )
    return Operator((step,))


def _anyio_pool_call(
    fn: Callable[[Any], Any],
    workers: int,
    kill_on_cancel: bool,
    describe_death: Callable[[str], str],
) -> Callable[[], Call]:
    """Windows: one call at a time per worker, through anyio's process pool."""
    remote = _RemoteCall(fn)

    def make_call() -> Call:
        limiter = anyio.CapacityLimiter(workers)
        run_sync = anyio.to_process.run_sync

        async def call(item: Any) -> Any:
            try:
                return await run_sync(remote, item, cancellable=kill_on_cancel, limiter=limiter)
            except _RemoteError as wrapped:
                exc, text = wrapped.args
                raise exc from RemoteTraceback(text)
            except BrokenWorkerProcess as exc:
                raise BrokenWorkerProcess(describe_death(str(exc) or "no detail")) from exc

        return call

    return make_call


def _check_picklable(op: str, fn: Any) -> None:
    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise TypeError(
            f"{op}(): fn must be picklable to be sent to a worker process, and "
            f"{describe(fn)} is not ({type(exc).__name__}: {exc}); use a function defined "
            "at module level (or a functools.partial of one), not a lambda or a nested "
            "function"
        ) from exc
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    main = sys.modules.get("__main__")
    if getattr(target, "__module__", None) == "__main__" and not getattr(main, "__file__", None):
        # Pickled by reference to ``__main__``, which a worker cannot import when the
        # main program is an interactive session (REPL, notebook).
        raise TypeError(
            f"{op}(): fn ({describe(fn)}) is defined in an interactive session, which a "
            "worker process cannot import; define it in a module and import it"
        )


class _RemoteError(Exception):
    """Carries an exception and its formatted traceback from a worker to the parent.

    A traceback does not survive pickling, so the worker formats it while it still can.
    """


def _ignore_sigint() -> None:
    # A Ctrl-C in a terminal signals the whole process group, workers included. The
    # pipeline's runner turns it into a graceful drain, which needs the calls in progress
    # to finish; a KeyboardInterrupt inside a worker would fail them instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _RemoteCall:
    """``fn`` wrapped to run in a worker: picklable, keeps the worker's traceback."""

    __slots__ = ("fn",)

    _sigint_ignored = False  # per worker process: set on the class on first call

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __reduce__(self) -> tuple[Any, ...]:
        return (_RemoteCall, (self.fn,))

    def __call__(self, item: Any) -> Any:
        if not _RemoteCall._sigint_ignored:
            _ignore_sigint()
            _RemoteCall._sigint_ignored = True
        try:
            return self.fn(item)
        except BaseException as exc:
            # Skip this frame: the traceback should start in the user's function.
            tb = exc.__traceback__
            text = "".join(traceback.format_exception(type(exc), exc, tb and tb.tb_next))
            error: BaseException = exc
            if not isinstance(exc, Exception):
                # SystemExit from sys.exit() in fn must not end the *parent* process
                # (nor, as anyio's worker would, silently end this one).
                error = RuntimeError(f"fn raised {exc!r} in a worker process")
            try:
                pickle.dumps(error)
            except Exception:
                error = RuntimeError(f"{type(exc).__name__}: {exc} (not picklable)")
            raise _RemoteError(error, text) from None


# -- the stage -----------------------------------------------------------------------------


def _staged(
    name: str, make_call: Callable[[], Call], workers: int, ordered: bool, *, holds: int
) -> Operator[Any, Any]:
    run = PooledCalls(make_call, workers, ordered, name)
    step = StagedStep(
        name, run, tracked=replace(run, tracked=True), concurrency=workers, holds=holds
    )
    return Operator((step,))


# -- the tasks, as values whose repr shows their configuration (see _core/staged.py) --------


@dataclass(frozen=True, slots=True, repr=False)
class ProcessStage(StageTask):
    """The task of ``map_process`` on anystream's own process pool (_process_stage.py)."""

    fn: Callable[[Any], Any]
    workers: int
    ordered: bool
    kill_on_cancel: bool
    name: str
    describe_death: Callable[[str], str] = field(repr=False)
    tracked: bool = False

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await run_stage(
            self.fn,
            self.workers,
            self.ordered,
            self.kill_on_cancel,
            self.name,
            self.describe_death,
            rx,
            tx,
            ctx,
            tracked=self.tracked,
        )


@dataclass(frozen=True, slots=True, repr=False)
class PooledCalls(StageTask):
    """The task of ``map_thread`` (and of ``map_process`` on anyio's pool): ``workers``
    concurrent calls; ``name`` (the operator's label) names the function."""

    # Made per run: a CapacityLimiter belongs to one event loop.
    make_call: Callable[[], Call] = field(repr=False)
    workers: int
    ordered: bool
    name: str
    tracked: bool = False

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await _run(
            self.make_call, self.workers, self.ordered, self.name, rx, tx, ctx, tracked=self.tracked
        )


async def _run(
    make_call: Callable[[], Call],
    workers: int,
    ordered: bool,
    name: str,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
    *,
    tracked: bool = False,
) -> None:
    # The same workers, ordering and bounds as map_async (ops/_map_async.py): only the
    # call differs, and it is made per run (a CapacityLimiter belongs to one event loop).
    await run_map_async(
        make_call(),
        rx,
        tx,
        ctx,
        concurrency=workers,
        ordered=ordered,
        retry=None,
        on_error="raise",
        name=name,
        tracked=tracked,
    )
