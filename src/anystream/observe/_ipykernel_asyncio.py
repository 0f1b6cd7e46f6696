"""Abort background runs before a Jupyter kernel shuts down (ipykernel runs on asyncio).

A run started with ``await stream.start()`` in a notebook is consumed by a task of the
kernel's event loop. When the kernel shuts down or restarts, ipykernel does not cancel
that loop's tasks: it stops the loop and the process exits, so the run's sources and
generators would never be closed (their ``finally`` blocks never run, a file or a
connection they hold is just dropped). So the first background run started in a kernel
wraps the kernel's ``do_shutdown``: before the kernel replies to a shutdown request, every
background run still going is aborted and waited for, at most :data:`SHUTDOWN_WAIT`
seconds in all.

ipykernel may call ``do_shutdown`` from its control thread, whose event loop is not the
shell's, so the aborts are handed to the shell's loop (where the runs live) with
``asyncio.run_coroutine_threadsafe``: that is why this module is asyncio-specific. A
kernel with no background run left, or one that is not an ipykernel, is not touched.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import weakref
from typing import Any

__all__ = ["SHUTDOWN_WAIT", "abort_on_kernel_shutdown", "installed"]

#: How long a kernel's shutdown waits, in all, for its background runs to end.
SHUTDOWN_WAIT = 5.0

_runs: weakref.WeakSet[Any] = weakref.WeakSet()
_installed: list[Any] = []  # the kernels whose do_shutdown is wrapped


def _kernel() -> Any:
    """The running ipykernel kernel, or None outside one."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None or not kernelapp.IPKernelApp.initialized():
        return None
    return getattr(kernelapp.IPKernelApp.instance(), "kernel", None)


def installed() -> bool:
    """Whether this kernel's shutdown aborts background runs (for tests)."""
    return bool(_installed)


def abort_on_kernel_shutdown(handle: Any) -> None:
    """Have the kernel's shutdown abort ``handle`` (a BackgroundRun) if still running."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a trio run inside the kernel: it ends with its own run
        return
    kernel = _kernel()
    if kernel is None:
        return
    _runs.add(handle)
    if kernel in _installed:
        return
    original = kernel.do_shutdown

    async def do_shutdown(restart: bool) -> Any:
        await _abort_all(loop)
        result = original(restart)
        if inspect.isawaitable(result):
            result = await result
        return result

    kernel.do_shutdown = do_shutdown
    _installed.append(kernel)


async def _abort_all(shell_loop: asyncio.AbstractEventLoop) -> None:
    runs = [run for run in _runs if not run.done]
    if not runs:
        return

    async def abort() -> None:
        for run in runs:
            await run.abort()

    here = asyncio.get_running_loop()
    try:
        if here is shell_loop:
            await asyncio.wait_for(abort(), SHUTDOWN_WAIT)
        else:
            future = asyncio.run_coroutine_threadsafe(abort(), shell_loop)
            await asyncio.wait_for(asyncio.wrap_future(future), SHUTDOWN_WAIT)
    except Exception:  # a timeout included: never keep the kernel from shutting down
        pass
