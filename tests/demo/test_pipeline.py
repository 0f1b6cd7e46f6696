"""The reference pipeline from Python, on the virtual clock: balance, stop, backpressure."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anystream import Stream, Window
from anystream.demo import Demo, DemoSummary, WindowSummary, build_demo, build_pipeline
from anystream.demo.events import Event

pytestmark = pytest.mark.anyio


async def _run(
    demo: Demo, stop_at: float | None = None
) -> tuple[list[WindowSummary], DemoSummary, dict[str, Any]]:
    """Run ``demo`` (stopping gracefully at ``stop_at``); return windows, summary, at-stop."""
    windows: list[WindowSummary] = []
    at_stop: dict[str, Any] = {}
    demo.start()
    async with demo.stream.stream() as run, anyio.create_task_group() as tg:
        tg.start_soon(demo.watch, run.stats())

        async def stop_later(delay: float) -> None:
            await anyio.sleep(delay)
            at_stop["stats"] = run.stats().snapshot()
            at_stop["time"] = anyio.current_time()
            run.stop()

        if stop_at is not None:
            tg.start_soon(stop_later, stop_at)
        async for window in run:
            windows.append(demo.on_window(window, run.stats()))
        tg.cancel_scope.cancel()
    return windows, demo.summary(demo.stream.stats()), at_stop


async def test_end_of_input_balances() -> None:
    demo = build_demo(seed=1, limit=400, window=1.0)
    windows, summary, _ = await _run(demo)
    assert summary.read == 400
    assert summary.malformed == 50
    assert summary.balanced
    assert summary.read == summary.malformed + summary.filtered + summary.in_windows
    assert summary.enriched == summary.in_windows == sum(w.count for w in windows)
    assert windows[-1].partial
    assert not any(w.partial for w in windows[:-1])
    assert summary.windows == len(windows)
    for w in windows:
        assert sum(w.by_type.values()) == w.count == sum(w.by_region.values())


async def test_a_graceful_stop_balances_and_flushes_the_partial_window() -> None:
    stopped: list[int] = []
    demo = build_demo(seed=2, window=2.0, on_source_stop=stopped.append)
    windows, summary, _ = await _run(demo, stop_at=7.0)
    assert stopped == [summary.read]
    assert summary.balanced
    assert summary.in_flight == 0
    # Windows at 2, 4, 6 s, then the partial one that was open when the stop came.
    assert [w.partial for w in windows] == [False, False, False, True]
    assert windows[-1].start == pytest.approx(6.0)
    assert summary.elapsed >= 7.0


async def test_filter_threshold() -> None:
    demo = build_demo(seed=3, limit=300, min_severity="error")
    _, summary, _ = await _run(demo)
    assert summary.balanced
    # error is 1 of 5 severities in the feed's mix: most well-formed lines are filtered.
    assert summary.filtered > 3 * summary.in_windows


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_fast_feed_is_throttled_to_the_enrich_rate_with_flat_memory(
    concurrency: int,
) -> None:
    demo = build_demo(seed=4, rate=5000, concurrency=concurrency, window=1.0)
    _, summary, at_stop = await _run(demo, stop_at=10.0)
    assert summary.balanced
    # Counters when the stop came (positions: source, parse, where, buffered, enrich, ...).
    read, _, passed, _, enrich, *_ = at_stop["stats"]
    capacity = 10.0 * concurrency / 0.030  # lookups the enrich stage can finish in 10 s
    assert capacity * 0.9 <= enrich.emitted <= capacity + concurrency
    # Events past the filter: enriched, in the first buffer (50), in the lookups in
    # flight, plus one handed over and waiting for room. Nothing else piles up.
    assert passed.emitted <= enrich.emitted + 50 + 2 * concurrency + 1
    # So the feed was asked for a small fraction of the 50 000 lines it could have sent.
    assert read.received < 2 * (capacity + 50) + 100
    # Flat memory: no buffer ever held more than its size (plus one waiting sender), and
    # the first one did fill up: that is the backpressure.
    assert all(load <= 50 + 1 for load in summary.max_buffer_load)
    assert summary.max_buffer_load[0] >= 50


async def test_build_pipeline_returns_a_rerunnable_stream() -> None:
    stream = build_pipeline(seed=5, limit=120, window=0.5)
    assert isinstance(stream, Stream)
    first: list[Window[Event]] = await stream.collect()
    second: list[Window[Event]] = await stream.collect()
    assert [len(w) for w in first] == [len(w) for w in second]
    assert all(e.region is not None for w in first for e in w.items)
    stats = stream.stats()
    assert stats[0].received == 120


def test_bad_configuration_fails_at_build_time() -> None:
    with pytest.raises(ValueError, match="severity"):
        build_demo(min_severity="loud")
    with pytest.raises(ValueError, match="concurrency"):
        build_demo(concurrency=0)
    with pytest.raises(ValueError, match="buffer_size"):
        build_demo(buffer_size=-1)
