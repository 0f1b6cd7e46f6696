"""The fused loops' checkpoint: the running loop's own, with anyio's semantics."""

from __future__ import annotations

import anyio
import pytest
from anyio.lowlevel import checkpoint

from anystream._core._backends import native_checkpoint, running_backend

pytestmark = pytest.mark.anyio


def test_outside_an_event_loop_it_is_anyios() -> None:
    assert native_checkpoint() is checkpoint


async def test_inside_a_loop_it_is_the_loops_own(anyio_backend_name: str) -> None:
    own = native_checkpoint()
    assert own is not checkpoint
    if anyio_backend_name == "trio":
        import trio

        assert own is trio.lowlevel.checkpoint
    await own()  # a plain checkpoint: returns


async def test_it_yields_to_other_tasks() -> None:
    own = native_checkpoint()
    ran = []

    async def other() -> None:
        ran.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        assert not ran
        for _ in range(5):  # trio may run us first in the next batch: it shuffles
            await own()
        assert ran


async def test_a_cancelled_scope_is_delivered_there() -> None:
    own = native_checkpoint()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await own()
        pytest.fail("the checkpoint did not deliver the cancellation")
    assert scope.cancelled_caught


def test_no_backend_outside_an_event_loop() -> None:
    assert running_backend() is None


async def test_the_running_backend_is_named(anyio_backend_name: str) -> None:
    assert running_backend() == anyio_backend_name


async def test_the_parking_event_wakes_its_waiter_once_and_is_cancellable() -> None:
    from anystream._core._backends import parking

    new_event = parking()

    early = new_event()
    early.set()
    early.set()  # a second set() is a no-op
    assert early.is_set()
    await early.wait()  # already set: returns (after a checkpoint)

    woken: list[str] = []
    late = new_event()

    async def waiter() -> None:
        await late.wait()
        woken.append("woken")

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.01)
        assert not late.is_set()
        assert woken == []
        late.set()
    assert woken == ["woken"]

    cancelled = new_event()
    with anyio.move_on_after(0.01) as scope:
        await cancelled.wait()
    assert scope.cancelled_caught
    cancelled.set()  # set after its waiter left: nobody to wake, no error
    assert cancelled.is_set()
