"""Events due at the same virtual instant run in the order they were scheduled, on both backends."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from anystream import debounce, merge, sample
from anystream.testing import marbles, record, scripted

pytestmark = pytest.mark.anyio


async def test_simultaneous_sleeps_wake_in_the_order_they_were_set() -> None:
    order: list[int] = []

    async def sleeper(index: int) -> None:
        await anyio.sleep(1)
        order.append(index)
        await anyio.lowlevel.checkpoint()  # a second batch: woken in the same order again
        order.append(100 + index)

    for _ in range(5):
        order.clear()
        async with anyio.create_task_group() as tg:
            for index in range(12):
                tg.start_soon(sleeper, index)
        assert order == [*range(12), *range(100, 112)]


async def test_simultaneous_deadlines_fire_in_the_order_they_were_set() -> None:
    # The order is the order the deadlines were *set*, not the order the tasks started:
    # task i sets its deadline at t = (6 - i) / 10, so the last task sets it first.
    order: list[int] = []

    async def sleeper(index: int) -> None:
        await anyio.sleep((6 - index) / 10)
        await anyio.sleep_until(10)
        order.append(index)

    async with anyio.create_task_group() as tg:
        for index in range(6):
            tg.start_soon(sleeper, index)
    assert order == [5, 4, 3, 2, 1, 0]


async def test_the_waiters_of_one_event_wake_in_the_order_they_began_to_wait() -> None:
    # trio keeps an Event's waiters in a set: without FifoScheduling's ordering they woke
    # in hash order, a different one on every run. Task i begins waiting at t = (6 - i) /
    # 10, so the order of waiting differs from the order of starting.
    for _ in range(5):
        order: list[int] = []
        event = anyio.Event()

        async def waiter(index: int, event: anyio.Event = event, order: list[int] = order) -> None:
            await anyio.sleep((6 - index) / 10)
            await event.wait()
            order.append(index)

        async with anyio.create_task_group() as tg:
            for index in range(6):
                tg.start_soon(waiter, index)
            await anyio.sleep(1)
            event.set()
        assert order == [5, 4, 3, 2, 1, 0]


async def test_merge_ties_are_stable() -> None:
    # Both inputs emit in every frame: the earlier-scheduled one comes first, every run.
    for _ in range(10):
        a = scripted(*marbles("-a-b-c|", frame=1))
        b = scripted(*marbles("-x-y-z|", frame=1))
        rec = await record(merge(a, b))
        assert rec.items == ["a", "x", "b", "y", "c", "z"]


async def test_debounce_tie_at_window_end_is_stable() -> None:
    # b arrives exactly when a's quiet window ends: a is emitted (its timer was set first).
    results = set()
    for _ in range(10):
        rec = await record(scripted(*marbles("a-b-----|", frame=1)) | debounce(2))
        results.add(tuple(rec.events))
    assert len(results) == 1


async def test_sample_tie_is_stable() -> None:
    results = set()
    for _ in range(10):
        rec = await record(scripted(*marbles("a-b-c-d-|", frame=1)) | sample(2))
        results.add(tuple(rec.events))
    assert len(results) == 1
