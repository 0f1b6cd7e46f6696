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

from anyio import Event
from anyio.lowlevel import checkpoint

__all__ = ["NewEvent", "native_checkpoint", "parking", "running_backend", "spawn_detached"]

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


# -- what a parked receiver needs -----------------------------------------------------------
# handoff._park parks a task on an anyio memory stream the way anyio's receive() does: an
# event in the stream's ``waiting_receivers`` that the sender sets once it has handed the
# receiver its item. anyio builds an ``anyio.Event`` for every park (a backend lookup,
# then the loop's own event, a trio ``Event`` with its ``ParkingLot``); here the event is
# the running loop's cheapest one-shot primitive for one waiting task. The sender only
# calls ``event.set()``, so it cannot tell the difference.

NewEvent = Callable[[], Any]


class _FutureEvent:
    """A one-shot event over one asyncio future: ``set()``, ``is_set()``, ``await wait()``."""

    __slots__ = ("_future",)

    def __init__(self, future: Any) -> None:
        self._future = future

    def set(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    def is_set(self) -> bool:
        return bool(self._future.done())

    def wait(self) -> Any:
        # Awaiting the future is asyncio's own park: a cancellation of the task (which
        # is how anyio's cancel scopes cancel on asyncio) cancels the future and is
        # raised here.
        return self._future


class _TrioOneShot:
    """A one-shot event for one waiting task on trio: ``set()``, ``is_set()``, ``await wait()``.

    ``trio.Event`` is general (any number of waiters, each parked in a ``ParkingLot``);
    a park here has exactly one waiter, so this keeps the task itself and reschedules
    it, as trio's own memory channels do. Cancellation is trio's: the abort callback
    forgets the task and lets trio raise ``Cancelled`` in it.
    """

    __slots__ = ("_flag", "_task")
    #: ``trio.lowlevel``, bound by parking() when it first hands out this factory: a
    #: park and its wake-up then skip the module lookup.
    _lowlevel: Any = None

    def __init__(self) -> None:
        self._flag = False
        self._task: Any = None

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            task, self._task = self._task, None
            if task is not None:
                self._lowlevel.reschedule(task)

    def is_set(self) -> bool:
        return self._flag

    async def wait(self) -> None:
        lowlevel = self._lowlevel
        if self._flag:
            await lowlevel.checkpoint()  # as trio.Event.wait(): a set event still yields
            return
        self._task = lowlevel.current_task()

        def abort(_raise_cancel: Any) -> Any:
            self._task = None
            return lowlevel.Abort.SUCCEEDED

        await lowlevel.wait_task_rescheduled(abort)


_parking: dict[str, NewEvent] = {}


def parking() -> NewEvent:
    """The factory of one-shot events (``set()``, ``is_set()``, ``await wait()``) for parking
    one task on the running loop; outside asyncio and trio, anyio's own ``Event``.
    """
    backend = running_backend()
    if backend is None:
        return Event
    new_event = _parking.get(backend)
    if new_event is None:
        if backend == "asyncio":
            asyncio: Any = sys.modules["asyncio"]

            def new_future_event() -> _FutureEvent:
                return _FutureEvent(asyncio.get_running_loop().create_future())

            new_event = new_future_event
        else:
            _TrioOneShot._lowlevel = sys.modules["trio"].lowlevel
            new_event = _TrioOneShot
        _parking[backend] = new_event
    return new_event
