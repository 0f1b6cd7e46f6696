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
pipeline shuts down the usual way and no thread is left behind.

The helper works on any anyio-supported host loop (asyncio or trio). Nothing here is
specific to notebooks except the reason it exists.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.lowlevel
import anyio.to_thread

from .._core.callables import check_callable
from .._core.errors import reraise_unwrapped

__all__ = ["run_in_trio"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _import_trio() -> Any:
    try:
        import trio
    except ImportError as exc:  # pragma: no cover - trio is a dev dependency
        raise ModuleNotFoundError(
            "run_in_trio() needs trio: pip install 'anystream[trio]'"
        ) from exc
    return trio


class _TrioCall:
    """One ``trio.run`` in a worker thread, cancellable from the host loop."""

    def __init__(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        self._fn = fn
        self._args = args
        self._lock = threading.Lock()
        self._token: Any = None
        self._scope: Any = None
        self._cancel_requested = False
        self._finished = False

    def run(self, trio_options: dict[str, Any]) -> Any:
        """The worker thread's body: run ``fn(*args)`` on a fresh trio loop."""
        trio = _import_trio()
        try:
            return trio.run(self._main, **trio_options)
        finally:
            with self._lock:
                self._finished = True

    async def _main(self) -> Any:
        trio = _import_trio()
        result = None
        with trio.CancelScope() as scope:
            with self._lock:
                self._token = trio.lowlevel.current_trio_token()
                self._scope = scope
                if self._cancel_requested:
                    scope.cancel()
            result = await self._fn(*self._args)
        # When the host cancelled us, result is None: the host raises its own
        # cancellation once this thread is done, so nobody sees it.
        return result

    def cancel(self) -> None:
        """Ask the trio side to cancel (thread-safe; a no-op once trio has finished)."""
        with self._lock:
            self._cancel_requested = True
            if self._finished or self._token is None:
                return
            token, scope = self._token, self._scope
            # trio.RunFinishedError: trio finished between our check and this call.
            with suppress(Exception):
                token.run_sync_soon(scope.cancel)

    async def cancel_when_cancelled(self) -> None:
        """Sleep until cancelled (the host task was), then cancel the trio side."""
        try:
            await anyio.sleep_forever()
        finally:
            self.cancel()


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
    _import_trio()
    call = _TrioCall(fn, tuple(args))
    options = dict(trio_options or {})
    result: Any = None
    try:
        async with anyio.create_task_group() as tg:
            # The worker thread cannot be interrupted, so the host's cancellation is
            # relayed to trio by a second task that notices it; the thread call itself
            # waits (abandon_on_cancel=False) until trio has unwound.
            tg.start_soon(call.cancel_when_cancelled)
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
