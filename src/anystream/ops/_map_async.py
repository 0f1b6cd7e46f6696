"""The staged implementation of ``map_async``: worker tasks, ordering, retry, error policy.

``concurrency`` workers take items from the stage's input as they become free (see
``_Intake``: a call that never suspends costs no task switch). In ordered mode each item
is numbered as it is taken; a worker that finishes the earliest outstanding item emits it
and every consecutive finished result after it.
"""

from __future__ import annotations

import dataclasses
import types
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import anyio
from anyio import EndOfStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core._backends import parking
from .._core.callables import check_int
from .._core.errors import add_operator_note
from .._core.handoff import (
    END,
    parking_receive,
    receive_fast_path,
    send_fast_path,
    send_unless_left,
)
from .._core.operator import StageContext
from .._core.stats import OpStats, StageCounts
from ..resilience.retry import Retry, attempts_made
from .errors import ErrorHandler, OnError

__all__ = ["HANDOFF_MIN", "check_retry", "handoff_size", "run_map_async"]

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


#: The least room of each hand-off on both sides of a concurrent ``map_async`` stage.
#: Each time the stage's input runs dry or its output fills up, the source, the stage and
#: the consumer each take a scheduler pass (about four per refill in all), so the size of
#: the hand-offs, not the concurrency, sets the task switches per item: room for ``c``
#: items cost 4/c passes per item (2 at c = 2, the worker pool's 0.75). 32 brings it to
#: about 0.13 at every concurrency.
HANDOFF_MIN = 32


#: A worker that takes an item with at least this many more behind it wakes an idle
#: worker before the call, "in case it suspends" (see _Intake); with fewer, it runs the
#: call's first step itself and wakes someone only if the call suspends. A wasted
#: wake-up costs about as much as stepping 8-16 calls by hand.
WAKE_AHEAD = 12


def handoff_size(concurrency: int) -> int:
    """The room of the hand-offs into and out of a ``map_async(concurrency=c)`` stage."""
    return max(concurrency, HANDOFF_MIN)


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
    if retry is None and on_error == "raise":
        # The common case: the workers call ``fn`` themselves and add the note (one
        # coroutine less per item).
        call, note = fn, name
    else:
        call, note = _make_call(fn, retry, on_error, name, ctx.stats, tracked=tracked), None
    if tracked:
        call = _carry_tokens(call)
    if ordered:
        await _run_ordered(call, note, concurrency, rx, tx, ctx.counts)
    else:
        await _run_unordered(call, note, concurrency, rx, tx, ctx.counts)


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

    Someone must take the next item if a worker's call suspends, so a worker wakes at
    most one idle worker, and no other while that one has not run yet; the woken worker
    takes the next item, and if its call suspends too it wakes the next, so all
    ``concurrency`` workers are busy after one pass of the scheduler. When it wakes one depends on
    how the item came (see the workers):

    - taken from a buffer that holds at least ``WAKE_AHEAD`` items behind it (a large
      batch, as at saturation): at once, before the call. If the calls complete without
      suspending, one worker goes through the whole batch with no task switch and the
      woken one finds nothing to do: one wasted wake-up per batch.
    - any other item (a small batch, the last item in the buffer, or one handed over
      after a wait: items arriving a few at a time, at moderate load): only once the
      call has actually suspended. The worker runs the call's first step itself
      (``_resume``); a call that completes at once wakes nobody. Waking "in case" here
      cost a wasted wake-up per small batch, a third of the stage's scheduler passes.
      (Not for every item: catching the ``StopIteration`` of a call that completes
      costs ~0.4 us, more than a wasted wake-up spread over a batch of ``WAKE_AHEAD``.)

    (Waking one worker per item cost a task switch per item; waking them all was a
    thundering herd.)
    """

    __slots__ = ("_new_event", "_receive", "_rx", "ended", "idle", "reading", "taken", "woken")

    def __init__(self, rx: MemoryObjectReceiveStream[Any]) -> None:
        self._rx = rx
        # After receive_nowait() found nothing: park at once (see _core/handoff.py); and
        # the running loop's cheapest one-shot event for the turns (see _core/_backends.py).
        self._receive = parking_receive(rx)
        self._new_event = parking()
        self.reading = False  # a worker is waiting in receive()
        self.idle: deque[Any] = deque()  # workers waiting for their turn (their events)
        self.woken: Any = None  # an idle worker woken, not yet running
        self.taken = 0  # items taken so far: the index of the next one
        self.ended = False  # take() has returned END

    def wake_one(self) -> None:
        if self.woken is None and self.idle:
            self.woken = self.idle.popleft()
            self.woken.set()

    async def wait_turn(self) -> None:
        """Wait as an idle worker until ``wake_one()`` (or the end of input) picks us."""
        turn = self._new_event()
        self.idle.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn in self.idle:
                self.idle.remove(turn)
            elif self.woken is turn:
                self.woken = None
                self.wake_one()  # woken while being cancelled: pass it on
            raise
        if self.woken is turn:
            self.woken = None

    async def take(self) -> Any:
        """The next input item (its index is ``taken - 1``), or ``END`` at end of input."""
        while self.reading:
            await self.wait_turn()
        # parking_receive() takes an item that is there without suspending, and parks
        # at once otherwise (no WouldBlock raised and caught first).
        self.reading = True
        try:
            try:
                item = await self._receive()
            finally:
                self.reading = False
        except EndOfStream:
            self.ended = True
            while self.idle:  # the end of input is for everyone
                self.idle.popleft().set()
            return END
        except BaseException:
            self.wake_one()  # cancelled while reading: let the next one read
            raise
        self.taken += 1
        return item


@types.coroutine
def _resume(steps: Generator[Any, Any, Any], pending: Any) -> Generator[Any, Any, Any]:
    """``yield from steps`` for an awaitable whose first step has already run.

    The workers run a call's first step themselves (``send(None)``) to learn whether it
    completes without suspending; when it does suspend, what it yielded (an asyncio
    future, a trio trap) goes to the event loop from here and the loop's answer, value or
    exception (a cancellation), goes back into the call, exactly as ``await`` would.
    """
    while True:
        thrown: BaseException | None = None
        try:
            sent = yield pending
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:
            thrown = exc
        try:
            pending = steps.send(sent) if thrown is None else steps.throw(thrown)
        except StopIteration as done:
            return done.value
        finally:
            thrown = None


async def _send_slow(
    tx: MemoryObjectSendStream[Any], result: Any, scope: anyio.CancelScope
) -> bool:
    """Send when the fast path could not: wait for room, or find the consumer gone."""
    return await send_unless_left(tx, result, scope)


async def _run_unordered(
    call: Call,
    note: str | None,
    concurrency: int,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    counts: StageCounts,
) -> None:
    intake = _Intake(rx)
    idle = intake.idle
    # The per-item path touches the streams' deques directly while nobody is parked on
    # the other side (the fused loops' fast path, see _core/handoff.py); any other case
    # goes through intake.take() / send_unless_left(), so the semantics stay anyio's.
    bi, ws = receive_fast_path(rx)
    so, bo, wr, cap = send_fast_path(tx)

    # A worker waits for room in the output. Meanwhile a worker that takes an item does
    # not wake another "in case its call suspends": with the output full, more workers
    # would only pile up results, each costing a wake-up (see _Intake); and a worker
    # with a result leaves it in ``held`` for the waiting one to send.
    stalled = False
    held: deque[Any] = deque()

    async def worker() -> None:
        nonlocal stalled
        while True:
            if bi and not ws and not intake.reading:
                item = bi.popleft()
                intake.taken += 1
                batch = len(bi) >= WAKE_AHEAD  # a large batch waits behind this one
                if batch and idle and intake.woken is None and not stalled:
                    intake.wake_one()  # in case this call suspends: see _Intake
            else:
                batch = False
                item = await intake.take()
                if item is END:
                    return
            counts.received += 1
            try:
                if batch:
                    result = await call(item)
                else:
                    steps = call(item).__await__()
                    try:
                        pending = steps.send(None)
                    except StopIteration as done:
                        result = done.value  # completed without suspending
                    else:
                        if idle and intake.woken is None:
                            intake.wake_one()  # it suspends: someone takes the next item
                        result = await _resume(steps, pending)
            except Exception as exc:
                if note is not None:
                    add_operator_note(exc, note)
                raise
            if result is _SKIPPED:
                continue
            counts.emitted += 1
            if not wr and len(bo) < cap and so.open_receive_channels:
                bo.append(result)
            elif stalled:
                # Another worker already waits for room: it sends this result too, and
                # this worker waits as an idle one. One sender per refill, not a wake-up
                # per worker per freed place; at most ``concurrency`` results in hand.
                held.append(result)
                await intake.wait_turn()
            else:
                stalled = True
                try:
                    if not await _send_slow(tx, result, tg.cancel_scope):
                        return
                    while held:
                        result = held.popleft()
                        if not wr and len(bo) < cap and so.open_receive_channels:
                            bo.append(result)
                        elif not await _send_slow(tx, result, tg.cancel_scope):
                            return
                finally:
                    stalled = False

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)


class _Slots:
    """A counting limit whose acquire does not checkpoint when a slot is free.

    ``anyio.Semaphore.acquire()`` always checkpoints; on the ordered path that would be a
    full scheduler round-trip per item. The workers test ``free`` and ``waiters``
    themselves and call ``acquire()`` only when they must wait.
    """

    __slots__ = ("_new_event", "free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[Any] = deque()  # their events
        self._new_event = parking()  # see _Intake

    async def acquire(self) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        event = self._new_event()
        self.waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event in self.waiters:
                self.waiters.remove(event)
            elif event.is_set():
                self.release()  # handed a slot while being cancelled: pass it on
            raise

    def release(self) -> None:
        if self.waiters:
            self.waiters.popleft().set()  # the slot goes straight to the waiter
        else:
            self.free += 1

    def hand_out(self) -> None:
        """Give the free slots to the workers waiting for one (first come, first served).

        While anyone waits, ``acquire()`` does not take a free slot itself, so slots freed
        with ``free += 1`` are not taken over the waiters' heads before this runs.
        """
        while self.free > 0 and self.waiters:
            self.free -= 1
            self.waiters.popleft().set()


async def _run_ordered(
    call: Call,
    note: str | None,
    concurrency: int,
    rx: MemoryObjectReceiveStream[Any],
    tx: MemoryObjectSendStream[Any],
    counts: StageCounts,
) -> None:
    slots = _Slots(2 * concurrency)
    waiters = slots.waiters
    intake = _Intake(rx)
    idle = intake.idle
    results: dict[int, Any] = {}
    emitted = 0  # index of the next result to emit
    flushing = False
    bi, ws = receive_fast_path(rx)  # see _run_unordered
    so, bo, wr, cap = send_fast_path(tx)

    async def worker() -> None:
        nonlocal emitted, flushing
        while True:
            if slots.free > 0 and not waiters:
                slots.free -= 1
            elif waiters and not intake.ended:
                # One worker waiting for a slot is enough: the others wait as idle
                # workers, woken one at a time when a call suspends, instead of each
                # taking one freed slot per flush (a wake-up per result at saturation).
                await intake.wait_turn()
                continue
            else:
                await slots.acquire()
            if bi and not ws and not intake.reading:
                item = bi.popleft()
                intake.taken += 1
                batch = len(bi) >= WAKE_AHEAD  # a large batch waits behind this one
                if batch and idle and intake.woken is None and not flushing:
                    intake.wake_one()  # in case this call suspends: see _Intake
            else:
                batch = False
                item = await intake.take()
                if item is END:
                    slots.release()
                    return
            index = intake.taken - 1
            counts.received += 1
            try:
                if batch:
                    result = await call(item)
                else:
                    steps = call(item).__await__()
                    try:
                        pending = steps.send(None)
                    except StopIteration as done:
                        result = done.value  # completed without suspending
                    else:
                        if idle and intake.woken is None:
                            intake.wake_one()  # it suspends: someone takes the next item
                        result = await _resume(steps, pending)
            except Exception as exc:
                if note is not None:
                    add_operator_note(exc, note)
                raise
            if flushing or index != emitted:
                results[index] = result  # the flusher, or the worker of the earlier item, emits it
                continue
            # This is the earliest outstanding item: emit it and every consecutive
            # finished result after it. While this flush waits for room in the output,
            # the other workers see ``flushing`` and wake no one on taking an item (see
            # ``stalled`` in _run_unordered).
            flushing = True
            try:
                while True:
                    emitted += 1
                    if result is not _SKIPPED:
                        counts.emitted += 1
                        if not wr and len(bo) < cap and so.open_receive_channels:
                            bo.append(result)
                        else:
                            if waiters:
                                slots.hand_out()  # before waiting on the consumer
                            if not await _send_slow(tx, result, tg.cancel_scope):
                                return
                    # Slots freed here go to the workers waiting for one in a single
                    # hand-out after the flush, not one wake-up per emitted result.
                    slots.free += 1
                    if emitted not in results:
                        break
                    result = results.pop(emitted)
                if waiters:
                    slots.hand_out()
            finally:
                flushing = False

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
