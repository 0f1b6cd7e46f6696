"""Run a pipeline on trio from an asyncio program, such as a Jupyter kernel.

Jupyter's kernel runs an asyncio event loop, and top-level ``await`` in a cell runs on
it: ``await stream.collect()`` in a notebook therefore always runs on asyncio. To see
the same pipeline run on trio (or to use a trio-only library inside it), trio needs an
event loop of its own, and one thread can run only one event loop at a time. So
:func:`run_in_trio` starts ``trio.run`` in a worker thread and awaits that thread from
the caller's loop::

    windows = await run_in_trio(pipeline.collect)

The kernel's loop keeps running meanwhile (other cells' tasks, display updates, a
progress view), because the waiting happens in ``anyio.to_thread.run_sync``. Nothing
crosses between the two loops except the call and its result: the pipeline's streams,
tasks and cancel scopes all live on the trio side, and a ``Stream`` is only a
description, so it is safe to hand over. (Do not share a *running* ``Run`` between the
two loops.)

Cancelling the awaiting task (interrupting the cell, a timeout around it) cancels the
trio side too, through trio's thread-safe token, and waits for it to finish: the
pipeline shuts down the usual way and no thread is left behind. While trio runs, the
host loop is woken every 0.1 s (see :func:`_keep_awake`), so that the Jupyter
interrupt button takes effect promptly (tested with a real kernel).

The helper works on any anyio-supported host loop (asyncio or trio). Nothing here is
specific to notebooks except the reason it exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.lowlevel
import anyio.to_thread

from .._core.callables import check_callable
from .._core.errors import reraise_unwrapped
from ._trio_thread import TrioCall, import_trio

__all__ = ["run_in_trio"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def run_in_trio(
    fn: Callable[[Unpack[Ts]], Awaitable[T]],
    *args: *Ts,
    trio_options: dict[str, Any] | None = None,
) -> T:
    """Run ``await fn(*args)`` on a trio event loop in a worker thread; return its result.

    Awaitable from any anyio host loop, including a Jupyter kernel's asyncio loop, which
    keeps running meanwhile. ``fn`` is usually ``stream.collect`` or an ``async def`` that
    iterates a run; its exception (if any) is raised here as itself. ``trio_options`` are
    passed to ``trio.run`` (``clock=...``, ``instruments=...``).

    Cancelling the caller cancels ``fn`` on the trio side and waits for it to unwind, so
    the pipeline's shutdown runs as usual; then the caller's cancellation proceeds.

    Example, in a notebook cell::

        from anystream.observe.notebook import run_in_trio
        result = await run_in_trio(pipeline.collect)
    """
    check_callable("run_in_trio", "fn", fn)
    import_trio()
    call = TrioCall(fn, tuple(args))
    options = dict(trio_options or {})
    result: Any = None
    try:
        async with anyio.create_task_group() as tg:
            # The worker thread cannot be interrupted, so the host's cancellation is
            # relayed to trio by a second task that notices it; the thread call itself
            # waits (abandon_on_cancel=False) until trio has unwound.
            tg.start_soon(call.cancel_when_cancelled)
            tg.start_soon(_keep_awake)
            try:
                result = await anyio.to_thread.run_sync(call.run, options)
            finally:
                tg.cancel_scope.cancel()
    except BaseException as exc:
        # fn's own error, not a group of one made by our two-task group.
        reraise_unwrapped(exc)
        raise  # pragma: no cover - reraise_unwrapped always raises
    # If the caller was cancelled while trio unwound, the thread returned normally:
    # raise the cancellation here rather than hand back a result that does not exist.
    await anyio.lowlevel.checkpoint_if_cancelled()
    return result  # type: ignore[no-any-return]


#: How often the host loop wakes up while trio runs (seconds).
WAKE_EVERY = 0.1


async def _keep_awake() -> None:
    """Wake the host loop every :data:`WAKE_EVERY` seconds until cancelled.

    ipykernel turns the interrupt button into a cancellation of the cell's task, but
    (ipykernel 7, seen with a real kernel) it schedules that cancellation on the kernel's
    loop without waking it: a loop with nothing else to do sleeps on until its next
    timer, and a cell waiting for trio's thread has none, so an interrupt was noticed
    only when the run ended by itself, never for an endless stream. A loop that wakes
    every 0.1 s runs the cancellation within that.
    """
    while True:  # noqa: ASYNC110 - the wake-ups are the point, there is no event to wait on
        await anyio.sleep(WAKE_EVERY)
