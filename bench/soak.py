"""Soak: the reference pipeline, endless and paced, for a long time; memory must stay flat.

An endless source paced at a fixed rate feeds ``buffered -> map_async(concurrency=16) ->
tumbling_window``. Every ``--sample`` seconds the resident set size (``/proc/self/statm``)
(raw, and again after ``malloc_trim``: see ``trimmed_rss_bytes``) and the ``tracemalloc``
snapshot are taken. At the end it prints the least-squares slope of RSS and of traced
memory after the warm-up (KiB per hour) and the allocation sites that
grew most between the first sample after warm-up and the last one.

    python -m bench.soak                                   # 60 min on asyncio
    python -m bench.soak --backend trio --minutes 3 --sample 15
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import math
import os
import sys
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from time import perf_counter
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

from anystream import buffered, from_iterable, map_async, tumbling_window

_PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = 0.01  # the source emits rate * TICK items per tick: pacing costs one sleep a tick
TARGET = 100.0  # KiB per hour after warm-up (issue 21)
MAX_BEHIND = 0.1  # seconds of backlog the paced source makes up (see paced)
BEHIND = [0.0]  # seconds of schedule given up because the machine was too busy


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: the trimmed figure is not available
        return None
    trim: Callable[[int], int] = libc.malloc_trim
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trimmed_rss_bytes() -> int:
    """RSS after glibc's ``malloc_trim(0)`` hands the heap's free pages back to the system.

    Raw RSS is a high-water mark: a burst of allocations (a backlog made up after the
    machine was busy, a ``tracemalloc`` snapshot of tens of thousands of traces) leaves
    free pages in the heap that stay resident, and the slope then follows the machine's
    load rather than what the program holds. After the trim, what stays resident is what
    is in use, plus the partly used pages of Python's own allocator, so a leak still
    shows and a one-off burst does not. Without glibc this is the raw RSS.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    return rss_bytes()


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, bytes) points, in KiB per hour."""
    return fit(points)[0]


def fit(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares line through (seconds, bytes): (slope, its standard error, residual sd).

    Slope and standard error in KiB per hour, the residuals' standard deviation in KiB.
    The standard error is what says whether a slope is "flat within the sampling noise":
    a slope within two standard errors of zero cannot be told from no growth at all.
    """
    n = len(points)
    if n < 2:
        return 0.0, 0.0, 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0, 0.0, 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    slope = cov / var
    residuals = [v - (mean_v + slope * (t - mean_t)) for t, v in points]
    rss = sum(r * r for r in residuals)
    sd = math.sqrt(rss / (n - 2)) if n > 2 else 0.0
    se = sd / math.sqrt(var) if n > 2 else 0.0
    return slope * 3600 / 1024, se * 3600 / 1024, sd / 1024


def verdict(points: list[tuple[float, float]], target: float = TARGET) -> str:
    """One line: the slope, its standard error and the noise, and what they mean."""
    slope, se, sd = fit(points)
    if abs(slope) <= 2 * se:
        meaning = "flat within the sampling noise (|slope| <= 2 standard errors)"
    elif slope < target:
        meaning = f"under the {target:.0f} KiB/hour target"
    else:
        meaning = f"GROWING: above the {target:.0f} KiB/hour target"
    return (
        f"{slope:+.0f} KiB/hour (standard error {se:.0f}, residual sd {sd:.0f} KiB, "
        f"{len(points)} samples): {meaning}"
    )


async def paced(rate: float) -> AsyncIterator[int]:
    """Emit ``rate`` items per second for ever, in bursts of ``rate * TICK`` per tick.

    Deadlines are absolute (start + k * TICK), so a slow tick is made up by the next ones
    rather than lowering the rate, but only up to ``MAX_BEHIND`` seconds: on a machine too
    busy for the rate, making up minutes of backlog would run the pipeline flat out in
    bursts, and its memory would follow the machine's load rather than the pipeline's
    own growth. Beyond that the schedule starts again from now; the seconds given up are
    counted in ``BEHIND`` and printed at the end.
    """
    per_tick = max(1, round(rate * TICK))
    start = anyio.current_time()
    i = 0
    tick = 0
    while True:
        for _ in range(per_tick):
            yield i
            i += 1
        tick += 1
        delay = start + tick * TICK - anyio.current_time()
        if delay < -MAX_BEHIND:
            BEHIND[0] += -delay
            start -= delay  # rebase: the next deadline is one tick from now
            delay = 0.0
        await anyio.sleep(max(0.0, delay))


async def work(item: int) -> int:
    await anyio.lowlevel.checkpoint()
    return item * 2


def start_baseline(tg: TaskGroup, rate: float) -> MemoryObjectReceiveStream[list[int]]:
    """The reference pipeline written by hand on anyio alone: the noise floor to compare to.

    The same paced source, a 256-item memory stream, 16 worker tasks calling ``work`` and
    one-second lists, with no anystream code at all (results are not kept in order,
    which only makes it cheaper). Its tasks run in ``tg``; the windows come out of the
    returned stream.
    """
    items_tx, items_rx = anyio.create_memory_object_stream[int](256)
    results_tx, results_rx = anyio.create_memory_object_stream[int](16)
    windows_tx, windows_rx = anyio.create_memory_object_stream[list[int]](1)

    async def produce() -> None:
        async for item in paced(rate):
            await items_tx.send(item)

    async def worker() -> None:
        async for item in items_rx:
            await results_tx.send(await work(item))

    async def windower() -> None:
        window: list[int] = []
        end = anyio.current_time() + 1.0
        while True:
            with anyio.move_on_after(max(0.0, end - anyio.current_time())):
                while True:
                    window.append(await results_rx.receive())
            await windows_tx.send(window)
            window = []
            end += 1.0

    tg.start_soon(produce)
    for _ in range(16):
        tg.start_soon(worker)
    tg.start_soon(windower)
    return windows_rx


async def soak(
    minutes: float, rate: float, sample: float, warmup: float, top: int, baseline: bool
) -> None:
    pipeline = (
        from_iterable(paced(rate))
        | buffered(256)
        | map_async(work, concurrency=16)
        | tumbling_window(1.0)
    )
    tracemalloc.start(1)  # one frame: sites are grouped by line, deeper is slow
    duration = minutes * 60
    start = perf_counter()
    next_sample = start + sample
    rss_points: list[tuple[float, float]] = []
    trimmed_points: list[tuple[float, float]] = []
    traced_points: list[tuple[float, float]] = []
    first: tracemalloc.Snapshot | None = None
    last: tracemalloc.Snapshot | None = None
    items = windows = 0
    async with AsyncExitStack() as stack:
        run: AsyncIterator[Any]
        if baseline:
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)  # runs first: the endless tasks stop
            run = start_baseline(tg, rate)
        else:
            run = await stack.enter_async_context(pipeline.stream())
        async for window in run:
            windows += 1
            items += len(window)
            now = perf_counter()
            if now < next_sample:
                continue
            next_sample += sample
            gc.collect()
            elapsed = now - start
            rss = rss_bytes()
            trimmed = trimmed_rss_bytes()
            traced, _ = tracemalloc.get_traced_memory()
            print(
                f"t={elapsed:7.0f}s items={items:>10} rate={items / elapsed:8.0f}/s "
                f"rss={rss / 1024:9.0f} KiB trimmed={trimmed / 1024:9.0f} KiB "
                f"traced={traced / 1024:8.0f} KiB",
                flush=True,
            )
            if elapsed >= warmup:
                rss_points.append((elapsed, rss))
                trimmed_points.append((elapsed, trimmed))
                traced_points.append((elapsed, traced))
                # Only two snapshots are kept (the first after warm-up and the latest):
                # the soak's own bookkeeping must not grow either.
                snap = tracemalloc.take_snapshot().filter_traces(
                    (tracemalloc.Filter(False, tracemalloc.__file__),)
                )
                if first is None:
                    first = snap
                last = snap
                del snap
            if elapsed >= duration:
                break
    what = "baseline (anyio only)" if baseline else "anystream"
    print(f"{what}: windows={windows} items={items} samples after warm-up={len(rss_points)}")
    print(f"source behind schedule and given up: {BEHIND[0]:.1f} s (machine too busy)")
    print(f"RSS slope after warm-up ({warmup:.0f} s): {verdict(rss_points)}")
    print(f"trimmed RSS slope after warm-up ({warmup:.0f} s): {verdict(trimmed_points)}")
    print(f"traced slope after warm-up ({warmup:.0f} s): {verdict(traced_points)}")
    half = len(rss_points) // 2
    if half >= 3:
        print(f"RSS slope, second half only: {verdict(rss_points[half:])}")
        print(f"trimmed RSS slope, second half only: {verdict(trimmed_points[half:])}")
        print(f"traced slope, second half only: {verdict(traced_points[half:])}")
    if first is not None and last is not None and last is not first:
        diff = last.compare_to(first, "lineno")
        print(f"top {top} growing allocation sites (first -> last sample after warm-up):")
        for stat in diff[:top]:
            size = stat.size_diff / 1024
            print(f"  {size:+8.1f} KiB {stat.count_diff:+6d} blocks  {stat.traceback}")
        ours = [st for st in diff if "anystream" in str(st.traceback) and st.size_diff > 0]
        print(f"growing sites in anystream code: {len(ours)}")
        for stat in ours[:top]:
            size = stat.size_diff / 1024
            print(f"  {size:+8.1f} KiB {stat.count_diff:+6d} blocks  {stat.traceback}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=2000.0, help="items per second")
    p.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds left out of the fit (default: a sixth of the run, at least 2 samples)",
    )
    p.add_argument("--top", type=int, default=10)
    p.add_argument(
        "--baseline",
        action="store_true",
        help="run the same workload on anyio alone (no anystream): the noise floor",
    )
    a = p.parse_args(argv)
    warmup = a.warmup if a.warmup is not None else max(2 * a.sample, a.minutes * 60 / 6)
    print(
        f"soak: backend={a.backend} minutes={a.minutes} rate={a.rate}/s sample={a.sample}s "
        f"warmup={warmup:.0f}s{' baseline' if a.baseline else ''}"
    )
    print(f"python {sys.version.split()[0]}", flush=True)
    anyio.run(soak, a.minutes, a.rate, a.sample, warmup, a.top, a.baseline, backend=a.backend)


if __name__ == "__main__":
    main()
