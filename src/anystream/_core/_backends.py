"""The one module of the core that names the event loops: which one runs, its checkpoint.

``anyio.lowlevel.checkpoint()`` finds the running backend on every call, which costs
about 0.4 us on top of the checkpoint itself. The fused loops yield once per batch of
hand-offs, tens of thousands of times a second, so they take the running loop's own
checkpoint once per run instead (2-4% of bench B). It is exactly what anyio would run:
on trio anyio's checkpoint *is* ``trio.lowlevel.checkpoint``, and on asyncio it is
``await asyncio.sleep(0)``, which is a bare ``yield`` to the task: asyncio's documented
way for a coroutine to give up one event-loop iteration. The loops yield that directly
(one generator frame instead of three: 1.29 -> 1.00 us per task step).

Nothing here imports an event loop library: one that is running has been imported
already, so ``sys.modules`` is enough to find it. Outside any event loop, or on a
backend this module does not know, the answer is anyio's own checkpoint.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Literal

from anyio.lowlevel import checkpoint

__all__ = ["native_checkpoint", "running_backend", "spawn_detached"]

Checkpoint = Callable[[], Awaitable[None]]


def running_backend() -> Literal["asyncio", "trio"] | None:
    """Which event loop runs in this thread: ``"asyncio"``, ``"trio"`` or None.

    trio is asked first: trio-asyncio style hosts run an asyncio loop inside trio, and
    anyio treats those as trio too.
    """
    trio: Any = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass  # imported, but not running in this thread
        else:
            return "trio"
    asyncio: Any = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return "asyncio"
    return None


def native_checkpoint() -> Checkpoint:
    """The running event loop's own checkpoint (anyio's when there is none)."""
    backend = running_backend()
    if backend == "trio":
        return sys.modules["trio"].lowlevel.checkpoint  # type: ignore[no-any-return]
    if backend == "asyncio":
        return _asyncio_yield
    return checkpoint


@types.coroutine
def _asyncio_yield() -> Generator[None, None, None]:
    # What ``asyncio.sleep(0)`` does underneath: the task sees a bare yield, reschedules
    # itself with call_soon(), and a cancellation is thrown in right here.
    yield


# Background tasks of the running loop, kept referenced until they end (asyncio holds
# only weak references to its tasks).
_detached: set[Any] = set()


def spawn_detached(fn: Callable[[], Awaitable[None]]) -> None:
    """Run ``fn()`` as a task of the running event loop that outlives the caller.

    Structured concurrency has no such thing on purpose; a notebook needs it, because a
    run started in one cell must go on after the cell returns. On trio it is a system
    task (``trio.lowlevel.spawn_system_task``: cancelled when the main task ends); on
    asyncio a task of the running loop. ``fn`` must not raise (it would crash trio's
    run): :class:`~anystream._core.background.BackgroundRun` catches what its run raises.
    """
    backend = running_backend()
    if backend == "trio":
        sys.modules["trio"].lowlevel.spawn_system_task(fn)
        return
    if backend == "asyncio":
        loop = sys.modules["asyncio"].get_running_loop()
        task = loop.create_task(fn())
        _detached.add(task)
        task.add_done_callback(_detached.discard)
        return
    raise RuntimeError("spawn_detached(): needs a running asyncio or trio event loop")
