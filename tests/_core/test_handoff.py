"""Hand-offs: the inline fast path is active, and it keeps anyio's semantics.

The fused loops move items through a memory stream's buffer directly whenever no task is
parked on the other side (see handoff.py). These tests check that the fast path is really
in use on this anyio (a silent fallback would only show as a slowdown), and that order,
completeness, backpressure, wake-ups of parked peers, "downstream left" and cancellation
all behave as with the public methods.
"""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.streams.memory import MemoryObjectSendStream
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream import buffered, from_iterable, map, take, where
from anystream._core.handoff import receive, receive_fast_path, send, send_fast_path

pytestmark = pytest.mark.anyio


def test_fast_path_is_active_on_this_anyio() -> None:
    tx, rx = anyio.create_memory_object_stream[int](3)
    with tx, rx:
        state, buffer, waiting_receivers, capacity = send_fast_path(tx)
        rbuffer, waiting_senders = receive_fast_path(rx)
        assert state is not None
        assert buffer is rbuffer
        assert capacity == 3
        assert not waiting_receivers
        assert not waiting_senders
        # The fast path's view is the stream's own: what goes in one way comes out the other.
        buffer.append(1)
        assert rx.receive_nowait() == 1
        tx.send_nowait(2)
        assert rbuffer.popleft() == 2


def test_fast_path_falls_back_for_other_stream_types() -> None:
    class Other:
        pass

    buffer, waiting = receive_fast_path(Other())  # type: ignore[arg-type]
    assert not buffer
    assert waiting  # "a peer is parked": never take the fast path
    state, _, waiting_receivers, capacity = send_fast_path(Other())  # type: ignore[arg-type]
    assert state is None
    assert waiting_receivers
    assert capacity == 0


async def test_send_and_receive_helpers() -> None:
    tx, rx = anyio.create_memory_object_stream[int](1)
    async with anyio.create_task_group() as tg:

        async def producer(tx: MemoryObjectSendStream[int]) -> None:
            with tx:
                for i in range(100):
                    await send(tx, i)

        tg.start_soon(producer, tx)
        got = []
        with rx:
            while True:
                try:
                    got.append(await receive(rx))
                except anyio.EndOfStream:
                    break
    assert got == list(range(100))


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=4),
    n=st.integers(min_value=0, max_value=300),
    slow_every=st.integers(min_value=0, max_value=7),
)
async def test_order_kept_nothing_lost_through_any_buffers(
    sizes: list[int], n: int, slow_every: int
) -> None:
    """Fast and slow paths mixed: sleeps in the middle make peers park and wake."""

    async def maybe_sleep(x: int) -> bool:
        if slow_every and x % slow_every == 0:
            await anyio.sleep(0.001)
        return True

    s = from_iterable(range(n))
    for i, size in enumerate(sizes):
        s = s | buffered(size) | map(lambda x: x)
        if i == 0:
            s = s | where(maybe_sleep)
    out: list[int] = []
    async with s.stream() as items:
        async for x in items:
            out.append(x)
            if slow_every and x % (slow_every + 1) == 0:
                await anyio.sleep(0.001)  # the consumer parks too, now and then
    assert out == list(range(n))


async def test_backpressure_holds_with_the_fast_path() -> None:
    """A slow consumer: the source runs ahead by at most buffers + one per stage."""
    pulled = 0

    def source() -> Any:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    s = from_iterable(source()) | buffered(8) | map(lambda x: x) | buffered(8)
    worst = 0
    async with s.stream() as items:
        delivered = 0
        async for _ in items:
            delivered += 1
            await anyio.sleep(0.01)
            worst = max(worst, pulled - delivered)
            if delivered == 100:
                break
    assert worst <= 8 + 8 + 3


async def test_parked_receivers_are_woken_by_the_fast_sender() -> None:
    """Every stage is parked in receive() when a burst starts: none may be stranded."""

    async def bursts() -> Any:
        for burst in range(5):
            await anyio.sleep(0.1)  # everything downstream parks meanwhile
            for i in range(30):
                yield burst * 30 + i

    s = from_iterable(bursts()) | buffered(4) | map(lambda x: x) | buffered(0) | map(lambda x: x)
    assert await s.collect() == list(range(150))


async def test_downstream_leaving_stops_the_fast_sender_quietly() -> None:
    """take() after a buffer closes the boundary; the upstream must notice and stop."""
    pulled = 0

    def source() -> Any:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    out = await (
        from_iterable(source()) | buffered(16) | map(lambda x: x * 2) | buffered(16) | take(3)
    ).collect()
    assert out == [0, 2, 4]
    assert pulled <= 3 + 16 + 16 + 3


@pytest.mark.parametrize("size", [0, 1, 50])
async def test_buffered_busy_pipeline_is_cancellable(size: int) -> None:
    with anyio.move_on_after(0) as scope:
        await (from_iterable(itertools.count()) | buffered(size) | map(lambda x: x)).collect()
    assert scope.cancelled_caught


@pytest.mark.parametrize("size", [0, 50])
async def test_two_buffered_pipelines_share_the_loop(size: int) -> None:
    got = [0, 0]

    async def consume(k: int) -> None:
        s = from_iterable(itertools.count()) | buffered(size) | map(lambda x: x) | buffered(size)
        async with s.stream() as items:
            async for _ in items:
                got[k] += 1
                if got[k] >= 5_000:
                    tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume, 0)
        tg.start_soon(consume, 1)
    assert min(got) >= 500, got
