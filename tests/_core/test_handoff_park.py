"""Parking without anyio's leading checkpoint: the same semantics as ``receive()``.

``parking_receive(stream)`` is what every stream-fed loop awaits once ``receive_nowait()``
has found nothing (see handoff.py). These tests check that it is really in use on this
anyio (a silent fallback to ``stream.receive`` would only show as extra scheduler
passes), that it spends no scheduler pass when it must park, and that items, the end of
the stream, a boundary's failure, closing, statistics and cancellation all behave as
with ``receive()``.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anystream._core.handoff import BoundaryReceive, boundary, parking_receive

pytestmark = pytest.mark.anyio


def test_parking_is_active_on_this_anyio() -> None:
    tx, rx = anyio.create_memory_object_stream[int](1)
    with tx, rx:
        assert parking_receive(rx) != rx.receive  # not the fallback
    btx, brx = boundary(1)
    with btx, brx:
        assert parking_receive(brx) != brx.receive


def test_other_receive_streams_keep_their_own_receive() -> None:
    class Counting(BoundaryReceive[int]):
        async def receive(self) -> int:
            return 7

    tx, plain = anyio.create_memory_object_stream[int](1)
    rx = Counting(_state=plain._state)
    plain.close()
    with tx, rx:
        assert parking_receive(rx) == rx.receive


async def test_an_item_already_there_is_taken_without_a_pass() -> None:
    tx, rx = anyio.create_memory_object_stream[int](2)
    passes = 0

    async def count_passes() -> None:
        nonlocal passes
        while True:
            await anyio.lowlevel.checkpoint()
            passes += 1

    with tx, rx:
        tx.send_nowait(1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(count_passes)
            await anyio.lowlevel.checkpoint()  # let the counter start
            before = passes
            assert await parking_receive(rx)() == 1
            assert passes == before  # no scheduler pass for an item already there
            tg.cancel_scope.cancel()


async def test_a_parked_receiver_gets_the_item_and_statistics_show_it() -> None:
    tx, rx = anyio.create_memory_object_stream[str](0)
    got: list[str] = []

    async def reader() -> None:
        got.append(await parking_receive(rx)())

    with tx, rx:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            assert rx.statistics().tasks_waiting_receive == 1
            tx.send_nowait("a")  # a zero-capacity stream: only a parked receiver takes it
        assert got == ["a"]
        assert rx.statistics().tasks_waiting_receive == 0


async def test_parking_spends_no_extra_pass(anyio_backend_name: str) -> None:
    # The reader wakes the checker and then asks for an item that is not there. Parking
    # at once, it is registered as a waiting receiver before the checker runs, on either
    # backend. anyio's receive() yields first (its leading checkpoint), so on asyncio's
    # FIFO run queue the checker runs before the reader has parked.
    seen: dict[str, int] = {}

    async def trial(name: str, make: Any) -> None:
        tx, rx = anyio.create_memory_object_stream[int](0)
        started = anyio.Event()

        async def reader() -> None:
            started.set()
            await make(rx)()

        async def checker() -> None:
            await started.wait()
            seen[name] = rx.statistics().tasks_waiting_receive
            await tx.send(1)

        with tx, rx:
            async with anyio.create_task_group() as tg:
                tg.start_soon(checker)  # first: on asyncio it waits before the reader runs
                tg.start_soon(reader)

    await trial("park", parking_receive)
    assert seen["park"] == 1
    if anyio_backend_name == "asyncio":
        await trial("anyio", lambda rx: rx.receive)
        assert seen["anyio"] == 0


async def test_end_of_stream_and_closing() -> None:
    tx, rx = anyio.create_memory_object_stream[int](1)
    outcome: list[str] = []

    async def reader() -> None:
        try:
            await parking_receive(rx)()
        except anyio.EndOfStream:
            outcome.append("end")

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        tx.close()
    assert outcome == ["end"]
    rx.close()

    tx2, rx2 = anyio.create_memory_object_stream[int](1)

    async def reader2() -> None:
        try:
            await parking_receive(rx2)()
        except anyio.ClosedResourceError:
            outcome.append("closed")

    with tx2:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader2)
            await anyio.wait_all_tasks_blocked()
            rx2.close()  # closing the receive side wakes its own parked receivers
    assert outcome == ["end", "closed"]


async def test_a_boundary_failure_is_raised_where_the_end_would_be() -> None:
    tx, rx = boundary(1)
    caught: list[BaseException] = []

    async def reader() -> None:
        try:
            await parking_receive(rx)()
        except ValueError as exc:
            caught.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        rx.fail(ValueError("upstream broke"))
        tx.close()
    assert [str(e) for e in caught] == ["upstream broke"]
    rx.close()


async def test_cancellation_while_parked_leaves_no_waiter_and_loses_no_item() -> None:
    tx, rx = anyio.create_memory_object_stream[int](0)
    with tx, rx:
        with anyio.move_on_after(0.01) as scope:
            await parking_receive(rx)()
        assert scope.cancelled_caught
        assert rx.statistics().tasks_waiting_receive == 0
        with pytest.raises(anyio.WouldBlock):
            tx.send_nowait(1)  # nobody parked any more: the item is not swallowed


async def test_an_already_cancelled_scope_cancels_the_park() -> None:
    tx, rx = anyio.create_memory_object_stream[int](0)
    with tx, rx:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await parking_receive(rx)()
            pytest.fail("a cancelled scope must not let the park return")  # pragma: no cover
        assert scope.cancelled_caught
        assert rx.statistics().tasks_waiting_receive == 0


async def test_a_receiver_cancelled_before_it_took_its_item_gives_it_back() -> None:
    # The reader's scope is cancelled and, in the same step, a sender hands it "a": our
    # receivers tell senders "no cancellation pending" (no walk over cancel scopes per
    # hand-off), so the reader is handed the item, and gives it back when it sees the
    # cancellation. The item is not lost: the next receiver gets it.
    tx, rx = anyio.create_memory_object_stream[str](0)
    got: list[str] = []
    scope = anyio.CancelScope()

    async def reader() -> None:
        with scope:
            got.append(await parking_receive(rx)())

    with tx, rx:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
            tx.send_nowait("a")
        assert got == []
        assert rx.receive_nowait() == "a"  # back in the stream, for the next receiver
        assert rx.statistics().tasks_waiting_receive == 0


async def test_an_item_given_back_goes_to_the_next_parked_receiver() -> None:
    tx, rx = anyio.create_memory_object_stream[str](0)
    first: list[str] = []
    second: list[str] = []
    scope = anyio.CancelScope()

    async def reader(into: list[str], cancel: anyio.CancelScope) -> None:
        with cancel:
            into.append(await parking_receive(rx)())

    with tx, rx:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader, first, scope)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(reader, second, anyio.CancelScope())
            await anyio.wait_all_tasks_blocked()
            assert rx.statistics().tasks_waiting_receive == 2
            scope.cancel()
            tx.send_nowait("a")  # to the first reader, which hands it on as it leaves
        assert first == []
        assert second == ["a"]  # woken with it, not left parked beside a buffered item
        assert rx.statistics().tasks_waiting_receive == 0


async def test_an_item_given_back_goes_to_the_front_of_the_buffer() -> None:
    tx, rx = anyio.create_memory_object_stream[str](4)
    scope = anyio.CancelScope()

    async def reader() -> None:
        with scope:
            await parking_receive(rx)()

    with tx, rx:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
            tx.send_nowait("a")  # handed to the cancelled reader
            tx.send_nowait("b")  # buffered behind it
        assert [rx.receive_nowait(), rx.receive_nowait()] == ["a", "b"]  # order kept


async def test_a_cancelled_receiver_with_nothing_handed_leaves_the_stream_as_it_was() -> None:
    tx, rx = anyio.create_memory_object_stream[int](2)
    with tx, rx:
        with anyio.move_on_after(0.01) as scope:
            await parking_receive(rx)()
        assert scope.cancelled_caught
        assert rx.statistics().tasks_waiting_receive == 0
        tx.send_nowait(1)  # buffered, not handed to the receiver that left
        assert rx.receive_nowait() == 1
