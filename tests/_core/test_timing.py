"""Timed runs: per-stage wait / compute / blocked and end-to-end latency, on a virtual clock."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator

import anyio
import pytest

from anystream import buffered, from_iterable, map, map_async, take, tumbling_window

pytestmark = pytest.mark.anyio


async def _slow(x: int) -> int:
    await anyio.sleep(0.1)  # 100 ms of "compute"
    return x


async def _ticks(n: int, every: float) -> AsyncIterator[int]:
    for i in range(n):
        await anyio.sleep(every)
        yield i


async def test_buffer_wait_is_measured_from_entry_not_from_dequeue() -> None:
    """A fast source behind a slow stage: items wait in the buffer, and the report says so.

    Stamping the entry after the dequeue (as the reference package does) would report
    zero wait here.
    """
    s = from_iterable(range(20)) | buffered(10) | map_async(_slow, concurrency=1) | buffered(0)
    async with s.stream(timing=True, clock=anyio.current_time) as run:
        out = [x async for x in run]
        report = run.latency()
    assert out == list(range(20))
    stage = report["map_async(_slow)"]
    assert stage.count == 20
    # Items queue behind a 100 ms stage: the later ones wait ~1 s in the buffer.
    assert stage.wait.max >= 0.9
    assert stage.wait.p50 > 0.3
    assert 0.099 <= stage.compute.p50 <= 0.101
    # End to end: the source is held back by the full buffer, so the worst item is one
    # pulled at ~0 s behind eleven others (buffer + stage) and delivered at ~1.2 s.
    assert report.end_to_end.max == pytest.approx(1.2)


async def test_blocked_time_is_charged_to_the_stage_behind_a_slow_consumer() -> None:
    s = from_iterable(_ticks(10, 0.01)) | map(lambda x: x) | buffered(0)
    async with s.stream(timing=True, clock=anyio.current_time) as run:
        async for _ in run:
            await anyio.sleep(0.5)  # the consumer is slow
        report = run.latency()
    source_stage = report.stages[0]
    assert source_stage.count == 10
    assert source_stage.blocked.max >= 0.4


async def test_timing_with_windows_and_take_keeps_working() -> None:
    s = from_iterable(_ticks(50, 0.1)) | tumbling_window(1.0) | take(3)
    async with s.stream(timing=True, clock=anyio.current_time) as run:
        windows = [w async for w in run]
        report = run.latency()
    assert len(windows) == 3
    assert report.end_to_end.count == 3
    assert [stage.name for stage in report.stages][-1].endswith("(consumer)")


async def test_collect_of_a_timed_run() -> None:
    s = from_iterable(range(5)) | buffered(2) | map(str)
    async with s.stream(timing=True) as run:
        assert [x async for x in run] == ["0", "1", "2", "3", "4"]
        assert run.latency().end_to_end.count == 5


async def test_latency_of_an_untimed_run_is_a_clear_error() -> None:
    async with from_iterable([1]).stream() as run:
        with pytest.raises(RuntimeError, match="timing=True"):
            run.latency()


def _boom(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x * 2


async def test_a_timed_run_runs_its_kernels_in_the_reference_interpreter() -> None:
    # A timed run wraps every hand-off (the fused loops' fast path cannot apply), so its
    # per-item operators run in kernels.interpret rather than in generated code: the
    # same items and counters, and a traceback through kernels.py, not a fused loop.
    s = from_iterable(range(6)) | map(_boom) | buffered(2) | map(lambda x: x + 1)
    async with s.stream(timing=True, clock=anyio.current_time) as run:
        with pytest.raises(ValueError, match="three") as caught:
            _ = [x async for x in run]
    files = {frame.f_code.co_filename for frame, _ in traceback.walk_tb(caught.tb)}
    assert any(f.endswith("kernels.py") for f in files)
    assert not any(f.startswith("<anystream fused") for f in files)

    plain = from_iterable(range(6)) | map(lambda x: x * 2) | buffered(2) | take(4)
    async with plain.stream(timing=True, clock=anyio.current_time) as run:
        timed = [x async for x in run]
        timed_stats = run.stats()
    assert timed == await plain.collect() == [0, 2, 4, 6]
    assert timed_stats["map"].emitted == plain.stats()["map"].emitted
