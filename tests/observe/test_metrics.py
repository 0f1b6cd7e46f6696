"""Tests for anystream.observe.metrics (snapshots, rates, buffer fill) and .monitor.

Every async test runs on asyncio and trio on a virtual clock, so "100 items per second"
is exact and a 10 s run takes milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anystream import buffered, from_iterable, map, parse, take, tumbling_window, where
from anystream.observe.metrics import MetricsSnapshot, OperatorMetrics, format_rate, take_snapshot
from anystream.observe.monitor import Monitor, monitor

pytestmark = pytest.mark.anyio


async def ticking(n: int, period: float) -> AsyncIterator[int]:
    """0, 1, ..., n-1, one every ``period`` seconds."""
    for i in range(n):
        await anyio.sleep(period)
        yield i


async def test_snapshot_after_a_run_has_counts_kinds_and_no_rates() -> None:
    s = from_iterable(["1", "x", "3", "4"]) | parse(int) | buffered(5) | where(lambda n: n > 3)
    assert await s.collect() == [4]
    snap = take_snapshot(s)
    assert [op.kind for op in snap] == ["source", "operator", "buffer", "operator"]
    assert snap[0].emitted == 4
    assert snap["parse"].received == 4
    assert snap["parse"].emitted == 3
    assert snap["parse"].dropped == {"malformed": 1}
    assert snap["parse"].errors == 1
    assert snap["where"].dropped == {"filtered": 2}
    assert snap["where"].errors == 0, "filtering is not an error"
    assert snap.errors == 1
    buf = snap["buffered"]
    assert (buf.buffer_fill, buf.buffer_capacity) == (0, 5)
    assert [b.name for b in snap.buffers] == ["buffered(5)"]
    assert all(op.in_rate is None and op.out_rate is None for op in snap)
    assert snap.interval is None
    # Blocked time is not counted by the core yet: unavailable, not zero.
    assert all(op.blocked_seconds is None for op in snap)
    assert "n/a" in snap.format()


async def test_snapshot_of_bare_run_stats_and_bad_sources() -> None:
    s = from_iterable(range(3)) | buffered(2)
    await s.collect()
    snap = take_snapshot(s.stats())
    # Without the step list, a buffer cannot be recognised as one.
    assert [op.kind for op in snap] == ["source", "operator"]
    with pytest.raises(TypeError, match="expected a Run"):
        take_snapshot(42)  # type: ignore[arg-type]
    other = from_iterable(range(3)) | map(str) | map(int)
    await other.collect()
    with pytest.raises(ValueError, match="another pipeline"):
        take_snapshot(other, snap)


async def test_rates_between_snapshots() -> None:
    s = from_iterable(ticking(1000, 0.01)) | where(lambda n: n % 2 == 0)
    async with s.stream() as run:
        start = anyio.current_time()
        first = take_snapshot(run)
        seen = 0
        async for _ in run:
            seen += 1
            if seen == 250:
                break
        second = take_snapshot(run, first)
    assert second.interval == pytest.approx(anyio.current_time() - start)
    assert second.interval == pytest.approx(5.0, abs=0.02)
    assert second[0].out_rate == pytest.approx(100.0, rel=0.01)
    assert second["where"].in_rate == pytest.approx(100.0, rel=0.01)
    assert second["where"].out_rate == pytest.approx(50.0, rel=0.01)


async def test_monitor_samples_every_interval_with_rates() -> None:
    snaps: list[MetricsSnapshot] = []
    s = from_iterable(ticking(450, 0.01)) | buffered(10) | map(lambda n: n * 2)
    async with s.stream() as run, monitor(run, interval=1.0, on_snapshot=snaps.append) as mon:
        start = anyio.current_time()
        out = [x async for x in run]
    assert out == [n * 2 for n in range(450)]
    assert isinstance(mon, Monitor)
    periodic = [snap for snap in snaps if not snap.final]
    assert len(periodic) == 4  # at t = 1, 2, 3, 4; the run ends at t = 4.5
    assert [round(snap.time - start, 6) for snap in periodic] == [1.0, 2.0, 3.0, 4.0]
    for snap in periodic:
        assert snap.interval == pytest.approx(1.0)
        assert snap["map"].out_rate == pytest.approx(100.0, abs=2.0)
    final = snaps[-1]
    assert final.final
    assert final.error is None
    assert final["map"].emitted == 450
    assert mon.latest is final


async def test_buffer_fill_shows_a_slow_consumer() -> None:
    snaps: list[MetricsSnapshot] = []
    s = from_iterable(range(1000)) | buffered(10)
    async with s.stream() as run, monitor(run, interval=0.5, on_snapshot=snaps.append):
        async for _ in run:
            await anyio.sleep(0.1)  # 10 items/s: the buffer fills and stays full
            if anyio.current_time() > 3:
                break
    fills = [snap["buffered"].buffer_fill for snap in snaps if not snap.final]
    assert fills, "no samples"
    # The buffer holds at most 10; with a slow consumer it sits at or next to full, and
    # the source waits outside with the next item.
    assert all(fill is not None and 9 <= fill <= 10 for fill in fills), fills
    assert snaps[-2]["buffered"].buffer_waiting == 1
    assert snaps[-2]["buffered"].buffer_ratio == pytest.approx(fills[-1] / 10)
    assert snaps[-2]["buffered"].out_rate == pytest.approx(10.0, abs=2.1)


async def test_async_callback_is_awaited() -> None:
    seen: list[float] = []

    async def record(snap: MetricsSnapshot) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(snap.time)

    s = from_iterable(ticking(25, 0.1)) | buffered(1)
    async with s.stream() as run, monitor(run, interval=1.0, on_snapshot=record):
        await run._collect()
    assert len(seen) == 3  # t = 1, 2 and the final one at t = 2.5


async def test_subscribers_iterate_until_close() -> None:
    s = from_iterable(ticking(250, 0.01)) | buffered(4)
    received: list[MetricsSnapshot] = []
    extra: list[MetricsSnapshot] = []

    async def drain(run: Any, mon: Monitor) -> None:
        async for _ in run:
            pass
        mon.close()
        mon.close()  # idempotent

    async def read_extra(stream: Any) -> None:
        async with stream:
            async for snap in stream:
                extra.append(snap)

    async with (
        s.stream() as run,
        monitor(run, interval=1.0) as snapshots,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(read_extra, snapshots.subscribe())
        tg.start_soon(drain, run, snapshots)
        async for snap in snapshots:
            received.append(snap)
    assert [snap.final for snap in received] == [False, False, True]
    assert received[-1][0].emitted == 250
    assert [snap.time for snap in extra] == [snap.time for snap in received]


async def test_slow_subscriber_keeps_the_newest_snapshots() -> None:
    s = from_iterable(ticking(95, 0.1))
    async with s.stream() as run, monitor(run, interval=1.0, buffer=2) as mon:
        stream = mon.subscribe()
        async for _ in run:
            pass
    # 9 samples + final were published into room for 2: only the newest two are left.
    with stream:
        left = [snap async for snap in stream]
    assert len(left) == 2
    assert left[-1].final
    assert left[0][0].emitted == 90


async def test_error_in_the_block_is_recorded_and_propagates() -> None:
    snaps: list[MetricsSnapshot] = []

    def boom(n: int) -> int:
        if n == 50:
            raise RuntimeError("bad item")
        return n

    s = from_iterable(ticking(100, 0.1)) | buffered(3) | map(boom)
    with pytest.raises(RuntimeError, match="bad item") as info:
        async with s.stream() as run, monitor(run, interval=1.0, on_snapshot=snaps.append):
            async for _ in run:
                pass
    assert any("boom" in note for note in getattr(info.value, "__notes__", [])), info.value
    assert snaps[-1].final
    assert snaps[-1].error == "RuntimeError: bad item"


async def test_raising_callback_ends_the_block_with_that_error() -> None:
    def fail(snap: MetricsSnapshot) -> None:
        raise ValueError("display broke")

    closed = False

    async def source() -> AsyncIterator[int]:
        nonlocal closed
        try:
            for i in range(10_000):
                await anyio.sleep(0.01)
                yield i
        finally:
            closed = True

    s = from_iterable(source()) | buffered(2)
    with pytest.raises(ValueError, match="display broke"):
        async with s.stream() as run, monitor(run, interval=0.5, on_snapshot=fail):
            async for _ in run:
                pass
    assert closed
    assert anyio.current_time() < 1


async def test_cancelled_block_still_delivers_a_final_snapshot() -> None:
    snaps: list[MetricsSnapshot] = []
    s = from_iterable(ticking(10_000, 0.01)) | buffered(2)
    with anyio.move_on_after(2.5):
        async with s.stream() as run, monitor(run, interval=1.0, on_snapshot=snaps.append):
            async for _ in run:
                pass
    assert [snap.final for snap in snaps] == [False, False, True]
    assert snaps[-1].error is None  # a cancellation is not an error


async def test_monitor_with_a_window_stage() -> None:
    snaps: list[MetricsSnapshot] = []
    s = from_iterable(ticking(100, 0.05)) | tumbling_window(1.0) | take(3)
    async with s.stream() as run, monitor(run, interval=1.0, on_snapshot=snaps.append):
        windows = [w async for w in run]
    assert [len(w) for w in windows] == [20, 20, 20] or sum(len(w) for w in windows) == 60
    assert snaps[-1]["tumbling_window"].kind == "stage"
    assert snaps[-1]["tumbling_window"].buffer_fill is None


async def test_bad_arguments() -> None:
    s = from_iterable(range(3))
    with pytest.raises(ValueError, match="interval must be > 0"):
        monitor(s, interval=0)
    with pytest.raises(TypeError, match="interval must be a number"):
        monitor(s, interval="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_snapshot"):
        monitor(s, on_snapshot=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="buffer"):
        monitor(s, buffer=0)
    with pytest.raises(TypeError, match="run must be a Run"):
        monitor([1, 2])  # type: ignore[arg-type]
    mon = monitor(s)
    with pytest.raises(RuntimeError, match="inside its 'async with'"):
        aiter(mon)
    await s.collect()
    async with mon:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with mon:
            pass


def test_formatting() -> None:
    assert format_rate(None) == "-"
    assert format_rate(12.34) == "12.3"
    assert format_rate(1234) == "1.2k"
    assert format_rate(123_456) == "123k"
    assert format_rate(2_500_000) == "2.5M"
    op = OperatorMetrics(0, "buffered(4)", "buffer", 10, 7, buffer_fill=3, buffer_capacity=4)
    snap = MetricsSnapshot(time=1.0, operators=(op,), error="RuntimeError: x")
    text = str(snap)
    assert "3/4" in text
    assert "ended with RuntimeError: x" in text
    assert snap.rows()[0]["buffer_fill"] == 3
    assert op.buffer_ratio == 0.75
    with pytest.raises(KeyError):
        snap["nope"]


async def test_timing_adds_latency_and_blocked_time() -> None:
    from anystream.observe.latency import PipelineTiming

    s = from_iterable(range(10)) | map(str) | buffered(2) | map(int)
    await s.collect()
    timing = PipelineTiming(["map(str)", "map(int)"])
    for _ in range(4):
        timing.record(0, wait=0.001, compute=0.002, blocked=0.5)
        timing.record(1, wait=0.25, compute=0.001, blocked=0.0)
    snap = take_snapshot(s, timing=timing)
    assert snap.latency is not None
    assert snap.latency["map(str)"].count == 4
    assert snap[1].blocked_seconds == pytest.approx(2.0, rel=0.02)
    assert snap[3].blocked_seconds == 0.0
    assert snap[0].blocked_seconds is None  # the source is not a timed stage
    assert snap[2].blocked_seconds is None
    assert "end-to-end" in snap.format()
    with pytest.raises(TypeError, match="timing"):
        monitor(s, timing="t")  # type: ignore[arg-type]
    snaps: list[MetricsSnapshot] = []
    async with monitor(s, timing=timing, on_snapshot=snaps.append):
        pass
    assert snaps[-1].latency is not None


def test_the_monitor_is_still_importable_from_metrics() -> None:
    # Its home was metrics.py; the docs of earlier releases import it from there.
    from anystream.observe import metrics

    assert metrics.monitor is monitor
    assert metrics.Monitor is Monitor
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        metrics.nothing  # noqa: B018
