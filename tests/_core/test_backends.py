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
