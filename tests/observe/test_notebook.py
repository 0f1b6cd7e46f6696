"""Tests for anystream.observe.notebook.run_in_trio: a trio loop in a worker thread.

Real clock: the pipeline runs on its own trio loop in another thread, which a virtual
clock on the host loop cannot see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator

import anyio
import pytest

from anystream import buffered, from_iterable, map, tumbling_window
from anystream.observe.notebook import run_in_trio

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]


def current_backend() -> str:
    import sniffio

    return sniffio.current_async_library()


async def test_collect_runs_on_trio_in_another_thread() -> None:
    host_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []

    def where_am_i(n: int) -> int:
        seen.append((current_backend(), threading.get_ident()))
        return n * 2

    s = from_iterable(range(100)) | buffered(8) | map(where_am_i)
    assert await run_in_trio(s.collect) == [n * 2 for n in range(100)]
    assert {backend for backend, _ in seen} == {"trio"}
    assert {thread for _, thread in seen} != {host_thread}
    assert s.stats()["map"].emitted == 100


async def test_host_loop_keeps_running_meanwhile() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async def slow_items() -> AsyncIterator[int]:
        for i in range(20):
            await anyio.sleep(0.01)
            yield i

    async def run() -> list[int]:
        return await (from_iterable(slow_items()) | buffered(2)).collect()

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        assert await run_in_trio(run) == list(range(20))
        tg.cancel_scope.cancel()
    assert ticks >= 5, "the host loop was blocked while trio ran"


async def test_time_based_pipeline_on_trio() -> None:
    async def ticking() -> AsyncIterator[int]:
        for i in range(10):
            await anyio.sleep(0.02)
            yield i

    async def run() -> list[int]:
        windows = await (from_iterable(ticking()) | tumbling_window(0.05)).collect()
        return [x for w in windows for x in w.items]

    assert await run_in_trio(run) == list(range(10))


async def test_error_comes_back_as_itself() -> None:
    def boom(n: int) -> int:
        raise KeyError(n)

    s = from_iterable(range(3)) | buffered(1) | map(boom)
    with pytest.raises(KeyError) as info:
        await run_in_trio(s.collect)
    assert any("boom" in note for note in info.value.__notes__)


async def test_cancelling_the_caller_cancels_trio_and_runs_cleanup() -> None:
    cleaned = threading.Event()
    started = threading.Event()

    async def forever() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                started.set()
                await anyio.sleep(0.01)
                yield i
                i += 1
        finally:
            cleaned.set()

    async def run() -> None:
        async with (from_iterable(forever()) | buffered(4)).stream() as items:
            async for _ in items:
                pass

    t0 = time.monotonic()
    with anyio.move_on_after(0.3) as scope:
        await run_in_trio(run)
    assert scope.cancelled_caught
    assert started.is_set()
    assert cleaned.is_set(), "the trio side did not unwind before run_in_trio returned"
    assert time.monotonic() - t0 < 5
    assert threading.active_count() >= 1


async def test_trio_options_and_arguments() -> None:
    import trio.testing

    async def sleeper(seconds: float, tag: str) -> tuple[str, float]:
        start = trio.current_time()
        await trio.sleep(seconds)
        return tag, trio.current_time() - start

    clock = trio.testing.MockClock(autojump_threshold=0)
    t0 = time.monotonic()
    tag, slept = await run_in_trio(sleeper, 3600.0, "x", trio_options={"clock": clock})
    assert tag == "x"
    assert slept == pytest.approx(3600.0)
    assert time.monotonic() - t0 < 5


async def test_bad_argument() -> None:
    with pytest.raises(TypeError, match="fn"):
        await run_in_trio(42)  # type: ignore[arg-type]
