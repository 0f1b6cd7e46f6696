"""The staged implementation of ``map_async``: worker tasks, ordering, retry, error policy.

``concurrency`` workers take items from the stage's input as they become free (see
``_Intake``: a call that never suspends costs no task switch). In ordered mode each item
is numbered as it is taken; a worker that finishes the earliest outstanding item emits it
and every consecutive finished result after it.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio import EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_int
from .._core.errors import add_operator_note
from .._core.handoff import END, send_unless_left
from .._core.operator import StageContext
from .._core.stats import OpStats
from ..resilience.retry import Retry, attempts_made
from .errors import ErrorHandler, OnError

__all__ = ["check_retry", "run_map_async"]

_SKIPPED: Any = object()  # the call failed and the item was dropped or dead-lettered


class _DeadLettered:
    """Tracked runs only: the call failed and the item was dead-lettered with ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


Call = Callable[[Any], Awaitable[Any]]


def check_retry(op: str, retry: object) -> Retry | None:
    """Validate a ``retry`` argument: a Retry policy, a number of attempts, or None."""
    if retry is None or isinstance(retry, Retry):
        return retry
    if isinstance(retry, int) and not isinstance(retry, bool):
        check_int(op, "retry", retry, minimum=1)
        return Retry(attempts=retry)
    raise TypeError(
        f"{op}(): retry must be a Retry policy, a number of attempts or None, got {retry!r}"
    )


def _make_call(
    fn: Call,
    retry: Retry | None,
    on_error: OnError,
    name: str,
    stats: OpStats,
    *,
    tracked: bool = False,
) -> Call:
    """``fn`` wrapped with this run's retry policy and error handler.

    ``tracked``: a dead-lettered item's call returns a ``_DeadLettered`` (for
    ``_carry_tokens``, which tells the item's source) instead of ``_SKIPPED``.
    """
    handler = ErrorHandler(on_error, name, stats)
    letter = tracked and handler.dead_letters

    def skipped(exc: Exception) -> Any:
        return _DeadLettered(exc) if letter else _SKIPPED

    if retry is None:
        if handler.raises:

            async def call(item: Any) -> Any:
                try:
                    return await fn(item)
                except Exception as exc:
                    add_operator_note(exc, name)
                    raise

            return call

        async def call_or_skip(item: Any) -> Any:
            try:
                return await fn(item)
            except Exception as exc:
                handler.handle(exc, item)
                return skipped(exc)

        return call_or_skip

    user_hook = retry.on_retry

    def count_retry(attempt: int, exc: BaseException, delay: float) -> None:
        stats.retried += 1
        if user_hook is not None:
            user_hook(attempt, exc, delay)

    policy = dataclasses.replace(retry, on_retry=count_retry)

    async def call_with_retry(item: Any) -> Any:
        try:
            result, _ = await policy.call(fn, item)
        except Exception as exc:
            handler.handle(exc, item, attempts_made(exc) or policy.attempts)
            return skipped(exc)
        return result

    return call_with_retry


async def run_map_async(
    fn: Call,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    ctx: StageContext,
    *,
    concurrency: int,
    ordered: bool,
    retry: Retry | None,
    on_error: OnError,
    name: str,
    tracked: bool = False,
) -> None:
    call = _make_call(fn, retry, on_error, name, ctx.stats, tracked=tracked)
    if tracked:
        call = _carry_tokens(call)
    if ordered:
        await _run_ordered(call, concurrency, rx, tx, ctx.counts)
    else:
        await _run_unordered(call, concurrency, rx, tx, ctx.counts)


def _carry_tokens(call: Call) -> Call:
    """For acknowledged sources: items are ``(value, token)`` pairs (see _core/acks.py)."""

    async def call_pair(pair: tuple[Any, Any]) -> Any:
        value, token = pair
        result = await call(value)
        if isinstance(result, _DeadLettered):
            token.dead_letter(result.error)  # the source may make the letter durable first
            return _SKIPPED
        if result is _SKIPPED:
            token.done()  # dropped or dead-lettered: fully handled
            return _SKIPPED
        return (result, token)

    return call_pair


class _Intake:
    """Hands a stage's input to its workers, waking an idle worker only when one is needed.

    Only one worker at a time waits in ``receive()``: when several tasks wait there, items
    are handed out in order but the tasks *resume* in whatever order the scheduler picks
    (trio shuffles it on purpose), so numbering items on resumption would misnumber them.
    Taking and numbering with no wait in between keeps input order. The other idle
    workers queue here.

    A worker that has just taken an item wakes at most one idle worker, and no other
    while that one has not run yet. A woken worker runs only once the running ones have
    suspended (in their call, or waiting for input or output): if the calls complete
    without suspending, one worker goes through a whole batch of input with no task
    switch at all; if they suspend, each woken worker takes an item and wakes the next,
    so all ``concurrency`` workers are busy after one pass of the scheduler. (Waking one
    worker per item cost a task switch per item; waking them all was a thundering herd.)
    """

    __slots__ = ("_idle", "_reading", "_rx", "_woken", "taken")

    def __init__(self, rx: MemoryObjectReceiveStream[Any]) -> None:
        self._rx = rx
        self._reading = False  # a worker is waiting in receive()
        self._idle: deque[anyio.Event] = deque()  # workers waiting for their turn
        self._woken: anyio.Event | None = None  # an idle worker woken, not yet running
        self.taken = 0  # items taken so far: the index of the next one

    def _wake_one(self) -> None:
        if self._woken is None and self._idle:
            self._woken = self._idle.popleft()
            self._woken.set()

    async def take(self) -> Any:
        """The next input item (its index is ``taken - 1``), or ``END`` at end of input."""
        while self._reading:
            turn = anyio.Event()
            self._idle.append(turn)
            try:
                await turn.wait()
            except BaseException:
                if turn in self._idle:
                    self._idle.remove(turn)
                elif self._woken is turn:
                    self._woken = None
                    self._wake_one()  # woken while being cancelled: pass it on
                raise
            if self._woken is turn:
                self._woken = None
        rx = self._rx
        try:
            try:
                item = rx.receive_nowait()
            except WouldBlock:
                self._reading = True
                try:
                    item = await rx.receive()
                finally:
                    self._reading = False
        except EndOfStream:
            while self._idle:  # the end of input is for everyone
                self._idle.popleft().set()
            return END
        except BaseException:
            self._wake_one()  # cancelled while reading: let the next one read
            raise
        self.taken += 1
        self._wake_one()  # in case this worker's call suspends: someone takes the next
        return item


async def _run_unordered(
    call: Call,
    concurrency: int,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    counts: list[int],
) -> None:
    intake = _Intake(rx)

    async def worker() -> None:
        while True:
            item = await intake.take()
            if item is END:
                return
            counts[0] += 1
            result = await call(item)
            if result is _SKIPPED:
                continue
            counts[1] += 1
            if not await send_unless_left(tx, result, tg.cancel_scope):
                return

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)


class _Slots:
    """A counting limit whose acquire does not checkpoint when a slot is free.

    ``anyio.Semaphore.acquire()`` always checkpoints; on the ordered path that would be a
    full scheduler round-trip per item.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[anyio.Event] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event in self._waiters:
                self._waiters.remove(event)
            elif event.is_set():
                self.release()  # handed a slot while being cancelled: pass it on
            raise

    def release(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()  # the slot goes straight to the waiter
        else:
            self._free += 1


async def _run_ordered(
    call: Call,
    concurrency: int,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    counts: list[int],
) -> None:
    slots = _Slots(2 * concurrency)
    intake = _Intake(rx)
    results: dict[int, Any] = {}
    emitted = 0  # index of the next result to emit
    flushing = False

    async def worker() -> None:
        nonlocal emitted, flushing
        while True:
            await slots.acquire()
            item = await intake.take()
            if item is END:
                slots.release()
                return
            index = intake.taken - 1
            counts[0] += 1
            results[index] = await call(item)
            if flushing or index != emitted:
                continue  # the flusher, or the worker of the earlier item, emits it
            flushing = True
            try:
                while emitted in results:
                    result = results.pop(emitted)
                    emitted += 1
                    if result is not _SKIPPED:
                        counts[1] += 1
                        if not await send_unless_left(tx, result, tg.cancel_scope):
                            return
                    slots.release()
            finally:
                flushing = False

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
