"""trio's virtual clock, with events due at the same virtual instant run in scheduling order.

This module is trio-specific by nature (it adjusts the trio run it instruments), which is
why it may ``import trio``; it is only imported when trio clock options are asked for.

Why it exists
-------------
trio deliberately leaves the order of simultaneous events unspecified, and its scheduler
acts on that: each batch of runnable tasks is run forwards or backwards at random (or, when
Hypothesis is imported, shuffled with a seeded generator), and deadlines due at the same
instant expire in the order of their cancel scopes' ``id()``.  On a real clock two events
are almost never simultaneous; on a virtual clock they often are (a debounce window closing
exactly when the next item is due, two inputs of ``merge`` emitting in the same frame), and
a marble test at such a tie then flips between runs.  The asyncio loop of
:mod:`anystream.testing._asyncio_clock` is FIFO, so the two backends also disagreed.

What :class:`FifoScheduling` changes, in the run it instruments and nowhere else
--------------------------------------------------------------------------------
* Deadlines due at the same instant expire in the order they were set (a counter replaces
  ``id()`` as the heap's tie-breaker), so the sleeps they end are rescheduled in that order.
* Each batch of runnable tasks runs in the order the tasks were rescheduled (first woken,
  first run), with or without Hypothesis.

So events due at the same virtual instant run in the order they were scheduled, the order
asyncio's loop uses too.  Other trio runs in the same process keep trio's own randomised
order.  trio has no public hook for this: the instrument's ``before_run()``, which trio
calls inside the run before any task starts, swaps the run's deadline heap and run queue
for FIFO versions, and routes the scheduler's random choices through a generator that
gives the FIFO answer in such runs only.  The private names this relies on are checked when
the run starts: should a trio release rename them, the run fails with an error saying so
rather than silently going back to a random order.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from heapq import heappush
from typing import Any

import trio
import trio.abc
import trio.testing

__all__ = ["FifoScheduling", "fifo_trio_options"]

_sequence = itertools.count()


def _trio_run_module() -> Any:
    from trio._core import _run  # private: see the module docstring

    missing = [
        name for name in ("_r", "GLOBAL_RUN_CONTEXT", "Deadlines") if not hasattr(_run, name)
    ]
    if missing:
        raise RuntimeError(
            f"FifoScheduling: this trio ({trio.__version__}) has no {', '.join(missing)} in "
            "trio._core._run, which deterministic virtual time relies on; use "
            "trio.testing.MockClock (random order of simultaneous events) or another trio"
        )
    return _run


class _FifoRunQueue(deque[Any]):
    """trio's run queue, remembering the order in which tasks were made runnable."""

    def __init__(self, tasks: Any = ()) -> None:
        super().__init__()
        self.order: dict[Any, int] = {}
        self.batch_order: dict[Any, int] = {}
        for task in tasks:
            self.append(task)

    def append(self, task: Any) -> None:
        self.order[task] = next(_sequence)
        super().append(task)

    def clear(self) -> None:
        # trio copies the queue into its batch, then clears it, then orders the batch.
        self.batch_order, self.order = self.order, {}
        super().clear()


class _SchedulerRandom(random.Random):
    """trio's scheduler generator, answering with the FIFO order inside FIFO runs.

    trio runs a batch with ``batch.pop()``, so FIFO means: always reverse the batch
    (``random() < 0.5``), and in the Hypothesis mode "shuffle" it into reversed wake order.
    """

    def __init__(self, original: random.Random, run_module: Any) -> None:
        super().__init__()
        self.original = original
        self._run_module = run_module

    def _fifo_queue(self) -> _FifoRunQueue | None:
        runner = getattr(self._run_module.GLOBAL_RUN_CONTEXT, "runner", None)
        queue = getattr(runner, "runq", None)
        return queue if isinstance(queue, _FifoRunQueue) else None

    def random(self) -> float:
        if self._fifo_queue() is not None:
            return 0.0
        return self.original.random()

    def shuffle(self, x: Any) -> None:
        queue = self._fifo_queue()
        if queue is None:
            self.original.shuffle(x)
            return
        order = queue.batch_order
        x.sort(key=lambda task: order.get(task, -1), reverse=True)

    def uniform(self, a: float, b: float) -> float:
        return self.original.uniform(a, b)

    def seed(self, *args: Any, **kwargs: Any) -> None:
        original = getattr(self, "original", None)
        if original is not None:  # random.Random.__init__ calls seed() before it is set
            original.seed(*args, **kwargs)

    def getstate(self) -> Any:
        return self.original.getstate()

    def setstate(self, state: Any) -> None:
        self.original.setstate(state)


def _install_scheduler_random(run_module: Any) -> None:
    if not isinstance(run_module._r, _SchedulerRandom):
        run_module._r = _SchedulerRandom(run_module._r, run_module)


def _fifo_deadlines(run_module: Any, old: Any) -> Any:
    class FifoDeadlines(run_module.Deadlines):  # type: ignore[misc]
        """Deadlines whose ties expire in the order they were set, not by ``id()``."""

        def add(self, deadline: float, cancel_scope: Any) -> None:
            heappush(self._heap, (deadline, next(_sequence), cancel_scope))
            self._active += 1

    fresh = FifoDeadlines()
    fresh._heap = list(old._heap)
    fresh._active = old._active
    return fresh


def _fifo_run_active(run_module: Any) -> bool:
    runner = getattr(run_module.GLOBAL_RUN_CONTEXT, "runner", None)
    return isinstance(getattr(runner, "runq", None), _FifoRunQueue)


def _install_fifo_events(run_module: Any) -> None:
    """Make ``trio.Event.set()`` wake its waiters in the order they began to wait.

    trio keeps an Event's waiters in a ``set``, so one ``set()`` reschedules them in hash
    order: the tasks woken at one instant by one event would run in a different order on
    every run. Inside a FIFO run (only there: the methods fall back to trio's own
    otherwise) each wait records when it began, and ``set()`` wakes in that order.
    """
    from trio import _sync  # private: see the module docstring

    event = _sync.Event
    if getattr(event, "_anystream_fifo", False):
        return
    original_set, original_wait = event.set, event.wait
    began: dict[Any, int] = {}

    async def wait(self: Any) -> None:
        if not _fifo_run_active(run_module):
            return await original_wait(self)
        task = trio.lowlevel.current_task()
        began[task] = next(_sequence)
        try:
            await original_wait(self)
        finally:
            began.pop(task, None)

    def set(self: Any) -> None:
        if not _fifo_run_active(run_module) or self._flag:
            return original_set(self)
        self._flag = True
        for task in sorted(self._tasks, key=lambda t: began.get(t, -1)):
            trio.lowlevel.reschedule(task)
        self._tasks.clear()

    event.wait = wait  # type: ignore[method-assign]
    event.set = set  # type: ignore[method-assign]
    event._anystream_fifo = True  # type: ignore[attr-defined]


class FifoScheduling(trio.abc.Instrument):
    """A trio instrument: in the run it is given to, simultaneous events run FIFO.

    See the module docstring. Pass it with the clock: ``trio.run(main,
    clock=trio.testing.MockClock(autojump_threshold=0), instruments=[FifoScheduling()])``
    (``fifo_trio_options()`` builds exactly that for anyio's ``backend_options``).
    """

    def before_run(self) -> None:
        run_module = _trio_run_module()
        runner = run_module.GLOBAL_RUN_CONTEXT.runner
        _install_scheduler_random(run_module)
        _install_fifo_events(run_module)
        runner.deadlines = _fifo_deadlines(run_module, runner.deadlines)
        runner.runq = _FifoRunQueue(runner.runq)


def fifo_trio_options() -> dict[str, Any]:
    """anyio ``backend_options`` for trio: a fresh autojumping clock, FIFO simultaneous events."""
    return {
        "clock": trio.testing.MockClock(autojump_threshold=0),
        "instruments": [FifoScheduling()],
    }
