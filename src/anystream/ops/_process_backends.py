"""The backend-specific parts of map_process's pool: a pipe reader for asyncio, and
the shutdown of the pool when the event loop ends. The only module of the pool that
names an event loop library.

A response pipe that stays registered with the asyncio event loop
-----------------------------------------------------------------

``anyio.wait_readable(fd)`` registers ``fd`` with the loop's selector and unregisters it
again for every wait: two ``epoll_ctl`` calls and the selector's bookkeeping each time,
the largest single cost of the ``map_process`` parent per item (~20% of its CPU in a
py-spy profile). A worker's response pipe is read for as long as the worker lives, so on
asyncio it is registered once and read from the loop's callback, which appends what
arrived to the worker's buffer and wakes the task waiting for it.

The callback always drains the pipe, so a pipe with unread data never keeps the loop
spinning while nobody waits (the stage may be held up downstream); a worker has at most
two responses outstanding, so what accumulates is bounded. At end of file the pipe is
unregistered at once for the same reason.

trio registers a file descriptor per wait too, but cheaply (one ``epoll_ctl``); other
backends keep ``anyio.wait_readable`` (see ``_process_pool.Worker.read``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._core._backends import running_backend

__all__ = ["PipeReader", "call_at_loop_end", "running_loop"]

_READ_SIZE = 1 << 16


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None (on trio, or outside any loop)."""
    return asyncio.get_running_loop() if running_backend() == "asyncio" else None


class PipeReader:
    """Reads ``fd`` into ``buffer`` whenever it is readable; :meth:`wait` for more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, buffer: bytearray) -> None:
        self._loop = loop
        self._fd = fd
        self._buffer = buffer
        self._waiter: asyncio.Future[None] | None = None
        self.eof = False
        self._registered = True
        loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._buffer += chunk
        else:
            self.eof = True
            self.close()  # a pipe at end of file stays readable: stop watching it
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until more data (or the end of the pipe) has arrived."""
        if self.eof:
            return
        self._waiter = waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        """Unregister the pipe (before it is closed); idempotent."""
        if self._registered:
            self._registered = False
            self._loop.remove_reader(self._fd)


# -- the pool's shutdown -------------------------------------------------------------------

# asyncio keeps only weak references to tasks: hold the shutdown tasks until they end.
_loop_end_tasks: set[Any] = set()


def call_at_loop_end(close: Callable[[], Awaitable[None]], name: str) -> None:
    """Await ``close()``, shielded, when the running event loop shuts down.

    anyio has no hook for it. asyncio's runner (``asyncio.run``, ``anyio.run``) cancels
    every remaining task when the main one returns and runs them to completion; trio
    cancels its system tasks. Either way a task that sleeps until cancelled runs
    ``close()`` at the end.
    """
    loop = running_loop()
    if loop is not None:
        task = loop.create_task(_close_when_cancelled(close))
        _loop_end_tasks.add(task)
        task.add_done_callback(_loop_end_tasks.discard)
        return
    import trio.lowlevel

    trio.lowlevel.spawn_system_task(_close_when_cancelled, close, name=name)


async def _close_when_cancelled(close: Callable[[], Awaitable[None]]) -> None:
    try:
        await anyio.sleep(math.inf)
    finally:
        # Nothing is left to report a failure to at the loop's end.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await close()
