"""An abort always ends the run: after a graceful stop, from any task, at any moment.

The rule under test (shutdown.py): once an abort is requested, the run ends as soon as
the user code already running returns; no wait of anystream's own outlives it, and
whatever the abort discarded is counted (``run.stats().discarded``, plus the operators'
``in_flight``), never lost silently.

Each test runs on asyncio and trio on the virtual clock, under pytest-timeout: a hang
cannot be caught by ``fail_after`` (the hang sits in a shielded wait), so the per-test
timeout is the watchdog, and the end of the run is also checked in virtual seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from anyio.lowlevel import checkpoint
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anystream import Aborted, Stream, buffered, flat_map, from_iterable, map, map_async, where
from anystream._core.runner import Run

#: How many random pipelines the property test drives (raise it for a long run, e.g.
#: ``ANYSTREAM_ABORT_EXAMPLES=5000``).
EXAMPLES = int(os.environ.get("ANYSTREAM_ABORT_EXAMPLES", "150"))

# The watchdog: a hang sits in a shielded wait that no fail_after can reach.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60 + EXAMPLES // 10)]


class Counted:
    """A source that counts what it handed out and notes whether it was closed."""

    def __init__(self, n: int, *, asynchronous: bool = False, gap: float = 0.0) -> None:
        self.n = n
        self.asynchronous = asynchronous
        self.gap = gap
        self.pulled = 0
        self.closed = False

    def sync(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                self.pulled += 1
                yield i
        finally:
            self.closed = True

    async def aiter(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                if self.gap:
                    await anyio.sleep(self.gap)
                self.pulled += 1
                yield i
        finally:
            self.closed = True

    def stream(self) -> Stream[int]:
        return from_iterable(self.aiter() if self.asynchronous else self.sync())


async def _abort_after(run: Run[Any], ticks: int, error: BaseException | None = None) -> None:
    for _ in range(ticks):
        await checkpoint()
    run.abort(error)


def _accounted(run: Run[Any], delivered: int) -> int:
    """Items the run can account for: delivered, dropped, discarded, held by a stage."""
    stats = run.stats()
    held = sum(
        op.in_flight
        for op in stats.operators[1:]
        if op.name.startswith(("map_async", "flat_map"))  # one-to-one stages here
    )
    return delivered + sum(stats.dropped.values()) + stats.discarded_total + held


# -- the case that hung ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1])
@pytest.mark.parametrize("asynchronous", [False, True])
async def test_abort_on_the_tick_after_a_stop_ends_the_run(size: int, asynchronous: bool) -> None:
    """Stop after the first item, abort on the next tick, consumer 1 ms per item."""
    src = Counted(30, asynchronous=asynchronous)
    got: list[int] = []
    async with (src.stream() | buffered(size)).stream() as run, anyio.create_task_group() as tg:
        async for x in run:
            got.append(x)
            if len(got) == 1:
                run.stop()
                tg.start_soon(_abort_after, run, 1)
            await anyio.sleep(0.001)
    assert got == [0]
    assert src.closed
    assert _accounted(run, len(got)) == src.pulled, run.stats()


async def test_a_second_interrupt_after_a_stop_raises_it_with_what_was_discarded() -> None:
    """What the signal relay does on a second Ctrl-C: abort(KeyboardInterrupt())."""
    src = Counted(30)
    got: list[int] = []
    with pytest.raises(KeyboardInterrupt) as caught:
        async with (src.stream() | buffered(1)).stream() as run:
            async for x in run:
                got.append(x)
                run.stop()
                run.abort(KeyboardInterrupt())
                await anyio.sleep(0.001)
    assert got == [0]
    assert _accounted(run, len(got)) == src.pulled
    if run.stats().discarded_total:
        assert any("discarded" in note for note in caught.value.__notes__)


async def test_grace_running_out_while_the_source_finishes_its_item_aborts() -> None:
    src = Counted(30)
    start = anyio.current_time()
    got: list[int] = []
    with pytest.raises(Aborted, match=r"0\.5 s"):
        async with (src.stream() | buffered(0)).stream(grace=0.5) as run:
            async for x in run:
                got.append(x)
                run.stop()
                await anyio.sleep(10)  # a consumer far slower than the grace period
    assert got == [0]
    assert anyio.current_time() - start == pytest.approx(0.5)
    assert _accounted(run, len(got)) == src.pulled


async def test_cancelling_the_surrounding_scope_during_the_drain_ends_the_run() -> None:
    src = Counted(30)
    got: list[int] = []
    with anyio.move_on_after(0.05) as scope:
        async with (src.stream() | buffered(1) | map(lambda x: x)).stream() as run:
            async for x in run:
                got.append(x)
                run.stop()
                await anyio.sleep(1)
    assert scope.cancelled_caught
    assert got == [0]
    assert src.closed
    assert _accounted(run, len(got)) == src.pulled


async def test_an_abort_with_no_staged_operator_ends_the_consumers_loop() -> None:
    """No task to cancel: the loop ends before its next pull and the error is raised."""
    src = Counted(30)
    got: list[int] = []
    with pytest.raises(RuntimeError, match="enough"):
        async with (src.stream() | map(lambda x: x)).stream() as run:
            async for x in run:
                got.append(x)
                if len(got) == 2:
                    run.abort(RuntimeError("enough"))
    assert got == [0, 1]
    assert src.pulled == 2


async def test_what_an_abort_discards_is_counted_per_hand_off() -> None:
    src = Counted(30)
    got: list[int] = []
    async with (src.stream() | buffered(4, name="queue")).stream() as run:
        async for x in run:
            got.append(x)
            await anyio.sleep(0.01)  # the source fills the buffer meanwhile
            run.abort()
    stats = run.stats()
    # Four in the buffer and one in the hands of the parked sender, less what the
    # consumer's loop still handed out after the abort (it had it in hand: no wait).
    assert src.pulled == 6
    assert stats.discarded == {"buffered(queue)": src.pulled - len(got)}
    assert "discarded by the abort" in repr(stats)


async def test_a_run_that_ends_normally_discards_nothing() -> None:
    async with (from_iterable(range(10)) | buffered(2)).stream() as run:
        assert [x async for x in run] == list(range(10))
    assert run.stats().discarded == {}


# -- stop(grace=...) is checked ----------------------------------------------------------


@pytest.mark.parametrize(
    ("grace", "error"),
    [
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("5", TypeError),
        (True, TypeError),
    ],
)
async def test_stop_refuses_a_grace_that_is_not_a_finite_number(grace: Any, error: type) -> None:
    async with (from_iterable(range(3)) | buffered(1)).stream() as run:
        with pytest.raises(error, match=r"run\.stop\(\): grace must be"):
            run.stop(grace=grace)
        assert not run.stopping  # a refused stop changes nothing
        assert [x async for x in run] == [0, 1, 2]


# -- the property --------------------------------------------------------------------------

_OPS = ["where", "map", "buffered0", "buffered1", "buffered4", "map_async", "flat_map"]


def _build(src: Counted, ops: list[str]) -> Stream[int]:
    s = src.stream()
    for op in ops:
        if op == "where":
            s = s | where(lambda x: x % 3 != 1)
        elif op == "map":
            s = s | map(lambda x: x)
        elif op.startswith("buffered"):
            s = s | buffered(int(op.removeprefix("buffered")))
        elif op == "flat_map":
            s = s | flat_map(lambda x: [x])  # pulls its input on demand after the source
        else:
            s = s | map_async(_slow_identity, concurrency=2)
    return s


async def _slow_identity(x: int) -> int:
    await anyio.sleep(0.002)
    return x


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    n=st.integers(min_value=0, max_value=40),
    asynchronous=st.booleans(),
    ops=st.lists(st.sampled_from(_OPS), min_size=1, max_size=4),
    stop_after=st.integers(min_value=0, max_value=10),
    abort_ticks=st.integers(min_value=0, max_value=12),
    consumer_delay=st.sampled_from([None, 0.0, 0.001, 0.05]),
    abort_from=st.sampled_from(["task", "consumer", "grace"]),
)
@example(
    n=30,
    asynchronous=False,
    ops=["buffered1"],
    stop_after=1,
    abort_ticks=1,
    consumer_delay=0.001,
    abort_from="task",
)
async def test_property_stop_then_abort_always_ends_and_loses_nothing_silently(
    n: int,
    asynchronous: bool,
    ops: list[str],
    stop_after: int,
    abort_ticks: int,
    consumer_delay: float | None,
    abort_from: str,
) -> None:
    src = Counted(n, asynchronous=asynchronous, gap=0.0005 if asynchronous else 0.0)
    got: list[int] = []
    grace = 0.01 * abort_ticks if abort_from == "grace" else None
    aborted_at: float | None = None

    def abort_now() -> None:
        nonlocal aborted_at
        aborted_at = anyio.current_time()
        run.abort()

    async def abort_later() -> None:
        for _ in range(abort_ticks):
            await checkpoint()
        abort_now()

    try:
        async with (
            anyio.create_task_group() as tg,
            _build(src, ops).stream(grace=grace) as run,
        ):
            stopped = False
            if stop_after == 0:
                run.stop()
                stopped = True
                if abort_from == "task":
                    tg.start_soon(abort_later)
            async for x in run:
                got.append(x)
                if not stopped and len(got) >= stop_after:
                    run.stop()
                    stopped = True
                    if abort_from == "task":
                        tg.start_soon(abort_later)
                    elif abort_from == "consumer":
                        abort_now()
                if consumer_delay is not None:
                    await anyio.sleep(consumer_delay)
    except* Aborted:  # raised through the test's own task group
        assert abort_from == "grace"
    ended_at = anyio.current_time()
    # Bounded: nothing waits on a timer after the abort (the virtual clock would show
    # it); a wait on another task would hang and trip the per-test timeout instead.
    # With no staged operator there is no task to cancel: the pipeline is the consumer's
    # own loop, and the abort takes effect when the consumer's code asks for the next item.
    inline = grace is None and all(op in ("where", "map") for op in ops)
    bound = 0.01 + (consumer_delay or 0.0 if inline else 0.0)
    if aborted_at is not None:
        assert ended_at - aborted_at <= bound, (ended_at, aborted_at)
    assert src.closed or src.pulled == 0
    assert len(set(got)) == len(got), got
    assert got == sorted(got)
    assert _accounted(run, len(got)) == src.pulled, (got, src.pulled, run.stats())
