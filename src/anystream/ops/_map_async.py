"""The staged implementation of ``map_async``: worker tasks, ordering, retry, error policy.

``concurrency`` workers take items from the stage's input as they become free. In
ordered mode each item is numbered as it is taken, and only one worker at a time waits
in ``receive()``: when several tasks wait there, items are handed out in order but the
tasks *resume* in whatever order the scheduler picks (trio shuffles it on purpose), so
numbering on resumption would misnumber them. A worker that finishes the earliest
outstanding item emits it and every consecutive finished result after it.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio import BrokenResourceError, EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_int
from .._core.errors import add_operator_note
from .._core.handoff import END, downstream_left, receive_or_end, send
from .._core.operator import StageContext
from .._core.stats import OpStats
from ..resilience.retry import Retry, attempts_made
from .errors import ErrorHandler, OnError

__all__ = ["check_retry", "run_map_async"]

_SKIPPED: Any = object()  # the call failed and the item was dropped or dead-lettered

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


def _make_call(fn: Call, retry: Retry | None, on_error: OnError, name: str, stats: OpStats) -> Call:
    """``fn`` wrapped with this run's retry policy and error handler."""
    handler = ErrorHandler(on_error, name, stats)
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
                return _SKIPPED

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
            return _SKIPPED
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
    call = _make_call(fn, retry, on_error, name, ctx.stats)
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
        if result is _SKIPPED:
            token.done()  # dropped or dead-lettered: fully handled
            return _SKIPPED
        return (result, token)

    return call_pair


async def _run_unordered(
    call: Call,
    concurrency: int,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    counts: list[int],
) -> None:
    async def worker() -> None:
        while True:
            item = await receive_or_end(rx)
            if item is END:
                return
            counts[0] += 1
            result = await call(item)
            if result is _SKIPPED:
                continue
            counts[1] += 1
            try:
                await send(tx, result)
            except BrokenResourceError:
                if downstream_left(tx):
                    tg.cancel_scope.cancel()  # downstream left: stop quietly
                    return
                raise

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
    results: dict[int, Any] = {}
    emitted = 0  # index of the next result to emit
    flushing = False
    numbered = 0  # index of the next input item
    reading = False  # one worker is waiting in receive()
    queue: deque[anyio.Event] = deque()  # workers waiting for that one to be done

    async def take_numbered() -> Any:
        """The next item and its index; ``END`` at end of input.

        Only one worker at a time may wait in ``receive()``: an item handed to a waiting
        task is delivered before that task resumes, so another worker taking the next
        item with ``receive_nowait()`` meanwhile would number it first. Numbering right
        after taking, with no wait in between, keeps input order; and a call that never
        suspends costs no task switch at all. Waiting workers queue and are woken one at
        a time (waking them all for every item was a thundering herd).
        """
        nonlocal numbered, reading
        while reading:
            turn = anyio.Event()
            queue.append(turn)
            try:
                await turn.wait()
            except BaseException:
                if turn in queue:
                    queue.remove(turn)
                elif queue:
                    queue.popleft().set()  # woken while being cancelled: pass it on
                raise
        try:
            try:
                item = rx.receive_nowait()
            except WouldBlock:
                reading = True
                try:
                    item = await rx.receive()
                finally:
                    reading = False
        except EndOfStream:
            while queue:  # the end of input is for everyone
                queue.popleft().set()
            return END
        except BaseException:
            if queue:
                queue.popleft().set()  # cancelled while reading: let the next one read
            raise
        index = numbered
        numbered += 1
        if queue:
            queue.popleft().set()  # pass the baton: the next idle worker takes the next item
        return index, item

    async def worker() -> None:
        nonlocal emitted, flushing
        while True:
            await slots.acquire()
            job = await take_numbered()
            if job is END:
                slots.release()
                return
            index, item = job
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
                        await send(tx, result)
                    slots.release()
            except BrokenResourceError:
                if downstream_left(tx):
                    tg.cancel_scope.cancel()
                    return
                raise
            finally:
                flushing = False

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
