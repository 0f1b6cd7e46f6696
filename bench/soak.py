"""Soak: the reference pipeline, endless and paced, for a long time; memory must stay flat.

An endless source paced at a fixed rate feeds ``buffered -> map_async(concurrency=16) ->
tumbling_window``. Every ``--sample`` seconds the resident set size (``/proc/self/statm``)
and the ``tracemalloc`` snapshot are taken. At the end it prints the least-squares slope of
RSS and of traced memory after the warm-up (KiB per hour) and the allocation sites that
grew most between the first sample after warm-up and the last one.

    python -m bench.soak                                   # 60 min on asyncio
    python -m bench.soak --backend trio --minutes 3 --sample 15
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tracemalloc
from collections.abc import AsyncIterator
from time import perf_counter

import anyio
import anyio.lowlevel

from anystream import buffered, from_iterable, map_async, tumbling_window

_PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = 0.01  # the source emits rate * TICK items per tick: pacing costs one sleep a tick


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, bytes) points, in KiB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600 / 1024


async def paced(rate: float) -> AsyncIterator[int]:
    """Emit ``rate`` items per second for ever, in bursts of ``rate * TICK`` per tick.

    Deadlines are absolute (start + k * TICK), so a slow tick is made up by the next ones
    rather than lowering the rate.
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
        await anyio.sleep(max(0.0, delay))


async def work(item: int) -> int:
    await anyio.lowlevel.checkpoint()
    return item * 2


async def soak(minutes: float, rate: float, sample: float, warmup: float, top: int) -> None:
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
    traced_points: list[tuple[float, float]] = []
    first: tracemalloc.Snapshot | None = None
    last: tracemalloc.Snapshot | None = None
    items = windows = 0
    async with pipeline.stream() as run:
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
            traced, _ = tracemalloc.get_traced_memory()
            print(
                f"t={elapsed:7.0f}s items={items:>10} rate={items / elapsed:8.0f}/s "
                f"rss={rss / 1024:9.0f} KiB traced={traced / 1024:8.0f} KiB",
                flush=True,
            )
            if elapsed >= warmup:
                rss_points.append((elapsed, rss))
                traced_points.append((elapsed, traced))
                snap = tracemalloc.take_snapshot().filter_traces(
                    (tracemalloc.Filter(False, tracemalloc.__file__),)
                )
                if first is None:
                    first = snap
                last = snap
            if elapsed >= duration:
                break
    print(f"windows={windows} items={items} samples after warm-up={len(rss_points)}")
    print(f"RSS slope after warm-up: {slope_per_hour(rss_points):+.0f} KiB/hour")
    print(f"traced slope after warm-up: {slope_per_hour(traced_points):+.0f} KiB/hour")
    if first is not None and last is not None and last is not first:
        print(f"top {top} growing allocation sites (first -> last sample after warm-up):")
        for stat in last.compare_to(first, "lineno")[:top]:
            size = stat.size_diff / 1024
            print(f"  {size:+8.1f} KiB {stat.count_diff:+6d} blocks  {stat.traceback}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=2000.0, help="items per second")
    p.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=None, help="seconds (default 2 samples)")
    p.add_argument("--top", type=int, default=10)
    a = p.parse_args(argv)
    warmup = a.warmup if a.warmup is not None else 2 * a.sample
    print(f"soak: backend={a.backend} minutes={a.minutes} rate={a.rate}/s sample={a.sample}s")
    print(f"python {sys.version.split()[0]}", flush=True)
    anyio.run(soak, a.minutes, a.rate, a.sample, warmup, a.top, backend=a.backend)


if __name__ == "__main__":
    main()
