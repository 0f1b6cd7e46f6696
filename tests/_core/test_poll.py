"""``poll()``: the one-call form of the receive fast path keeps ``receive_nowait()``'s semantics.

It pops a buffered item directly (poll.py says why); these tests check that this direct
path is in use on this anyio (a silent fallback would only show as a slowdown) and that
every other case -- a parked sender, an empty, ended, failed or closed stream, a stream
class with its own ``receive_nowait()`` -- behaves as the public method does.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from anystream._core import poll as poll_module
from anystream._core.handoff import END, boundary, demand_link, receive_or_end
from anystream._core.poll import WAIT, poll

pytestmark = pytest.mark.anyio


def test_direct_path_is_active_on_this_anyio() -> None:
    assert poll_module.FAST
    assert poll is poll_module._poll_direct  # pyright: ignore[reportPrivateUsage]


@pytest.mark.parametrize("version", ["_poll_direct", "_poll_public"])
def test_items_in_order_then_wait_then_end(version: str) -> None:
    fn: Any = getattr(poll_module, version)
    tx, rx = boundary(3)
    with rx:
        assert fn(rx) is WAIT
        tx.send_nowait(1)
        tx.send_nowait(2)
        assert fn(rx) == 1
        assert fn(rx) == 2
        assert fn(rx) is WAIT
        tx.send_nowait(3)
        tx.close()
        assert fn(rx) == 3  # the items before the end come first
        assert fn(rx) is END
        assert fn(rx) is END


@pytest.mark.parametrize("version", ["_poll_direct", "_poll_public"])
def test_a_failed_boundary_raises_its_error_after_the_items(version: str) -> None:
    fn: Any = getattr(poll_module, version)
    tx, rx = boundary(2)
    with rx:
        tx.send_nowait("a")
        rx.fail(ValueError("upstream broke"))
        tx.close()
        assert fn(rx) == "a"
        with pytest.raises(ValueError, match="upstream broke"):
            fn(rx)


@pytest.mark.parametrize("version", ["_poll_direct", "_poll_public"])
def test_a_closed_receive_side_raises_closed_resource_error(version: str) -> None:
    fn: Any = getattr(poll_module, version)
    tx, rx = anyio.create_memory_object_stream[int](2)
    with tx:
        tx.send_nowait(1)
        rx.close()
        with pytest.raises(anyio.ClosedResourceError):
            fn(rx)


def test_a_stream_class_with_its_own_receive_nowait_is_asked() -> None:
    class Doubling(MemoryObjectReceiveStream[int]):
        def receive_nowait(self) -> int:
            return 2 * super().receive_nowait()

    tx, plain = anyio.create_memory_object_stream[int](2)
    rx = Doubling(_state=plain._state)  # pyright: ignore[reportPrivateUsage]
    plain.close()
    with tx, rx:
        tx.send_nowait(21)
        assert poll(rx) == 42


async def test_takes_the_item_of_a_parked_sender_and_wakes_it() -> None:
    tx, rx = boundary(0)
    sent: list[int] = []

    async def sender() -> None:
        async with tx:
            for i in range(3):
                await tx.send(i)
                sent.append(i)

    got: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        while True:
            item = poll(rx)
            if item is WAIT:
                item = await receive_or_end(rx)
            if item is END:
                break
            got.append(item)
    rx.close()
    assert got == [0, 1, 2]
    assert sent == [0, 1, 2]


async def test_a_demand_link_gets_its_request_only_through_the_wait() -> None:
    # poll() never waits, so it never asks a demand link's sender for an item.
    tx, rx, gate = demand_link()
    with rx:
        assert poll(rx) is WAIT
        assert gate.requests == 0

        async def sender() -> None:
            async with tx:
                await gate.wait(lambda: 0)
                await tx.send("x")

        async with anyio.create_task_group() as tg:
            tg.start_soon(sender)
            assert await receive_or_end(rx) == "x"
        assert gate.requests == 1
        assert poll(rx) is END
