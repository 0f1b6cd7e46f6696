"""Virtual clocks for tests: an autojumping asyncio event loop and per-backend clock options.

This module is asyncio-specific by nature (it subclasses :class:`asyncio.SelectorEventLoop`),
which is why it may ``import asyncio``; trio is only imported lazily, when trio clock options
are asked for.

Why it exists
-------------
Stream operators are full of time: timeouts, debounces, rate limits, windows, retries with
backoff.  Testing them on the real clock makes the suite slow and flaky, so every time-based
test runs on a virtual clock that *autojumps*: when every task is blocked waiting for a
timer, time leaps straight to the next deadline.  An hour of pipeline time then takes
milliseconds, and every deadline fires at its exact nominal time, so tests can assert
``anyio.current_time() == start + 3600`` instead of ``approx``.

trio ships this as ``trio.testing.MockClock(autojump_threshold=0)``.  asyncio has nothing
built in.  The ``looptime`` package patches it in, but the mechanism needs about sixty lines:
override :meth:`~asyncio.AbstractEventLoop.time` and wrap the selector so that "sleep until the
next timer" becomes "poll for real I/O, and if none is ready, jump to the next timer".  Owning
those lines avoids a test dependency and keeps the behaviour identical to trio's autojump.

How the loop decides
--------------------
``asyncio.BaseEventLoop._run_once`` calls ``selector.select(timeout)`` with

* ``timeout == 0`` when callbacks are ready: we poll the real selector, nothing virtual;
* ``timeout is None`` when there are no timers at all: we block on the real selector, so real
  I/O and threads waking the loop with ``call_soon_threadsafe`` (``anyio.to_thread``,
  ``anyio.from_thread``, executor shutdown at loop close) still work;
* ``timeout > 0`` when the loop would sleep until the next timer: we poll the real selector
  with timeout 0 and, if nothing is ready, set virtual time to that timer's deadline.

Trade-off
---------
As with trio's autojump, the jump happens as soon as the *loop* is idle, even if a worker
thread, a subprocess or a remote peer is about to deliver something.  A test that waits on a
thread *while* a timer is pending (``with fail_after(5): await to_thread.run_sync(...)``)
sees the timer fire at once in virtual time.  Such tests should use the real clock (the
``real_clock`` marker of :mod:`anystream.testing.pytest_plugin`).  A thread awaited with no
timer pending is fine: the loop then blocks on the real selector until the thread reports.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import selectors
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, TypeVarTuple

import anyio

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["BackendName", "VirtualClockEventLoop", "clock_backend_options", "run", "trio_missing"]

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")

BackendName = Literal["asyncio", "trio"]
_BACKENDS: tuple[BackendName, ...] = ("asyncio", "trio")


class _AutojumpSelector(selectors.BaseSelector):
    """Delegates to a real selector, but turns an idle wait for a timer into a clock jump.

    It holds its loop through a weak method so that loop and selector do not form a
    reference cycle (an unclosed loop should still be finalised, and warn, promptly).
    """

    def __init__(self, real: selectors.BaseSelector, jump: Callable[[float], None]) -> None:
        self._real = real
        self._jump = weakref.WeakMethod(jump)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0:
            # Ready callbacks (0) or no timer at all (None): behave exactly like asyncio.
            return self._real.select(timeout)
        events = self._real.select(0)
        if not events:
            jump: Callable[[float], None] | None = self._jump()
            if jump is not None:
                jump(timeout)
        return events

    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        # Closing the real selector releases its epoll/kqueue fd: no ResourceWarning.
        self._real.close()


_timer_sequence = itertools.count()


class _OrderedTimerHandle(asyncio.TimerHandle):
    """A timer handle ordered by ``(deadline, creation order)``: ties fire first-set first."""

    __slots__ = ("_sequence",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._sequence = next(_timer_sequence)

    def _key(self) -> tuple[float, int]:
        return (self.when(), self._sequence)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key() < other._key()
        return bool(super().__lt__(other))  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key() <= other._key()
        return bool(super().__le__(other))  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key() > other._key()
        return bool(super().__gt__(other))  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        if isinstance(other, _OrderedTimerHandle):
            return self._key() >= other._key()
        return bool(super().__ge__(other))  # type: ignore[operator]

    __hash__ = asyncio.TimerHandle.__hash__


class VirtualClockEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose ``time()`` is virtual and autojumps to the next timer.

    Virtual time starts at ``start_time`` (0.0 by default, like trio's ``MockClock``) and only
    moves by jumps, each landing exactly on a timer's deadline, so ``await anyio.sleep(3600)``
    returns at once with ``anyio.current_time()`` exactly 3600 later.

    The class itself is a zero-argument loop factory, which is what anyio's asyncio backend
    wants: ``anyio.run(main, backend="asyncio",
    backend_options={"loop_factory": VirtualClockEventLoop})``.  anyio hands the option to
    :class:`asyncio.Runner` (``anyio.run`` and the pytest plugin's test runner alike), which
    calls it once per run; it takes precedence over ``use_uvloop``.  Unlike its default path,
    ``asyncio.Runner`` does not make a factory-made loop the thread's current event loop, which
    only matters to code calling the deprecated ``asyncio.get_event_loop()`` outside a task.
    """

    def __init__(self, start_time: float = 0.0) -> None:
        # Set before the base initialiser, in case anything in it asks for the time.
        self._virtual_now = float(start_time)
        super().__init__(_AutojumpSelector(selectors.DefaultSelector(), self._autojump))

    def time(self) -> float:
        """Return the virtual time; asyncio computes every deadline and timeout from it."""
        return self._virtual_now

    def call_at(
        self,
        when: float,
        callback: Callable[[*PosArgsT], object],
        *args: *PosArgsT,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """Schedule a timer; timers due at the same instant fire in the order they were set.

        asyncio's timer heap compares deadlines only, and a heap does not keep the order of
        equal keys: on a virtual clock, where ties are common, two sleeps ending at the
        same instant could wake in either order. A sequence number breaks the tie.
        """
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()  # type: ignore[attr-defined]
        timer = _OrderedTimerHandle(when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def _autojump(self, timeout: float) -> None:
        """Advance virtual time to the earliest pending timer.

        asyncio passes ``when - time()`` capped at one day; adding it back could be off by an
        ulp, so when asyncio's private timer heap is available we jump to the head timer's
        deadline itself (after ``_run_once`` dropped cancelled heads, it is the live one).
        """
        scheduled: list[asyncio.TimerHandle] | None = getattr(self, "_scheduled", None)
        target = scheduled[0].when() if scheduled else self._virtual_now + timeout
        self._virtual_now = max(self._virtual_now, target)


def trio_missing() -> str | None:
    """Why trio's test clock cannot be imported, or None when it can."""
    try:
        import trio.testing  # noqa: F401 - only checking that it imports
    except ImportError as exc:
        return str(exc)
    return None


def clock_backend_options(backend: BackendName, *, virtual_clock: bool = True) -> dict[str, Any]:
    """Return anyio ``backend_options`` giving ``backend`` a fresh virtual (or the real) clock.

    Each call builds a new clock, so two runs never share virtual time by accident.  With
    ``virtual_clock=False`` the options are empty: asyncio's default loop, trio's system clock.
    Raises :class:`ValueError` for an unknown backend and :class:`ImportError` if the trio
    clock is asked for without trio installed.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS!r}, got {backend!r}")
    if not virtual_clock:
        return {}
    if backend == "asyncio":
        # The class is the loop factory; anyio's Runner calls it once per run.
        return {"loop_factory": VirtualClockEventLoop}
    # lazy: trio is an optional extra
    from anystream.testing._trio_clock import fifo_trio_options

    return fifo_trio_options()


def run(
    func: Callable[[*PosArgsT], Awaitable[T]],
    *args: *PosArgsT,
    backend: BackendName = "asyncio",
    virtual_clock: bool = True,
) -> T:
    """Run ``func(*args)`` on ``backend`` with a fresh virtual clock, and return its result.

    For scripts, notebooks and doctests that want the same instant, exact time as the test
    suite, e.g. ``run(pipeline_demo, backend="trio")`` runs an hour-long demo in milliseconds.
    A thin layer over :func:`anyio.run`; pass ``virtual_clock=False`` for the real clock.
    """
    options = clock_backend_options(backend, virtual_clock=virtual_clock)
    return anyio.run(func, *args, backend=backend, backend_options=options)
