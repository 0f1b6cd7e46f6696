"""Fused loops: busy pipelines stay cancellable and fair; counters stay exact.

The fused loops skip the scheduler whenever they can (a sync source is iterated with no
``await`` per item, hand-offs use the buffers directly), so these tests pin down what
must survive that: a busy pipeline ends promptly when cancelled from outside, two busy
pipelines in one event loop both make progress, other tasks are not starved, and the
per-operator counters (kept in locals and published before every wait) are exact.

On a virtual clock time does not move while any task is runnable, and a busy pipeline
always is: there a deadline that is already due (``move_on_after(0)``) or a cancel from a
sibling task stands for "the timeout fires"; the real-clock tests use a real deadline.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable
from time import perf_counter
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anystream import Stream, buffered, from_iterable, map, parse, take, where
from anystream._core.fuse import CHECKPOINT_EVERY, FUSE, compile_kernels, source_of
from anystream._core.operator import Kernel
from anystream._core.shutdown import StopState
from anystream._core.stats import StageCounts

pytestmark = pytest.mark.anyio


class Counting:
    """An endless sync iterable that counts what was pulled from it."""

    def __init__(self) -> None:
        self.pulled = 0

    def __iter__(self) -> Any:
        for i in itertools.count():
            self.pulled += 1
            yield i


def _inc(x: int) -> int:
    return x + 1


def _even(x: int) -> bool:
    return x % 2 == 0


# Busy pipelines: a sync source that never blocks, no sleeps anywhere.
BUSY: dict[str, Callable[[Stream[int]], Stream[Any]]] = {
    "fused_only": lambda s: s | map(_inc) | where(_even),
    "buffered_hops": lambda s: (
        s | buffered(50) | map(_inc) | buffered(50) | where(_even) | buffered(50)
    ),
    "rendezvous_hops": lambda s: s | buffered(0) | map(_inc) | buffered(0),
}

# Items a busy pipeline may still pull after a cancel was requested: one checkpoint
# interval of the sync source plus what fits in its buffers and stages.
SLACK = CHECKPOINT_EVERY + 3 * 50 + 8


@pytest.mark.parametrize("shape", list(BUSY))
async def test_busy_pipeline_is_cancelled_by_an_expired_deadline(shape: str) -> None:
    src = Counting()
    with anyio.move_on_after(0) as scope:
        await BUSY[shape](from_iterable(src)).collect()
    assert scope.cancelled_caught
    assert src.pulled <= SLACK


@pytest.mark.parametrize("shape", list(BUSY))
async def test_busy_pipeline_is_cancelled_promptly_from_another_task(shape: str) -> None:
    """A sibling cancels the busy run's scope; the run stops within a bounded number of items."""
    src = Counting()
    at_cancel = 0
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def canceller() -> None:
            nonlocal at_cancel
            # Only runs if the busy pipeline lets it: this is also a fairness check.
            while src.pulled < 20_000:
                await anyio.lowlevel.checkpoint()
            at_cancel = src.pulled
            scope.cancel()

        async def busy() -> None:
            with scope:
                await BUSY[shape](from_iterable(src)).collect()

        tg.start_soon(busy)
        tg.start_soon(canceller)
    assert scope.cancelled_caught
    assert src.pulled - at_cancel <= SLACK


@pytest.mark.real_clock
@pytest.mark.parametrize("shape", list(BUSY))
async def test_busy_pipeline_obeys_a_real_deadline(shape: str) -> None:
    src = Counting()
    start = perf_counter()
    with anyio.move_on_after(0.1) as scope:
        await BUSY[shape](from_iterable(src)).collect()
    elapsed = perf_counter() - start
    assert scope.cancelled_caught
    assert src.pulled > 0
    # Generous: what matters is that it ends at all, not how close to 0.1 s (the event
    # loop only sees the deadline at a checkpoint, every CHECKPOINT_EVERY items at most).
    assert elapsed < 5


@pytest.mark.parametrize("clock", ["virtual", pytest.param("real", marks=pytest.mark.real_clock)])
@pytest.mark.parametrize("shape", list(BUSY))
async def test_two_busy_pipelines_in_one_loop_both_make_progress(shape: str, clock: str) -> None:
    got = [0, 0]
    heartbeats = 0

    async def consume(k: int) -> None:
        async with BUSY[shape](from_iterable(itertools.count())).stream() as items:
            async for _ in items:
                got[k] += 1
                if got[k] >= 30_000:
                    tg.cancel_scope.cancel()

    async def heartbeat() -> None:
        nonlocal heartbeats
        while True:
            heartbeats += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume, 0)
        tg.start_soon(consume, 1)
        tg.start_soon(heartbeat)
    # Both got a real share (a starved one would be at 0 or a handful of items), and a
    # plain task that only checkpoints was not starved either.
    assert min(got) >= 3_000, got
    assert heartbeats >= 30_000 // CHECKPOINT_EVERY, heartbeats


LINES = [str(n) if n % 5 else f"bad{n}" for n in range(2_000)]


@pytest.mark.parametrize("with_hops", [False, True], ids=["fused", "buffered"])
async def test_counters_are_exact_after_a_run(with_hops: bool) -> None:
    hop = buffered(7) if with_hops else map(lambda x: x)
    s = from_iterable(LINES) | hop | parse(int) | hop | where(_even) | hop | map(_inc)
    out = await s.collect()
    stats = s.stats()
    ok = [int(x) for x in LINES if not x.startswith("bad")]
    assert out == [n + 1 for n in ok if n % 2 == 0]
    assert stats["from_iterable"].emitted == len(LINES)
    assert stats["parse"].received == len(LINES)
    assert stats["parse"].dropped == {"malformed": len(LINES) - len(ok)}
    assert stats["parse"].emitted == len(ok)
    assert stats["where"].received == len(ok)
    assert stats["where"].dropped == {"filtered": len(ok) - len(out)}
    assert stats[len(stats) - 1].emitted == len(out)
    for op in stats.operators:
        assert op.in_flight == 0, op


async def test_counters_are_published_while_the_consumer_runs() -> None:
    """Another task (here the consumer) reads live counters between items."""
    s = from_iterable(range(10_000)) | buffered(16) | map(_inc) | buffered(16)
    async with s.stream() as run:
        n = 0
        async for _ in run:
            n += 1
            snap = {op.name: op for op in run.stats().operators}
            assert snap["map(_inc)"].received >= n
            assert run.stats()[0].emitted >= n
            # Pulled but not delivered: within buffers + one per stage.
            assert run.stats()[0].emitted - n <= 16 + 16 + 3
    assert n == 10_000


async def test_counters_include_the_item_a_kernel_raised_on() -> None:
    def boom(x: int) -> int:
        if x == 300:
            raise RuntimeError("boom")
        return x

    for s in (
        from_iterable(range(1_000)) | map(boom),
        from_iterable(range(1_000)) | buffered(10) | map(boom) | buffered(10),
    ):
        with pytest.raises(RuntimeError, match="boom"):
            await s.collect()
        op = s.stats()["map"]
        assert op.received == 301
        assert op.emitted == 300


@pytest.mark.parametrize("source", ["iter", "stream"])
async def test_counters_published_while_a_filter_awaits_mid_chain(source: str) -> None:
    """A loop with local counters derives every kernel's figure but the first one's.

    While a filter awaits (the result of a sync predicate turned out to be awaitable) the
    item in hand has entered the filter and nothing after it; the awaited coroutine runs
    after the loop published, so it reads what any other task would at that moment.
    """
    cnt = [StageCounts() for _ in range(4)]
    seen: list[tuple[int, ...]] = []
    n, slow = 1_000, 301

    async def later() -> bool:
        await anyio.lowlevel.checkpoint()
        c0, c1, c2, out = cnt
        seen.append(
            (c0.received, c0.malformed, c1.received, c1.filtered, c2.received, out.received)
        )
        return True

    def check(x: int) -> int:
        if x % 5 == 0:
            raise ValueError(x)
        return x

    def keep(x: int) -> Any:
        return later() if x == slow else x % 2 == 0

    kernels = [Kernel("parse", "parse", check), Kernel("filter", "where", keep)]
    kernels.append(Kernel("map", "map", _inc))
    loop = compile_kernels(kernels, source, "list", stoppable=source == "iter")
    got: list[int] = []

    async def nothing() -> None:
        pass

    if source == "iter":
        await loop(iter(range(n)), got, cnt, StopState(), nothing)
    else:
        tx, rx = anyio.create_memory_object_stream[int](n)
        async with tx:
            for x in range(n):
                tx.send_nowait(x)
        with rx:
            await loop(rx, got, cnt, StopState(), nothing)
    before = range(slow)  # the items handled before the slow one
    parsed = [x for x in before if x % 5]
    kept = [x for x in parsed if x % 2 == 0]
    entered_filter = len(parsed) + 1  # the slow item is in the filter, not past it
    assert seen == [
        (
            slow + 1,
            slow + 1 - len(parsed) - 1,
            entered_filter,
            len(parsed) - len(kept),
            *[len(kept)] * 2,
        )
    ]
    passed = [x for x in range(n) if x % 5 and (x % 2 == 0 or x == slow)]
    assert got == [x + 1 for x in passed]
    c0, c1, c2, out = cnt
    assert (c0.received, c1.received, c2.received, out.received) == (
        n,
        n - n // 5,
        *[len(passed)] * 2,
    )
    assert (c0.malformed, c1.filtered) == (n // 5, n - n // 5 - len(passed))


async def test_counters_of_a_sync_source_loop_stop_at_the_kernel_that_raised() -> None:
    # Each kernel's figure is derived when published: the failing item entered the
    # kernel that raised and none after it, as when every kernel counted for itself.
    for fail_in in range(3):

        def fail(i: int, fail_in: int = fail_in) -> Callable[[int], int]:
            def f(x: int) -> int:
                if i == fail_in and x == 700:
                    raise RuntimeError("boom")
                return x

            return f

        s = from_iterable(range(1_000)) | map(fail(0)) | map(fail(1)) | map(fail(2))
        with pytest.raises(RuntimeError, match="boom"):
            await s.collect()
        received = [op.received for op in s.stats().operators[1:]]
        assert received == [701 if i <= fail_in else 700 for i in range(3)], fail_in


async def test_take_after_a_buffer_stops_the_sync_source_within_the_bound() -> None:
    src = Counting()
    out = await (from_iterable(src) | buffered(20) | map(_inc) | take(5)).collect()
    assert out == [1, 2, 3, 4, 5]
    # Run-ahead: the buffer, plus what the source pushed before the next hand-off
    # noticed that downstream left.
    assert src.pulled <= 5 + 20 + 2


async def test_a_middle_loop_with_room_left_notices_that_downstream_left() -> None:
    # The middle loop (stream -> send) fills its output without asking while it knows
    # there is room; take() closes that output while the middle loop is suspended, so
    # it must look again after its next wait, not fill the 45 places left.
    src = Counting()
    s = from_iterable(src) | buffered(5) | map(_inc) | buffered(50) | take(5) | buffered(10)
    out = []
    async with s.stream() as items:
        async for item in items:
            out.append(item)
            await anyio.sleep(0.1)  # the run goes on while map's output is closed
    assert out == [1, 2, 3, 4, 5]
    # map handed over its first 5 with 45 places left; after that it may finish the
    # batch it had taken (5 more), not go on to fill the 45.
    assert s.stats()["map"].emitted <= 5 + 5 + 1
    assert src.pulled <= 5 + 5 + 5 + 5


def test_generated_sources_compile_for_every_shape() -> None:
    kinds = ("map", "amap", "filter", "afilter", "parse", "take")
    for inp in ("aiter", "iter", "stream"):
        for out in ("yield", "send", "put", "list"):
            for stoppable in (False, True):
                shape = (kinds, inp, out, stoppable)
                compile(source_of(shape), "<test>", "exec")  # type: ignore[arg-type]
                loop = compile_kernels(
                    [Kernel(k, k, _inc, 1) for k in kinds], inp, out, stoppable=stoppable
                )
                assert callable(loop)


def test_local_counters_only_without_per_item_awaits() -> None:
    # A loop with a per-item await publishes counts in place (another task may read them
    # at every await); one without keeps them in locals and publishes before each wait,
    # and counts per item only what entered the loop (the rest is derived).
    for shape in (
        (("parse", "map"), "stream", "send", False),
        (("parse", "map"), "iter", "list", True),
    ):
        local = source_of(shape)  # type: ignore[arg-type]
        assert "tick += 1" in local
        assert "received +=" not in local
    assert "counts0.received += 1" in source_of((("map",), "aiter", "send", False))
    assert "counts0.received += 1" in source_of((("amap",), "stream", "send", False))
    assert "counts0.received += 1" in source_of((("map",), "stream", "yield", False))


# -- batches: a stream-fed loop takes its whole input at once (see fuse.py "Batches") ------


async def test_a_batch_goes_back_to_its_input_before_the_loop_waits() -> None:
    # map takes the 10 items buffered before it, fills its 3-place output after three
    # and must wait: the seven it has not handled go back into its input first. Were
    # they kept in hand, the source would refill those seven places and run ahead of
    # the documented bound by as many items.
    src = Counting()
    s = from_iterable(src) | buffered(10) | map(_inc) | buffered(3)
    delivered = 0
    async with s.stream() as items:
        async for _ in items:
            delivered += 1
            await anyio.sleep(0.01)  # a slow consumer: every buffer fills
            # buffers + one item in hand per stage (source, map, consumer)
            assert src.pulled - delivered <= 10 + 3 + 3, (src.pulled, delivered)
            if delivered == 200:
                break


async def _is_even_later(x: int) -> bool:
    await anyio.lowlevel.checkpoint()
    return x % 2 == 0


async def test_a_filter_that_turns_out_async_inside_a_batch() -> None:
    # A lambda returning a coroutine is only found out per item: the loop awaits it in
    # the middle of a batch, with the rest of the batch back in its input meanwhile.
    src = Counting()
    s = from_iterable(src) | buffered(8) | where(lambda x: _is_even_later(x)) | buffered(2)
    got: list[int] = []
    async with s.stream() as items:
        async for x in items:
            got.append(x)
            # 2 * len(got) inputs are accounted for by what arrived; on top: the
            # buffers, one in hand per stage, and the odd number after the last even.
            assert src.pulled - (2 * len(got)) <= 8 + 2 + 3 + 1
            if len(got) == 300:
                break
    assert got == list(range(0, 600, 2))


def test_batches_only_in_loops_without_per_item_awaits() -> None:
    assert "batch = iter([*inbuf])" in source_of((("parse",), "stream", "send", False))
    assert "extend(inbuf)" in source_of(((), "stream", "list", False))
    # A loop that yields to its consumer (or awaits a kernel) per item takes one at a
    # time: it would otherwise put the batch back at every item.
    assert "batch = iter([*inbuf])" not in source_of((("map",), "stream", "yield", False))
    assert "batch = iter([*inbuf])" not in source_of((("amap",), "stream", "send", False))


# -- bulk: a sync source fills the room of its buffer in one call --------------------------


def _raises_after(n: int) -> Any:
    yield from range(n)
    raise RuntimeError("source broke")


async def test_a_bulk_filled_buffer_counts_what_a_failing_source_gave() -> None:
    s = from_iterable(_raises_after(1_000)) | buffered(64) | map(_inc)
    got: list[int] = []
    with pytest.raises(RuntimeError, match="source broke"):
        async with s.stream() as items:
            async for x in items:
                got.append(x)
    assert got == [n + 1 for n in range(len(got))]
    stats = s.stats()
    assert stats["from_iterable"].emitted == 1_000
    assert stats["map(_inc)"].emitted == len(got)


@pytest.mark.parametrize("size", [1, 7, 64, 500])
async def test_a_bulk_filled_buffer_keeps_order_and_checkpoints(size: int) -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    n = 20_000
    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        s = from_iterable(range(n)) | buffered(size)
        out = await s.collect()
        tg.cancel_scope.cancel()
    assert out == list(range(n))
    assert s.stats()["from_iterable"].emitted == n
    # The source still yields at least every CHECKPOINT_EVERY items, however large its
    # buffer: the other task ran in between.
    assert ticks >= n // (CHECKPOINT_EVERY + 1) // 2, ticks


# -- tracebacks: the generated source is registered with linecache -----------------------


def _explode(x: int) -> int:
    if x == 4:
        raise LookupError(f"no entry for {x}")
    return x


@pytest.mark.skipif(not FUSE, reason="ANYSTREAM_NO_FUSE is set: no fused loop to look at")
@pytest.mark.parametrize("shape", ["list", "buffered", "yield"])
async def test_a_traceback_through_a_fused_loop_shows_its_source_line(shape: str) -> None:
    s = from_iterable(range(10)) | where(_even) | map(_explode)
    if shape == "buffered":
        s = s | buffered(2)
    with anyio.fail_after(10), pytest.raises(LookupError) as info:
        if shape == "yield":
            async with s.stream() as items:
                async for _ in items:
                    pass
        else:
            await s.collect()
    frames = [
        frame
        for frame in traceback.extract_tb(info.value.__traceback__)
        if frame.filename.startswith("<anystream fused")
    ]
    assert frames, traceback.format_exception(info.value)
    assert frames[-1].line == "x = fn1(x)"
    assert "filter|map" in frames[-1].filename
    text = "".join(traceback.format_exception(info.value))
    assert "x = fn1(x)" in text
