"""Benchmark E: an endless fast source into a slow consumer; memory must stay flat.

The reference pipeline (parse -> where -> enrich, with ``buffered(50)`` hops) is fed by
an endless generator of raw lines; the consumer takes 5 ms per item. Backpressure must
hold the source back, so:

- resident memory (``/proc/self/statm``) grows by less than 5 MiB after a short warm-up
  (the first seconds import, compile the fused loops and fill the buffers);
- items in flight (pulled from the source, not yet consumed) never exceed the
  documented bound: the sum of buffer sizes, plus one per stage (each operator and the
  consumer may hold one item in hand).

In-flight is sampled by the consumer itself after every item, from the run's live
counters (``run.stats()``): the source's ``emitted`` minus the items consumed.

    python -m bench.memory                  # 30 s per backend
    python -m bench.memory --seconds 3      # a quick check
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from time import perf_counter

import anyio

from anystream import Stream, buffered, from_iterable, map, parse, where
from bench.workload import enrich, is_relevant, make_lines, parse_line

BUFFERS = (50, 50, 50)
CONSUMER_DELAY = 0.005
WARMUP = 2.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def endless_lines() -> Iterator[str]:
    """The benchmark's lines, cycled for ever (a fixed pool: no garbage from generation)."""
    return itertools.cycle(make_lines(10_000, seed=1))


def pipeline() -> Stream[object]:
    a, b, c = BUFFERS
    return (
        from_iterable(endless_lines())
        | buffered(a)
        | parse(parse_line)
        | where(is_relevant)
        | buffered(b)
        | map(enrich)
        | buffered(c)
    )


def in_flight_bound(stream: Stream[object]) -> int:
    """The documented bound (ops/flow.py): buffer sizes + one item in hand per stage.

    Stages here: the source, each operator that is not a buffer, and the consumer.
    """
    operators = len(stream.steps) - len(BUFFERS)
    return sum(BUFFERS) + 1 + operators + 1


@dataclass
class MemoryResult:
    backend: str
    seconds: float
    consumed: int
    rss_start: int
    rss_peak: int
    worst_in_flight: int
    bound: int

    @property
    def growth(self) -> int:
        return self.rss_peak - self.rss_start


async def measure(seconds: float, backend: str) -> MemoryResult:
    s = pipeline()
    bound = in_flight_bound(s)
    consumed = 0
    worst = 0
    rss_start = rss_peak = 0
    warm = False
    start = perf_counter()
    async with s.stream() as run:
        source = run.stats()[0]
        async for _ in run:
            # In flight: pulled from the source, neither consumed nor dropped (parse and
            # where drop on purpose, and count it).
            consumed += 1
            await anyio.sleep(CONSUMER_DELAY)
            dropped = sum(run.stats().dropped.values())
            in_flight = source.emitted - consumed - dropped
            worst = max(worst, in_flight)
            now = perf_counter() - start
            if not warm and now >= min(WARMUP, seconds / 3):
                gc.collect()
                rss_start = rss_peak = rss_bytes()
                warm = True
            elif warm and consumed % 20 == 0:
                rss_peak = max(rss_peak, rss_bytes())
            if now >= seconds:
                break
    gc.collect()
    rss_peak = max(rss_peak, rss_bytes())
    return MemoryResult(backend, seconds, consumed, rss_start, rss_peak, worst, bound)


def run(seconds: float, backends: tuple[str, ...] = ("asyncio", "trio")) -> list[MemoryResult]:
    return [anyio.run(measure, seconds, backend, backend=backend) for backend in backends]


def format_results(results: list[MemoryResult]) -> str:
    rows = [
        f"{'backend':<8} {'seconds':>7} {'consumed':>9} {'RSS growth':>11} "
        f"{'in flight (worst)':>18} {'bound':>6}"
    ]
    rows.append("-" * len(rows[0]))
    for r in results:
        rows.append(
            f"{r.backend:<8} {r.seconds:>7g} {r.consumed:>9,} {r.growth / 2**20:>8.2f} MiB"
            f" {r.worst_in_flight:>18} {r.bound:>6}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="per backend (default 30)")
    parser.add_argument("--backend", action="append", choices=("asyncio", "trio"))
    args = parser.parse_args(argv)
    results = run(args.seconds, tuple(args.backend or ("asyncio", "trio")))
    print(format_results(results))


if __name__ == "__main__":
    main()
